"""Corrupted survey files through `kedro run --pipelines ingest`: a stop naming the file and
column, or a counted rejection, never a crash deep inside numpy or astropy.

Each case writes the session mock's LAMOST-style FITS and Gaia-style Parquet files, with one
defect from issue 14's table, into a throw-away copy of the project's configuration.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from milkyway_mass.cut_flow import EmptySelectionError
from milkyway_mass.datasets import FitsTableDataset
from milkyway_mass.input_schemas import InputSchemaError
from tests.conftest import project_copy


def _run_ingest(tmp_path, lamost, gaia):
    """Write the two files and run the ingest pipeline on them; return the run's catalog."""
    project = project_copy(tmp_path)
    data = tmp_path / "data"
    files = {"lamost_kgiants_file": str(data / "lamost.fits"), "gaia_dr3_file": str(data / "gaia.parquet")}
    env = project / "conf" / "bad_input"
    env.mkdir(parents=True)
    (env / "globals.yml").write_text(yaml.safe_dump({"data_dir": str(data), **files}))
    catalog = {
        "lamost_kgiants": {"type": "milkyway_mass.datasets.FitsTableDataset", "filepath": files["lamost_kgiants_file"]},
        "gaia_dr3": {"type": "pandas.ParquetDataset", "filepath": files["gaia_dr3_file"]},
    }
    (env / "catalog.yml").write_text(yaml.safe_dump(catalog))
    data.mkdir()
    FitsTableDataset(filepath=files["lamost_kgiants_file"]).save(lamost)
    gaia.to_parquet(files["gaia_dr3_file"])
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="bad_input") as session:
        session.run(pipeline_names=["ingest"])
        return session.load_context().catalog, files


@pytest.fixture
def survey(mock_observed):
    lamost, gaia, _ = mock_observed
    return lamost.copy(), gaia.copy()


def test_gaia_ids_stored_as_floats_stop_naming_file_and_column(tmp_path, survey):
    lamost, gaia = survey
    gaia["source_id"] = gaia["source_id"].astype(float)
    with pytest.raises(InputSchemaError, match=r"gaia\.parquet: column 'source_id' must be an integer column"):
        _run_ingest(tmp_path, lamost, gaia)


def test_distances_in_parsec_read_as_kpc_stop_naming_the_setting(tmp_path, survey):
    lamost, gaia = survey
    lamost[["dist", "dist_err"]] *= 1000.0
    with pytest.raises(InputSchemaError, match=r"lamost\.fits: column 'dist'.*set ingest\.lamost\.distance_unit to pc"):
        _run_ingest(tmp_path, lamost, gaia)


def test_an_empty_survey_table_stops_naming_the_cut(tmp_path, survey):
    lamost, gaia = survey
    with pytest.raises(EmptySelectionError, match=r"stars_6d .*is empty: no star was left after the cut 'rows read"):
        _run_ingest(tmp_path, lamost.iloc[:0], gaia)


def test_impossible_proper_motions_and_unreadable_positions_are_counted(tmp_path, survey):
    lamost, gaia = survey
    rng = np.random.default_rng(1)
    sentinel, huge, bad_dec = (rng.choice(len(gaia), 40, replace=False) for _ in range(3))
    gaia.loc[sentinel, "pmra"] = -9999.0
    gaia.loc[huge, "pmdec"] = 5.0e4
    gaia.loc[bad_dec, "dec"] = 95.0
    lamost.loc[rng.choice(len(lamost), 40, replace=False), "ra"] = np.nan
    catalog, _ = _run_ingest(tmp_path, lamost, gaia)
    stars, cut_flow = catalog.load("stars_6d"), catalog.load("cut_flow_ingest")
    assert cut_flow.n_stars.iloc[0] == len(lamost)
    assert cut_flow.n_stars.iloc[0] - cut_flow.n_removed.sum() == len(stars) > 0
    assert stars.pmra.abs().max() < 1.0e4 and stars.pmdec.abs().max() < 1.0e4
    assert stars.ra.notna().all()
    notes = " | ".join(cut_flow.note.fillna(""))
    assert "pmdec outside [-10000.0, 10000.0]" in notes
    assert "no proper motion" in notes and "no sky position" in notes
