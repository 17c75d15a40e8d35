"""Bring your own survey: a single-table catalogue in another survey's layout (distances in pc,
no [Fe/H], no Gaia source_id, no pm correlation, a membership probability) goes through
`analysis_a` in an environment made only of conf files (conf/template_survey, with the fast
samplers of the `ci` environment), end to end."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.startup import bootstrap_project

from milkyway_mass.session import MilkyWaySession
from tests.conftest import PROJECT, project_copy

#: The `ci` environment's files that only make the samplers short (no clash with the template's files).
FAST = ("parameters_escape_velocity.yml", "parameters_halo_mass.yml", "parameters_kinematics.yml")


def _other_survey_layout(lamost: pd.DataFrame, gaia: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """The mock's stars as one table: distances in pc, a membership probability, no [Fe/H], Teff,
    ids or pm correlation (the template's column names)."""
    table = lamost.merge(gaia.drop(columns=["ra", "dec"]), left_on="gaia_source_id", right_on="source_id")
    table = table.drop_duplicates("source_id")
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "ra": table["ra"],
            "dec": table["dec"],
            "dist": table["dist"] * 1000.0,
            "dist_err": table["dist_err"] * 1000.0,
            "rv": table["rv"],
            "rv_err": table["rv_err"],
            "pmra": table["pmra"],
            "pmdec": table["pmdec"],
            "pmra_error": table["pmra_error"],
            "pmdec_error": table["pmdec_error"],
            "logg": table["logg"],
            "prob": rng.uniform(0.3, 1.0, len(table)),
        }
    )


@pytest.fixture(scope="module")
def own_survey_run(mock_observed, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("own_survey")
    project = project_copy(tmp)
    env = project / "conf" / "bhb_survey"
    shutil.copytree(PROJECT / "conf" / "template_survey", env)
    for name in FAST:
        shutil.copy(PROJECT / "conf" / "ci" / name, env / name)
    shutil.copytree(PROJECT / "data" / "01_raw" / "published", project / "data" / "01_raw" / "published")
    survey_file = tmp / "survey" / "bhb.csv"
    survey_file.parent.mkdir()
    lamost, gaia, _ = mock_observed
    table = _other_survey_layout(lamost, gaia)
    table.to_csv(survey_file, index=False)
    globals_ = yaml.safe_load((env / "globals.yml").read_text()) | {
        "data_dir": str(tmp / "results"),
        "survey_file": str(survey_file),
    }
    (env / "globals.yml").write_text(yaml.safe_dump(globals_))
    bootstrap_project(project)
    with MilkyWaySession.create(project_path=project, env="bhb_survey") as session:
        session.run()  # the environment's default pipeline: analysis_a
        yield table, session.load_context().catalog


def test_the_catalogue_runs_through_analysis_a(own_survey_run):
    table, catalog = own_survey_run
    cut_flow = catalog.load("cut_flow")
    ingest = cut_flow[cut_flow.pipeline == "ingest"]
    assert ingest.n_stars.iloc[0] == len(table)
    assert ingest.n_stars.iloc[0] - ingest.n_removed.sum() == ingest.n_stars.iloc[-1] > 0
    cuts = cut_flow.cut.tolist()
    assert "BHB stars (membership_prob, logg)" in cuts and "paired by row (one catalogue)" in cuts
    notes = " | ".join(cut_flow.note.fillna(""))
    assert "pm correlation missing, taken as 0" in notes and "no [Fe/H]" not in notes
    assert any(c.startswith("halo stars: Toomre") for c in cuts)
    summary = catalog.load("halo_mass_summary")
    mass = summary["variants"]["nominal"]["estimates"]["log10_M200"]["median"]
    assert 10.5 < mass < 13.5


def test_the_analysis_b_grid_and_the_mock_did_not_run(own_survey_run):
    _, catalog = own_survey_run
    assert not catalog.exists("halo_mass_b_results")
    assert not catalog.exists("mock_truth")
