"""model: halo families, the mass model of θ, priors, the grid of fits and derived quantities."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from milkyway_mass.galaxy.constraints.terms import CONSTRAINTS
from milkyway_mass.galaxy.model import (
    HALO_FAMILIES,
    MassModel,
    build_prior,
    component_enclosed_mass,
    component_kz,
    component_vc,
    derived_samples,
    fit_grid,
)
from milkyway_mass.galaxy.potentials.baryon_tables import ScfSettings, TableGrid
from milkyway_mass.galaxy.potentials.baryons import FixedBaryons, McMillanBaryons
from milkyway_mass.galaxy.potentials.composite import (
    GalaxyModel,
    circular_speed,
    enclosed_mass,
)
from milkyway_mass.galaxy.potentials.halos import NFWHalo, r_minus2
from milkyway_mass.galaxy.units import MSUN_KPC3_IN_GEV_CM3, Cosmology, r200_from_m200
from tests.conftest import load_params
from tests.galaxy.noise_free import NFW_BOX, R0, TRUTH_NFW

R_RC = np.linspace(5.3, 24.8, 20)
R_KZ = np.linspace(4.6, 8.5, 12)
ZHAO_BOX = {
    "log10_rho0_msun_kpc3": [4.0, 10.0],
    "r_s_kpc": [1.0, 100.0],
    "alpha": [0.5, 3.0],
    "beta": [2.5, 6.0],
    "gamma": [0.0, 1.9],
}


@pytest.fixture(scope="module")
def params():
    return load_params("base")


@pytest.fixture(scope="module")
def fixed(params):
    return FixedBaryons.from_config(params["halo_mass"]["model"]["baryons"])


@pytest.fixture(scope="module")
def nfw_model(fixed):
    return MassModel(HALO_FAMILIES["nfw"], fixed)


def test_nfw_family_builds_walkers_and_derived_quantities(fixed, nfw_model):
    """θ = (log10 M200, c200) gives the NFW halo of that mass and concentration plus the fixed
    baryons; ``derived_samples`` gives its masses, r200 and the speeds and density at R0."""
    theta = np.array([[11.9, 10.0], [12.2, 15.0]])
    assert nfw_model.parameter_names == ("log10_M200", "c200")
    galaxy = nfw_model.build(theta)
    baryons = tuple(fixed.components().values())
    halo = NFWHalo.from_m200_c200(10 ** theta[:, :1], theta[:, 1:])
    direct = GalaxyModel(baryons, halo)
    R = np.array([4.0, 8.122, 20.0, 45.0])
    np.testing.assert_allclose(galaxy.circular_speed(R), direct.circular_speed(R), rtol=1e-13)
    np.testing.assert_allclose(galaxy.escape_speed(R, 0.0, 2.0), direct.escape_speed(R, 0.0, 2.0), rtol=1e-13)
    with pytest.raises(ValueError, match="theta has 3 columns"):
        nfw_model.build(np.zeros((4, 3)))
    db = derived_samples(nfw_model, theta, R0_kpc=R0, boundary_r200=2.0, chunk=1)
    m200 = 10 ** theta[:, 0]
    r200 = r200_from_m200(m200, Cosmology())
    m_baryon = enclosed_mass(baryons, r200)
    np.testing.assert_allclose(db["M200_msun"], m200, rtol=1e-12)
    np.testing.assert_allclose(db["log10_M200"], theta[:, 0], rtol=1e-12)
    np.testing.assert_allclose(db["r200_kpc"], r200, rtol=1e-12)
    np.testing.assert_allclose(db["c200"], theta[:, 1], rtol=1e-12)
    np.testing.assert_allclose(db["M_baryon_r200_msun"], m_baryon, rtol=1e-8)
    np.testing.assert_allclose(db["M_total_r200_msun"], m200 + m_baryon, rtol=1e-8)
    total_baryons = sum(c.mass_msun for c in baryons)
    assert np.all((0.95 * total_baryons < m_baryon) & (m_baryon < total_baryons))
    np.testing.assert_allclose(db["vesc_R0_kms"], direct.escape_speed(np.array([R0]), 0.0, 2.0)[:, 0], rtol=1e-10)
    np.testing.assert_allclose(db["vc_R0_kms"], direct.circular_speed(np.array([R0]))[:, 0], rtol=1e-10)
    np.testing.assert_allclose(db["rho_dm_R0_gev_cm3"], halo.density(R0)[:, 0] * MSUN_KPC3_IN_GEV_CM3, rtol=1e-12)
    for r in (20.0, 50.0, 100.0):
        inside = halo.enclosed_mass(r)[:, 0] + enclosed_mass(baryons, np.array([r]), n_nodes=512)[0]
        np.testing.assert_allclose(db[f"M_enclosed_{r:g}kpc_msun"], inside, rtol=1e-6)


def test_zhao_nfw_case_and_r_minus2(fixed):
    zhao = MassModel(HALO_FAMILIES["zhao"], fixed)
    einasto = MassModel(HALO_FAMILIES["einasto"], fixed)
    halo = zhao.components([[7.0, 16.0, 1.0, 3.0, 1.0]])["halo"]
    nfw = NFWHalo(1e7, 16.0)
    np.testing.assert_allclose(circular_speed((halo,), R_RC)[0], circular_speed((nfw,), R_RC), rtol=1e-6)
    np.testing.assert_allclose(r_minus2(halo), 16.0)
    steep = zhao.components([[7.0, 10.0, 2.0, 4.0, 0.5]])["halo"]
    x = r_minus2(steep)[0, 0] / 10.0
    slope = -0.5 - 3.5 * x**2 / (1 + x**2)  # d ln rho / d ln r of the Zhao profile
    assert slope == pytest.approx(-2.0)
    assert r_minus2(einasto.components([[6.0, 12.0, 5.0]])["halo"]) == pytest.approx(12.0)


def test_prior_box_gaussians_and_bad_configs():
    mc_priors = {n: {"mean": 1.0, "sigma": 0.5, "bounds": [0.5, 8.0]} for n in McMillanBaryons.parameter_names}
    mc_priors["rho0_bulge_msun_pc3"] = {"mean": 100.0, "sigma": None, "bounds": [10.0, 300.0]}
    prior = build_prior(HALO_FAMILIES["nfw"], NFW_BOX, McMillanBaryons.parameter_names, mc_priors)
    assert prior.names[:2] == ("log10_M200", "c200") and len(prior.names) == 7
    theta = np.array([[12.0, 10.0, 50.0, 2.0, 2.0, 1.0, 1.0], [12.0, 10.0, 50.0, 1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(prior.log_prob(theta), [-0.5 * 2 * 4.0, 0.0])  # two parameters 2 sigma off
    assert prior.log_prob(theta + [[1.0, 0, 0, 0, 0, 0, 0]])[0] == -np.inf  # log10_M200 = 13 outside
    with pytest.raises(ValueError, match=r"missing \['c200'\], unexpected \['c'\]"):
        build_prior(HALO_FAMILIES["nfw"], {"log10_M200": [11, 12], "c": [1, 2]}, (), {})
    with pytest.raises(ValueError, match="prior of c200 needs low < high"):
        build_prior(HALO_FAMILIES["nfw"], {"log10_M200": [11, 12], "c200": [5, 5]}, (), {})
    with pytest.raises(ValueError, match="beta must be > 2"):
        build_prior(HALO_FAMILIES["zhao"], ZHAO_BOX | {"beta": [2.0, 5.0]}, (), {})
    with pytest.raises(ValueError, match=r"gamma must lie in \[0, 2\)"):
        build_prior(HALO_FAMILIES["zhao"], ZHAO_BOX | {"gamma": [0.0, 2.5]}, (), {})
    with pytest.raises(ValueError, match="baryon prior of rd_thick_kpc missing"):
        build_prior(
            HALO_FAMILIES["nfw"],
            NFW_BOX,
            McMillanBaryons.parameter_names,
            {k: v for k, v in mc_priors.items() if k != "rd_thick_kpc"},
        )


def test_tracer_parameters_follow_the_galaxy_parameters_into_the_prior_and_the_galaxy(fixed):
    model = MassModel(HALO_FAMILIES["nfw"], fixed, tracer_parameter_names=("gc_a", "gc_b"))
    assert model.parameter_names == ("log10_M200", "c200", "gc_a", "gc_b")
    galaxy = model.build(np.array([[12.0, 10.0, 0.5, 2.0], [11.9, 12.0, 0.7, 3.0]]))
    np.testing.assert_array_equal(galaxy.tracer_params["gc_b"], [[2.0], [3.0]])
    assert MassModel(HALO_FAMILIES["nfw"], fixed).build(np.array([[12.0, 10.0]])).tracer_params == {}
    prior = build_prior(HALO_FAMILIES["nfw"], NFW_BOX, (), {}, tracer_box={"gc_a": [0.0, 1.0], "gc_b": [1.0, 4.0]})
    assert prior.names == model.parameter_names
    assert prior.log_prob(np.array([[12.0, 10.0, 0.5, 2.0], [12.0, 10.0, 1.5, 2.0]]))[1] == -np.inf
    with pytest.raises(ValueError, match="prior of gc_a"):
        build_prior(HALO_FAMILIES["nfw"], NFW_BOX, (), {}, tracer_box={"gc_a": [1.0]})


def test_grid():
    sets = {"vesc": ["vesc_curve"], "all": list(CONSTRAINTS)}
    grid = fit_grid(
        {"families": ["nfw", "zhao"], "baryons": ["fixed"], "constraint_sets": ["vesc", "all"]},
        sets,
        [
            {"family": "nfw", "baryons": "mcmillan17", "constraint_set": "all"},
            {"family": "nfw", "baryons": "fixed", "constraint_set": "all"},
        ],
    )
    assert [f.name for f in grid] == [
        "nfw.fixed.vesc",
        "nfw.fixed.all",
        "zhao.fixed.vesc",
        "zhao.fixed.all",
        "nfw.mcmillan17.all",
    ]
    assert grid[1].constraints == tuple(CONSTRAINTS)
    for bad, message in (
        ({"families": ["burkert"]}, "unknown halo family"),
        ({"baryons": ["hot_gas"]}, "unknown baryon model"),
        ({"constraint_sets": ["gc"]}, "unknown constraint set"),
    ):
        with pytest.raises(ValueError, match=message):
            fit_grid({"families": ["nfw"], "baryons": ["fixed"], "constraint_sets": ["vesc"]} | bad, sets)
    with pytest.raises(ValueError, match="no fit"):
        fit_grid({}, sets)


def test_mcmillan_baryons_in_the_combined_model():
    """Coarse tables (fast); K_z at the tabulated height, total baryon mass inside r200."""
    baryons = McMillanBaryons(scf=ScfSettings(10, 10, 20.525), grid=TableGrid(n_R=41, n_rd=6)).build_tables()
    model = MassModel(HALO_FAMILIES["nfw"], baryons)
    best = [98.4, 896.0, 2.5, 183.0, 3.02]
    theta = np.array([[12.0, 10.0, *best], [11.9, 12.0, *best[:2], 3.0, *best[3:]]])
    parts = model.components(theta)
    assert set(parts) == {"bulge", "thin_disk", "thick_disk", "gas", "halo"}
    vc = component_vc(model, theta, R_RC)
    np.testing.assert_allclose(
        vc["total"] ** 2, sum(np.sign(v) * v**2 for k, v in vc.items() if k != "total"), rtol=1e-10
    )
    assert 200 < vc["total"][0, 5] < 260
    kz = component_kz(model, theta, R_KZ, 1.1)
    assert kz["total"].shape == (2, R_KZ.size) and (kz["total"] > 0).all()
    mass = model.baryon_mass_within(theta, np.array([200.0, 210.0]))
    expected = sum(np.broadcast_to(c.mass_msun, (2, 1))[:, 0] for k, c in parts.items() if k != "halo")
    np.testing.assert_allclose(mass, expected)
    assert 4e10 < mass[0] < 1e11 and mass[1] != mass[0]
    with pytest.raises(ValueError, match="tabulated only at"):
        model.build(theta).components[1].dphi_dz(R_KZ, 1.5)


def test_cosmology_enters_r200(fixed):
    a = MassModel(HALO_FAMILIES["nfw"], fixed, Cosmology(70.0, 1.0))
    b = MassModel(HALO_FAMILIES["nfw"], fixed, Cosmology(70.0, 0.3))
    ra = derived_samples(a, TRUTH_NFW[None, :], R0_kpc=R0, boundary_r200=2.0)["r200_kpc"]
    rb = derived_samples(b, TRUTH_NFW[None, :], R0_kpc=R0, boundary_r200=2.0)["r200_kpc"]
    assert rb[0] == pytest.approx(ra[0] / 0.3 ** (1 / 3), rel=1e-10)


def test_oblate_families_extend_the_spherical_ones(fixed, nfw_model):
    oblate = MassModel(HALO_FAMILIES["nfw_oblate"], fixed)
    assert oblate.parameter_names[:3] == ("log10_M200", "c200", "q")
    theta = np.array([[*TRUTH_NFW, 1.0], [*TRUTH_NFW, 0.6]])
    spherical = derived_samples(nfw_model, theta[:1, :2], R0_kpc=R0, boundary_r200=2.0)
    flat = derived_samples(oblate, theta, R0_kpc=R0, boundary_r200=2.0)
    for key in ("M200_msun", "r200_kpc", "c200", "vesc_R0_kms", "vc_R0_kms", "rho_dm_R0_gev_cm3"):
        assert flat[key][0] == pytest.approx(spherical[key][0], rel=1e-9), key
    assert flat["M200_msun"][1] == pytest.approx(0.6 * flat["M200_msun"][0])
    with pytest.raises(ValueError, match=r"q must lie in \(0, 1\]"):
        build_prior(oblate.halo_family, NFW_BOX | {"q": [0.1, 1.5]}, (), {})


def test_models_pickle_with_their_halo_family(fixed):
    """Process pools receive models: the family travels by name."""
    model = MassModel(HALO_FAMILIES["einasto_oblate"], fixed)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.halo_family is HALO_FAMILIES["einasto_oblate"] and copy.baryons == model.baryons


def test_component_enclosed_masses_add_up_to_the_derived_ones(nfw_model):
    theta = np.array([TRUTH_NFW, TRUTH_NFW * [1.0, 1.3]])
    r = np.array([20.0, 50.0, 100.0])
    mass = component_enclosed_mass(nfw_model, theta, r)
    assert set(mass) == set(nfw_model.components(theta)) | {"total"}
    np.testing.assert_allclose(mass["total"], sum(v for k, v in mass.items() if k != "total"))
    derived = derived_samples(nfw_model, theta, R0_kpc=R0, boundary_r200=2.0)
    for i, radius in enumerate(r):
        np.testing.assert_allclose(mass["total"][:, i], derived[f"M_enclosed_{radius:g}kpc_msun"], rtol=1e-10)
    assert np.all(np.diff(mass["halo"], axis=1) > 0)
