"""The mock globular-cluster recovery study (notebooks/gc_mock_recovery.py) at a toy size."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT, load_params

STUDY = Path(__file__).resolve().parents[2] / "notebooks" / "gc_mock_recovery.py"
SHARED = PROJECT.parent / "shared" / "data"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("gc_mock_recovery", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data not available")
def test_one_short_fit_reports_pulls_against_the_truth(study):
    params = load_params("ci")
    params["mock_survey"] = params["mock_survey"] | {
        "globular_clusters": params["mock_survey"]["globular_clusters"] | {"n_clusters": 30}
    }
    truth = study.truth_of(params)
    assert truth["M_enclosed_50kpc_msun"] < truth["M_enclosed_100kpc_msun"] < truth["M200_msun"] * 1.2
    task = {"params": params, "seed": 11, "constraint_set": "gc", "draws": 10, "truth": truth, "shared": SHARED}
    task["staeckel_samples"] = 6
    task["sampler"] = {"n_walkers": 24, "n_steps": 8, "progress": False, "step_factors": {}}
    row = study.fit_one(task)
    assert row["seed"] == 11 and np.isfinite(row["M_enclosed_100kpc_msun_pull"])
    assert 1.0 <= row["staeckel_ess"] <= 6.0 and np.isfinite(row["M_enclosed_50kpc_msun_staeckel_median"])
    assert row["M_enclosed_50kpc_msun_truth"] == truth["M_enclosed_50kpc_msun"]
    text = study.summarise(pd.DataFrame([row, row | {"M_enclosed_50kpc_msun_pull": 3.0}]))
    assert "| gc | spherical | M_enclosed_50kpc_msun | 2 |" in text and "Staeckel (re-weighted)" in text
