"""Constraint terms: Gaussian / split-normal values, vectorisation, bad inputs, make_terms and goodness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from milkyway_mass.galaxy.constraints.terms import (
    CONSTRAINTS,
    ConstraintData,
    gaussian_loglike,
    make_terms,
    rotation_curve_loglike,
    term_goodness,
    vertical_force_loglike,
)
from milkyway_mass.galaxy.globular_clusters.draws import ClusterDraws
from milkyway_mass.galaxy.globular_clusters.likelihood import DF_PARAMETERS
from milkyway_mass.galaxy.model import HALO_FAMILIES, MassModel
from milkyway_mass.galaxy.potentials.baryons import FixedBaryons
from milkyway_mass.galaxy.potentials.composite import circular_speed, dphi_dz
from tests.conftest import load_params
from tests.galaxy.noise_free import R0, R_KZ, R_RC, R_VESC, TRUTH_NFW, noise_free_data

OBS = np.array([226.8, 230.8, 231.2, 229.9])
ERR = np.array([1.9, 1.4, 1.4, 1.4])


def test_gaussian_matches_scipy_for_each_walker():
    model = OBS + np.array([[0.0, 1.0, -2.0, 0.5], [3.0, -1.0, 0.0, 0.0], [10.0, 10.0, 10.0, 10.0]])
    expected = [norm.logpdf(OBS, m, ERR).sum() for m in model]
    np.testing.assert_allclose(gaussian_loglike(model, OBS, ERR), expected, rtol=1e-12)
    np.testing.assert_allclose(vertical_force_loglike(model, OBS, ERR), expected, rtol=1e-12)
    assert np.ndim(gaussian_loglike(model[0], OBS, ERR)) == 0


def test_split_normal_uses_the_error_on_the_side_of_the_model():
    up, down = ERR, 2.0 * ERR
    above, below = OBS + 1.0, OBS - 1.0
    norm_term = -np.log(0.5 * (up + down)) - 0.5 * np.log(2 * np.pi)
    assert rotation_curve_loglike(above, OBS, up, down) == pytest.approx(np.sum(-0.5 / up**2 + norm_term))
    assert rotation_curve_loglike(below, OBS, up, down) == pytest.approx(np.sum(-0.5 / down**2 + norm_term))
    model = np.vstack([above, below, OBS])
    np.testing.assert_allclose(
        rotation_curve_loglike(model, OBS, ERR, ERR), gaussian_loglike(model, OBS, ERR), rtol=1e-12
    )
    total = quad(
        lambda v: np.exp(rotation_curve_loglike([v], OBS[:1], [1.0], [3.0])), OBS[0] - 40, OBS[0] + 40, points=[OBS[0]]
    )[0]
    assert total == pytest.approx(1.0, rel=1e-8)


def test_fractional_systematic_adds_in_quadrature():
    model = OBS + 2.0
    expected = gaussian_loglike(model, OBS, np.hypot(ERR, 0.03 * OBS))
    assert rotation_curve_loglike(model, OBS, ERR, ERR, frac_systematic=0.03) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="frac_systematic"):
        rotation_curve_loglike(model, OBS, ERR, ERR, frac_systematic=-0.1)


def test_non_finite_model_rows_get_minus_infinity():
    model = np.vstack([OBS, OBS]).astype(float)
    model[1, 2] = np.nan
    out = rotation_curve_loglike(model, OBS, ERR, ERR)
    assert np.isfinite(out[0]) and out[1] == -np.inf
    assert gaussian_loglike(np.full(4, np.inf), OBS, ERR) == -np.inf


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: gaussian_loglike(np.zeros((2, 3)), OBS, ERR), "4 data points on its last axis"),
        (lambda: gaussian_loglike(OBS, OBS, ERR[:3]), "length 4"),
        (lambda: gaussian_loglike(OBS, OBS, np.array([1.0, 0.0, 1.0, 1.0])), "positive.*\\[1\\]"),
        (lambda: vertical_force_loglike(OBS, np.array([1.0, np.nan, 1.0, 1.0]), ERR), "kz_obs has non-finite"),
        (lambda: rotation_curve_loglike(OBS, OBS, ERR, -ERR), "err_down_kms must be positive"),
        (lambda: rotation_curve_loglike(OBS, OBS.reshape(2, 2), ERR, ERR), "vc_obs_kms must be a 1-D array"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_terms_match_direct_evaluation():
    nfw_model = MassModel(
        HALO_FAMILIES["nfw"], FixedBaryons.from_config(load_params("base")["halo_mass"]["model"]["baryons"])
    )
    data = noise_free_data(nfw_model, TRUTH_NFW)
    theta = np.array([[11.8, 9.0], [12.1, 14.0]])
    galaxy = nfw_model.build(theta)
    names = [c for c in CONSTRAINTS if c != "globular_clusters"]
    terms = {t.name: t for t in make_terms(names, data, boundary_r200=2.0)}
    assert list(terms) == names
    vc = circular_speed(galaxy.components, R_RC)
    expected = np.sum(
        -0.5 * ((vc - data.rotation_curve["vc_kms"].to_numpy()) / 2.0) ** 2 - np.log(2.0 * np.sqrt(2 * np.pi)), axis=-1
    )
    np.testing.assert_allclose(terms["rotation_curve"].log_likelihood(galaxy), expected, rtol=1e-12)
    kz_obs, kz_err = data.vertical_force["kz_kms2_kpc"].to_numpy(), data.vertical_force["kz_err_kms2_kpc"].to_numpy()
    kz = dphi_dz(galaxy.components, R_KZ, 1.1)
    np.testing.assert_allclose(
        terms["vertical_force"].chi2(galaxy), np.sum(((kz - kz_obs) / kz_err) ** 2, axis=-1), rtol=1e-12
    )
    truth = nfw_model.build(TRUTH_NFW[None, :])
    assert terms["rotation_curve"].chi2(truth)[0] == pytest.approx(0.0, abs=1e-16)
    good = term_goodness(terms["vc_R0"], truth)
    assert good["chi2"] == pytest.approx(0.0, abs=1e-16) and good["n_points"] == 1
    assert term_goodness(terms["vesc_curve"], truth)["n_points"] == len(R_VESC)
    with pytest.raises(ValueError, match="non-empty subset"):
        make_terms(["rotation_curve", "proper_motions"], data, boundary_r200=2.0)
    two_heights = data.vertical_force.assign(z_kpc=np.where(np.arange(len(R_KZ)) % 2, 1.1, 1.5))
    with pytest.raises(ValueError, match="single height"):
        make_terms(
            ["vertical_force"],
            ConstraintData(data.vesc_curve, R0, 230.0, 10.0, data.rotation_curve, two_heights),
            boundary_r200=2.0,
        )


def test_globular_cluster_term_needs_its_draws_and_reports_the_cluster_count():
    model = MassModel(
        HALO_FAMILIES["nfw"],
        FixedBaryons.from_config(load_params("base")["halo_mass"]["model"]["baryons"]),
        tracer_parameter_names=DF_PARAMETERS,
    )
    data = noise_free_data(MassModel(model.halo_family, model.baryons), TRUTH_NFW)
    with pytest.raises(ValueError, match="globular_clusters"):
        make_terms(["globular_clusters"], data, boundary_r200=2.0)
    rng = np.random.default_rng(0)
    r, v = rng.uniform(5, 50, (3, 4)), rng.uniform(80, 200, (3, 4))
    draws = ClusterDraws(("A", "B", "C"), r, v**2, 0.5 * r * v, 0.2 * r * v, np.zeros((3, 4)))
    with_gcs = ConstraintData(data.vesc_curve, R0, 230.0, 10.0, globular_clusters=draws, gc_rotation_scale=0.5)
    (term,) = make_terms(["globular_clusters"], with_gcs, boundary_r200=2.0)
    assert term.name == "globular_clusters" and term.rotation_scale == 0.5
    df = [1.0, 5.0, 1.0, 7.5, 1.0, 1.0, 1.0, 1.0, 0.0]
    good = term_goodness(term, model.build(np.array([[*TRUTH_NFW, *df]])))
    assert good["n_points"] == 3 and np.isfinite(good["log_likelihood"])
