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
    truths = study.truths_of(params)
    mock, fitted = truths["mock"], truths["fitted model"]
    assert mock["M_enclosed_50kpc_msun"] < mock["M_enclosed_100kpc_msun"] < mock["M200_msun"] * 1.2
    # the fitted model's Miyamoto-Nagai disks hold less mass inside a sphere than the mock's Plummer stand-ins
    assert fitted["M200_msun"] == pytest.approx(mock["M200_msun"], rel=1e-3)
    for r, low, high in ((20, 5e9, 2e10), (50, 2e9, 1e10), (100, 1e9, 5e9)):
        assert low < mock[f"M_enclosed_{r}kpc_msun"] - fitted[f"M_enclosed_{r}kpc_msun"] < high
    task = {"params": params, "seed": 11, "constraint_set": "gc", "draws": 10, "shared": SHARED}
    task["staeckel_samples"] = 6
    task["sampler"] = {"n_walkers": 24, "n_steps": 8, "progress": False, "step_factors": {}}
    row = study.fit_one(task)
    assert row["seed"] == 11 and np.isfinite(row["M_enclosed_100kpc_msun_median"])
    assert 1.0 <= row["staeckel_ess"] <= 6.0 and np.isfinite(row["M_enclosed_50kpc_msun_staeckel_median"])
    far = row | {
        "M_enclosed_50kpc_msun_median": mock["M_enclosed_50kpc_msun"] + 3 * row["M_enclosed_50kpc_msun_err_minus"]
    }
    fits = pd.DataFrame([row, far])
    np.testing.assert_allclose(study.pulls(fits, "M_enclosed_50kpc_msun", mock["M_enclosed_50kpc_msun"])[1], 3.0)
    text = study.summarise(fits, truths)
    assert row["mock_df"] == "double_power_law" and row["distance_errors"] == "0.1 mag"
    assert "| double_power_law | gc | spherical | M_enclosed_50kpc_msun | 2 |" in text
    assert "Staeckel (re-weighted)" in text
    # a group fitted without re-weighting (no effective sample size) gets no Staeckel rows
    mixed = study.summarise(pd.concat([fits, fits.assign(mock_df="osipkov_merritt", staeckel_ess=np.nan)]), truths)
    assert "| osipkov_merritt | gc | spherical |" in mixed and "| osipkov_merritt | gc | Staeckel" not in mixed
    assert "median pull (fitted model)" in text
