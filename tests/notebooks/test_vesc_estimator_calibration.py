"""The noise-free calibration study of the tail fit (notebooks/vesc_estimator_calibration.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from milkyway_mass.mock_galaxy import TruthGalaxy

STUDY = Path(__file__).resolve().parents[2] / "notebooks" / "vesc_estimator_calibration.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("vesc_estimator_calibration", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def galaxy(shared_params):
    t = shared_params["mock_survey"]["truth"]
    return TruthGalaxy(t["bulge"], t["disks"], t["M200_msun"], t["c200"], shared_params["cosmology"],
                       shared_params["galaxy_frame"], t["boundary_r200"])


def test_power_law_df_speeds_follow_their_analytic_distribution(study, galaxy):
    """At one radius, f ∝ (E_b − E)^n gives p(v) ∝ v² (v_esc² − v²)^n on [v_min, v_esc]."""
    n, v_min, r = 2.0, 300.0, 10.0
    f = study.energy_df("power_2.0", galaxy)
    _, v = study.sample_bin(galaxy, f, r, r * (1 + 1e-9), v_min, 4000, 0.3, np.random.default_rng(1))
    ve = float(galaxy.vesc(r)[0])
    assert v.min() >= v_min and v.max() < ve

    def pdf(x):
        return x**2 * (ve**2 - x**2) ** n

    norm = integrate.quad(pdf, v_min, ve)[0]
    result = stats.kstest(v, lambda x: np.array([integrate.quad(pdf, v_min, min(xi, ve))[0] for xi in np.atleast_1d(x)]) / norm)
    assert result.pvalue > 0.01


def test_study_writes_a_per_fit_table_and_summary(study, tmp_path):
    out = study.main(["--seeds", "1", "--variants", "power_2.0", "--bins", "7", "--walkers", "12",
                      "--burn", "50", "--keep", "50", "--out", str(tmp_path)])
    table = (out / "fits.csv").read_text().splitlines()
    assert table[0].startswith("variant,seed,bin,r0_kpc,v_max_kms,vesc_true_kms")
    assert len(table) == 2
    assert "power_2.0" in (out / "summary.md").read_text()
