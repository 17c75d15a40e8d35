"""The globular-cluster catalogue: the Sagittarius and no-velocity exclusions, counted, and
errors that name the cluster and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy.globular_clusters.catalogue import COLUMNS, SAGITTARIUS, read_table, select_clusters
from tests.conftest import PROJECT

CATALOGUE = PROJECT.parent / "shared" / "data" / "gc_vasiliev_baumgardt2021" / "gc_mean_params_edr3_VB2021.txt"


def read_catalogue(path=CATALOGUE) -> pd.DataFrame:
    """The table as the catalog entry ``gc_vasiliev_baumgardt2021`` loads it."""
    return read_table(path)


def _table(names, **overrides) -> pd.DataFrame:
    n = len(names)
    values = {c: np.ones(n) for c in COLUMNS[1:]} | {"pmcorr": np.zeros(n), "Name": names}
    return pd.DataFrame(values | {k: np.asarray(v, dtype=float) for k, v in overrides.items()})[list(COLUMNS)]


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_published_catalogue_keeps_155_clusters():
    kept, flow = select_clusters(read_catalogue())
    assert flow == {"input": 170, "sagittarius": 6, "no_line_of_sight_velocity": 9, "kept": 155}
    assert not kept["Name"].str.startswith(("NGC_6715", "Terzan_7", "Terzan_8", "Arp_2", "Pal_12", "Whiting_1")).any()
    assert np.isfinite(kept["vlos"]).all()


def test_sagittarius_names_match_with_and_without_an_alias_only():
    names = ["NGC_6715_M_54", "Terzan_7", "Pal_12", "Pal_1", "Terzan_70", "Arp_2", "NGC_104_47Tuc"]
    kept, flow = select_clusters(_table(names))
    assert kept["Name"].tolist() == ["Pal_1", "Terzan_70", "NGC_104_47Tuc"]
    assert flow["sagittarius"] == 4 and len(SAGITTARIUS) == 6


def test_clusters_without_a_velocity_are_counted_and_other_gaps_stop_the_run():
    kept, flow = select_clusters(_table(["A", "B", "C"], vlos=[1.0, np.nan, 2.0]))
    assert kept["Name"].tolist() == ["A", "C"] and flow["no_line_of_sight_velocity"] == 1
    with pytest.raises(ValueError, match="'pmra_e'.*cluster B"):
        select_clusters(_table(["A", "B"], pmra_e=[0.1, 0.0]))
    with pytest.raises(ValueError, match="'pmcorr'.*cluster A"):
        select_clusters(_table(["A", "B"], pmcorr=[1.0, 0.0]))
    with pytest.raises(ValueError, match=r"column 'plx_e' is missing"):
        select_clusters(_table(["A"]).drop(columns="plx_e"))
    with pytest.raises(ValueError, match="column 'dist' must be numeric.*dtype .*'far'"):
        select_clusters(_table(["A"]).assign(dist=["far"]))


def test_a_repeated_cluster_name_stops_the_run_naming_it():
    with pytest.raises(ValueError, match="column 'Name' must hold unique values: e.g. 'A'"):
        select_clusters(_table(["A", "B", "A"]))
