"""Analysis B fit machinery: halo parametrisations, priors, terms, posterior, fit and derived quantities."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy import model as cf
from milkyway_mass.galaxy.potentials.baryons import (
    FixedBaryons,
    McMillanBaryons,
    ScfSettings,
    TableGrid,
)
from milkyway_mass.galaxy.potentials.halos import MSUN_KPC3_IN_GEV_CM3, NFWHalo
from milkyway_mass.galaxy.constraints.vesc_curve import split_normal_curve
from milkyway_mass.galaxy.potentials.composite import (
    Cosmology,
    MassModelSpec,
    circular_speed,
    dphi_dz,
    enclosed_mass,
    r200_from_m200,
)

from tests.conftest import load_params

R0 = 8.122
TRUTH_NFW = np.array([np.log10(9e11), 12.0])
R_RC = np.linspace(5.3, 24.8, 20)
R_KZ = np.linspace(4.6, 8.5, 12)
R_VESC = np.array([5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 18.0, 22.0, 26.0, 30.0, 35.0, 43.0])
NFW_BOX = {"log10_M200": [11.0, 12.5], "c200": [1.0, 30.0]}
ZHAO_BOX = {"log10_rho0_msun_kpc3": [4.0, 10.0], "r_s_kpc": [1.0, 100.0], "alpha": [0.5, 3.0], "beta": [2.5, 6.0], "gamma": [0.0, 1.9]}
OPTIMIZER = {"maxfev": 2000, "xatol": 1e-5, "fatol": 1e-5, "adaptive": True, "restarts": 1}
SAMPLER = {"n_walkers": 12, "n_steps": 80, "burn_fraction": 0.5, "init_scale": 1e-3, "progress": False, "store_thin": 2}


@pytest.fixture(scope="module")
def params():
    return load_params("base")


@pytest.fixture(scope="module")
def fixed(params):
    return FixedBaryons.from_config(params["halo_mass"]["model"]["baryons"])


@pytest.fixture(scope="module")
def nfw_model(fixed):
    return cf.CombinedModel(cf.HALO_FAMILIES_B["nfw"], fixed)


def _data(model: cf.CombinedModel, theta) -> cf.ConstraintData:
    """Noise-free data of ``model`` at ``theta``: v_esc curve (split normal, 3 %), rotation
    curve (2 km/s), K_z at 1.1 kpc (8 %), vc(R0) +- 10 km/s."""
    galaxy = model.build(np.atleast_2d(theta))
    vesc = galaxy.escape_speed(R_VESC, 0.0, 2.0)[0]
    curve = split_normal_curve(list(range(1, len(R_VESC) + 1)), R_VESC, vesc, 0.03 * vesc, 0.03 * vesc)
    vc = galaxy.circular_speed(R_RC)[0]
    rc = pd.DataFrame({"R_kpc": R_RC, "vc_kms": vc, "vc_err_up_kms": 2.0, "vc_err_down_kms": 2.0})
    kz = np.broadcast_to(dphi_dz(galaxy.components, R_KZ, 1.1), (1, R_KZ.size))[0]
    kz_table = pd.DataFrame({"R_kpc": R_KZ, "z_kpc": 1.1, "kz_kms2_kpc": kz, "kz_err_kms2_kpc": 0.08 * kz})
    return cf.ConstraintData(curve, rc, kz_table, R0, float(galaxy.circular_speed(np.array([R0]))[0, 0]), 10.0)


def _posterior(model, box, data, constraints=cf.CONSTRAINTS, baryon_priors=None):
    prior = cf.build_prior(model.halo_family, box, model.baryons.parameter_names, baryon_priors or {})
    return cf.CombinedPosterior(model, prior, cf.make_terms(constraints, data, boundary_r200=2.0))


def test_nfw_parametrisation_matches_analysis_a(params, nfw_model):
    """Same M200, c200 and baryons: Analysis B's model equals Analysis A's (vc, v_esc), so
    ``derived_samples`` summarises Analysis A too (masses, r200, speeds at R0 from mass_model)."""
    theta = np.array([[11.9, 10.0], [12.2, 15.0]])
    spec_a = MassModelSpec.from_config(params["halo_mass"]["model"], params["cosmology"])
    a, b = spec_a.build(theta), nfw_model.build(theta)
    R = np.array([4.0, 8.122, 20.0, 45.0])
    np.testing.assert_allclose(b.circular_speed(R), a.circular_speed(R), rtol=1e-10)
    np.testing.assert_allclose(b.escape_speed(R, 0.0, 2.0), a.escape_speed(R, 0.0, 2.0), rtol=1e-10)
    db = cf.derived_samples(nfw_model, theta, R0_kpc=R0, boundary_r200=2.0, chunk=1)
    m200 = 10 ** theta[:, 0]
    r200 = r200_from_m200(m200, spec_a.cosmology)
    m_baryon = enclosed_mass(spec_a.baryons, r200)
    np.testing.assert_allclose(db["M200_msun"], m200, rtol=1e-8)
    np.testing.assert_allclose(db["log10_M200"], theta[:, 0], rtol=1e-12)
    np.testing.assert_allclose(db["r200_kpc"], r200, rtol=1e-8)
    np.testing.assert_allclose(db["c200"], theta[:, 1], rtol=1e-8)
    np.testing.assert_allclose(db["M_baryon_r200_msun"], m_baryon, rtol=1e-8)
    np.testing.assert_allclose(db["M_total_r200_msun"], m200 + m_baryon, rtol=1e-8)
    total_baryons = sum(c.mass_msun for c in spec_a.baryons)
    assert np.all((0.95 * total_baryons < m_baryon) & (m_baryon < total_baryons))
    np.testing.assert_allclose(db["vesc_R0_kms"], a.escape_speed(np.array([R0]), 0.0, 2.0)[:, 0], rtol=1e-10)
    np.testing.assert_allclose(db["vc_R0_kms"], a.circular_speed(np.array([R0]))[:, 0], rtol=1e-10)
    halo = NFWHalo.from_m200_c200(10 ** theta[:, :1], theta[:, 1:])
    np.testing.assert_allclose(db["rho_dm_R0_gev_cm3"], halo.density(R0)[:, 0] * MSUN_KPC3_IN_GEV_CM3, rtol=1e-12)


def test_zhao_nfw_case_and_r_minus2(fixed):
    zhao = cf.CombinedModel(cf.HALO_FAMILIES_B["zhao"], fixed)
    einasto = cf.CombinedModel(cf.HALO_FAMILIES_B["einasto"], fixed)
    halo = zhao.components([[7.0, 16.0, 1.0, 3.0, 1.0]])["halo"]
    nfw = NFWHalo(1e7, 16.0)
    np.testing.assert_allclose(halo.circular_speed(R_RC)[0], nfw.circular_speed(R_RC), rtol=1e-6)
    np.testing.assert_allclose(cf.r_minus2(halo), 16.0)
    steep = zhao.components([[7.0, 10.0, 2.0, 4.0, 0.5]])["halo"]
    x = cf.r_minus2(steep)[0, 0] / 10.0
    slope = -0.5 - 3.5 * x**2 / (1 + x**2)          # d ln rho / d ln r of the Zhao profile
    assert slope == pytest.approx(-2.0)
    assert cf.r_minus2(einasto.components([[6.0, 12.0, 5.0]])["halo"]) == pytest.approx(12.0)


def test_prior_box_gaussians_and_bad_configs():
    mc_priors = {n: {"mean": 1.0, "sigma": 0.5, "bounds": [0.5, 8.0]} for n in McMillanBaryons.parameter_names}
    mc_priors["rho0_bulge_msun_pc3"] = {"mean": 100.0, "sigma": None, "bounds": [10.0, 300.0]}
    prior = cf.build_prior(cf.HALO_FAMILIES_B["nfw"], NFW_BOX, McMillanBaryons.parameter_names, mc_priors)
    assert prior.names[:2] == ("log10_M200", "c200") and len(prior.names) == 7
    theta = np.array([[12.0, 10.0, 50.0, 2.0, 2.0, 1.0, 1.0], [12.0, 10.0, 50.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(prior.log_prob(theta), [-0.5 * 2 * 4.0, 0.0])   # two parameters 2 sigma off
    assert prior.log_prob(theta + [[1.0, 0, 0, 0, 0, 0, 0]])[0] == -np.inf        # log10_M200 = 13 outside
    with pytest.raises(ValueError, match=r"missing \['c200'\], unexpected \['c'\]"):
        cf.build_prior(cf.HALO_FAMILIES_B["nfw"], {"log10_M200": [11, 12], "c": [1, 2]}, (), {})
    with pytest.raises(ValueError, match="prior of c200 needs low < high"):
        cf.build_prior(cf.HALO_FAMILIES_B["nfw"], {"log10_M200": [11, 12], "c200": [5, 5]}, (), {})
    with pytest.raises(ValueError, match="beta must be > 2"):
        cf.build_prior(cf.HALO_FAMILIES_B["zhao"], ZHAO_BOX | {"beta": [2.0, 5.0]}, (), {})
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 2\)"):
        cf.build_prior(cf.HALO_FAMILIES_B["zhao"], ZHAO_BOX | {"gamma": [0.0, 2.5]}, (), {})
    with pytest.raises(ValueError, match="baryon prior of rd_thick_kpc missing"):
        cf.build_prior(cf.HALO_FAMILIES_B["nfw"], NFW_BOX, McMillanBaryons.parameter_names, {k: v for k, v in mc_priors.items() if k != "rd_thick_kpc"})


def test_terms_match_direct_evaluation(nfw_model):
    data = _data(nfw_model, TRUTH_NFW)
    theta = np.array([[11.8, 9.0], [12.1, 14.0]])
    galaxy = nfw_model.build(theta)
    terms = {t.name: t for t in cf.make_terms(cf.CONSTRAINTS, data, boundary_r200=2.0)}
    assert list(terms) == list(cf.CONSTRAINTS)
    vc = circular_speed(galaxy.components, R_RC)
    expected = np.sum(-0.5 * ((vc - data.rotation_curve["vc_kms"].to_numpy()) / 2.0) ** 2 - np.log(2.0 * np.sqrt(2 * np.pi)), axis=-1)
    np.testing.assert_allclose(terms["rotation_curve"].log_likelihood(galaxy), expected, rtol=1e-12)
    kz_obs, kz_err = data.vertical_force["kz_kms2_kpc"].to_numpy(), data.vertical_force["kz_err_kms2_kpc"].to_numpy()
    kz = dphi_dz(galaxy.components, R_KZ, 1.1)
    np.testing.assert_allclose(terms["vertical_force"].chi2(galaxy), np.sum(((kz - kz_obs) / kz_err) ** 2, axis=-1), rtol=1e-12)
    truth = nfw_model.build(TRUTH_NFW[None, :])
    assert terms["rotation_curve"].chi2(truth)[0] == pytest.approx(0.0, abs=1e-16)
    good = cf.term_goodness(terms["vc_R0"], truth)
    assert good["chi2"] == pytest.approx(0.0, abs=1e-16) and good["n_points"] == 1
    assert cf.term_goodness(terms["vesc_curve"], truth)["n_points"] == len(R_VESC)
    with pytest.raises(ValueError, match="non-empty subset"):
        cf.make_terms(["rotation_curve", "proper_motions"], data, boundary_r200=2.0)
    two_heights = data.vertical_force.assign(z_kpc=np.where(np.arange(len(R_KZ)) % 2, 1.1, 1.5))
    with pytest.raises(ValueError, match="single height"):
        cf.make_terms(["vertical_force"], cf.ConstraintData(data.vesc_curve, data.rotation_curve, two_heights, R0, 230.0, 10.0), boundary_r200=2.0)


def test_posterior_is_vectorised_and_rejects_invalid_halos(fixed):
    einasto = cf.CombinedModel(cf.HALO_FAMILIES_B["einasto"], fixed)
    data = _data(einasto, [6.4, 15.0, 5.0])
    box = {"log10_rho0_msun_kpc3": [0.0, 9.0], "r_s_kpc": [1.0, 100.0], "n": [1.0, 10.0]}
    post = _posterior(einasto, box, data)
    theta = np.array([[6.4, 15.0, 5.0], [6.0, 20.0, 4.0], [0.5, 5.0, 3.0], [6.4, 150.0, 5.0]])
    lp = post(theta)
    rowwise = np.array([post(t[None, :])[0] for t in theta])
    np.testing.assert_allclose(lp, rowwise, rtol=1e-12)
    assert np.isfinite(lp[:2]).all() and lp[0] > lp[1]
    assert lp[2] == -np.inf   # rho0 = 10^0.5 Msun/kpc^3 never reaches 200 rho_crit: no r200
    assert lp[3] == -np.inf   # outside the prior box
    terms = post.log_likelihood_terms(theta[:3])
    assert set(terms) == set(cf.CONSTRAINTS) and np.isinf(terms["rotation_curve"][2])


def test_fit_recovers_noise_free_truth_and_is_seeded(nfw_model):
    data = _data(nfw_model, TRUTH_NFW)
    post = _posterior(nfw_model, NFW_BOX, data)
    best = cf.maximise(post, np.array([12.0, 8.0]), OPTIMIZER, "nfw test")
    np.testing.assert_allclose(best["x"], TRUTH_NFW, atol=2e-3)
    assert best["log_posterior"] > best["start_log_posterior"]
    out = cf.run_fit(post, np.array([12.0, 8.0]), OPTIMIZER, SAMPLER, seed=5)
    assert out["chain"].shape == (20, 12, 2) and out["n_burn"] == 40 and out["store_thin"] == 2
    assert out["diagnostics"]["n_steps_kept"] == 40
    assert np.all(np.abs(np.median(out["chain"].reshape(-1, 2), axis=0) - TRUTH_NFW) < [0.02, 0.5])
    again = cf.run_fit(post, np.array([12.0, 8.0]), OPTIMIZER, SAMPLER, seed=5)
    np.testing.assert_array_equal(out["chain"], again["chain"])
    with pytest.raises(ValueError, match="zero posterior"):
        cf.maximise(post, np.array([13.0, 8.0]), OPTIMIZER, "nfw test")
    with pytest.raises(ValueError, match="burn_fraction"):
        cf.run_fit(post, np.array([12.0, 8.0]), OPTIMIZER, SAMPLER | {"burn_fraction": 1.0}, seed=5)


def test_initial_ball_stays_in_the_box(nfw_model):
    post = _posterior(nfw_model, NFW_BOX, _data(nfw_model, TRUTH_NFW))
    ball = cf.initial_ball(np.array([12.5, 1.0]), post, 50, 0.05, np.random.default_rng(1))
    assert ball.shape == (50, 2) and np.isfinite(post(ball)).all()
    assert (ball[:, 0] <= 12.5).all() and (ball[:, 1] >= 1.0).all() and np.ptp(ball[:, 0]) > 0


def test_grid_and_seeds():
    sets = {"vesc": ["vesc_curve"], "all": list(cf.CONSTRAINTS)}
    grid = cf.fit_grid(
        {"families": ["nfw", "zhao"], "baryons": ["fixed"], "constraint_sets": ["vesc", "all"]}, sets,
        [{"family": "nfw", "baryons": "mcmillan17", "constraint_set": "all"}, {"family": "nfw", "baryons": "fixed", "constraint_set": "all"}],
    )
    assert [f.name for f in grid] == ["nfw.fixed.vesc", "nfw.fixed.all", "zhao.fixed.vesc", "zhao.fixed.all", "nfw.mcmillan17.all"]
    assert grid[1].constraints == tuple(cf.CONSTRAINTS)
    for bad, message in (({"families": ["burkert"]}, "unknown halo family"), ({"baryons": ["hot_gas"]}, "unknown baryon model"),
                         ({"constraint_sets": ["gc"]}, "unknown constraint set")):
        with pytest.raises(ValueError, match=message):
            cf.fit_grid({"families": ["nfw"], "baryons": ["fixed"], "constraint_sets": ["vesc"]} | bad, sets)
    with pytest.raises(ValueError, match="no fit"):
        cf.fit_grid({}, sets)
    assert cf.fit_seed(1, "nfw.fixed.vesc") == cf.fit_seed(1, "nfw.fixed.vesc") != cf.fit_seed(1, "nfw.fixed.all")


def test_mcmillan_baryons_in_the_combined_model():
    """Coarse tables (fast); K_z at the tabulated height, total baryon mass inside r200."""
    baryons = McMillanBaryons(scf=ScfSettings(10, 10, 20.525), grid=TableGrid(n_R=41, n_rd=6)).build_tables()
    model = cf.CombinedModel(cf.HALO_FAMILIES_B["nfw"], baryons)
    best = [98.4, 896.0, 2.5, 183.0, 3.02]
    theta = np.array([[12.0, 10.0, *best], [11.9, 12.0, *best[:2], 3.0, *best[3:]]])
    parts = model.components(theta)
    assert set(parts) == {"bulge", "thin_disk", "thick_disk", "gas", "halo"}
    vc = cf.component_vc(model, theta, R_RC)
    np.testing.assert_allclose(vc["total"] ** 2, sum(np.sign(v) * v**2 for k, v in vc.items() if k != "total"), rtol=1e-10)
    assert 200 < vc["total"][0, 5] < 260
    kz = cf.component_kz(model, theta, R_KZ, 1.1)
    assert kz["total"].shape == (2, R_KZ.size) and (kz["total"] > 0).all()
    mass = model.baryon_mass_within(theta, np.array([200.0, 210.0]))
    expected = sum(np.broadcast_to(c.mass_msun, (2, 1))[:, 0] for k, c in parts.items() if k != "halo")
    np.testing.assert_allclose(mass, expected)
    assert 4e10 < mass[0] < 1e11 and mass[1] != mass[0]
    with pytest.raises(ValueError, match="tabulated only at"):
        model.build(theta).components[1].dphi_dz(R_KZ, 1.5)


def test_build_baryons_errors(params):
    fixed = params["halo_mass"]["model"]["baryons"]
    assert isinstance(cf.build_baryons("fixed", fixed, {}), FixedBaryons)
    with pytest.raises(ValueError, match="unknown baryon model 'cold_gas'"):
        cf.build_baryons("cold_gas", fixed, {})
    with pytest.raises(ValueError, match=r"baryon_models.mcmillan17.model"):
        cf.build_baryons("mcmillan17", fixed, {"mcmillan17": {"priors": {}}})


def test_estimate():
    e = cf.estimate(np.arange(101.0), [16, 84])
    assert e == {"median": 50.0, "lo": 16.0, "hi": 84.0, "err_minus": 34.0, "err_plus": 34.0}


def test_cosmology_enters_r200(fixed):
    a = cf.CombinedModel(cf.HALO_FAMILIES_B["nfw"], fixed, Cosmology(70.0, 1.0))
    b = cf.CombinedModel(cf.HALO_FAMILIES_B["nfw"], fixed, Cosmology(70.0, 0.3))
    ra = cf.derived_samples(a, TRUTH_NFW[None, :], R0_kpc=R0, boundary_r200=2.0)["r200_kpc"]
    rb = cf.derived_samples(b, TRUTH_NFW[None, :], R0_kpc=R0, boundary_r200=2.0)["r200_kpc"]
    assert rb[0] == pytest.approx(ra[0] / 0.3 ** (1 / 3), rel=1e-10)


def test_oblate_families_extend_the_spherical_ones(fixed, nfw_model):
    oblate = cf.CombinedModel(cf.HALO_FAMILIES_B["nfw_oblate"], fixed)
    assert oblate.parameter_names[:3] == ("log10_M200", "c200", "q")
    theta = np.array([[*TRUTH_NFW, 1.0], [*TRUTH_NFW, 0.6]])
    spherical = cf.derived_samples(nfw_model, theta[:1, :2], R0_kpc=R0, boundary_r200=2.0)
    flat = cf.derived_samples(oblate, theta, R0_kpc=R0, boundary_r200=2.0)
    for key in ("M200_msun", "r200_kpc", "c200", "vesc_R0_kms", "vc_R0_kms", "rho_dm_R0_gev_cm3"):
        assert flat[key][0] == pytest.approx(spherical[key][0], rel=1e-9), key
    assert flat["M200_msun"][1] == pytest.approx(0.6 * flat["M200_msun"][0])
    with pytest.raises(ValueError, match=r"q must lie in \(0, 1\]"):
        cf.build_prior(oblate.halo_family, NFW_BOX | {"q": [0.1, 1.5]}, (), {})


def test_oblate_fit_recovers_a_flattened_truth(fixed):
    model = cf.CombinedModel(cf.HALO_FAMILIES_B["nfw_oblate"], fixed)
    truth = np.array([*TRUTH_NFW, 0.7])
    post = _posterior(model, NFW_BOX | {"q": [0.1, 1.0]}, _data(model, truth))
    best = cf.maximise(post, np.array([12.0, 9.0, 0.95]), OPTIMIZER, "nfw_oblate test")
    assert np.all(np.abs(best["x"] - truth) < [5e-3, 0.2, 0.02]), best["x"]
