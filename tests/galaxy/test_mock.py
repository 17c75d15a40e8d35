"""The mock's truth potential and its equilibrium halo."""

import astropy.constants as const
import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from galpy.potential import MiyamotoNagaiPotential, evaluatePotentials

from milkyway_mass.galaxy.coordinates import icrs_observables
from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.dynamics.double_power_law import DoublePowerLawDF
from milkyway_mass.galaxy.globular_clusters.catalogue import COLUMNS, select_clusters
from milkyway_mass.galaxy.mock import (
    cluster_df,
    halo_df,
    observe_clusters,
    sample_clusters,
    sample_clusters_from_actions,
    sample_halo,
    truth_summary,
)
from milkyway_mass.galaxy.model import ENCLOSED_MASS_RADII_KPC
from milkyway_mass.galaxy.units import G as G_KPC


def test_truth_nfw_follows_the_published_m200_definition(galaxy):
    """galpy's NFW built by the mock has M200 = (4π/3)·200·Ωm·ρcrit·r200³ (as mass_model)."""
    assert galaxy.halo.rvir(H=70.0, Om=1.0, overdens=200.0, wrtcrit=True) == pytest.approx(galaxy.r200, rel=1e-6)
    assert galaxy.enclosed_mass(galaxy.r200) - galaxy.m200 == pytest.approx(
        sum(c["mass_msun"] for c in galaxy.components.values()), rel=0.01
    )


def test_plummer_disk_analogue_has_the_miyamoto_nagai_potential_in_the_plane(galaxy, mock_params):
    """The spherical truth equals the §5 model in the plane z = 0."""
    R = np.array([0.5, 4.0, 8.122, 20.0, 45.0])
    for idx, comp in enumerate(mock_params["truth"]["disks"].values(), start=1):
        a, b = comp["a_kpc"], comp["b_kpc"]
        mn = MiyamotoNagaiPotential(
            amp=comp["mass_msun"] * u.Msun, a=a * u.kpc, b=b * u.kpc, ro=galaxy.ro, vo=galaxy.vo
        )
        phi_mn = evaluatePotentials(mn, R / galaxy.ro, 0.0, use_physical=False) * galaxy.vo**2
        assert galaxy.phi(R, galaxy.baryons[idx]) == pytest.approx(phi_mn, rel=1e-12)
        assert -phi_mn[-1] == pytest.approx(G_KPC * comp["mass_msun"] / np.hypot(45.0, a + b), rel=1e-6)


def test_kz_is_that_of_the_axisymmetric_model_and_rho_dm_of_the_nfw(galaxy):
    """K_z at 1.1 kpc: disks make it larger than the spherical analogue's; rho_DM(R0) from NFW."""
    z = 1.1
    kz_sph = galaxy.enclosed_mass(np.hypot(8.0, z)) * G_KPC * z / np.hypot(8.0, z) ** 3
    assert galaxy.kz(8.0, z)[0] > 1.3 * kz_sph
    x = galaxy.ro / (galaxy.r200 / galaxy.c200)
    rho_s = galaxy.m200 / (
        4 * np.pi * (galaxy.r200 / galaxy.c200) ** 3 * (np.log(1 + galaxy.c200) - galaxy.c200 / (1 + galaxy.c200))
    )
    gev = (rho_s / (x * (1 + x) ** 2) * u.Msun / u.kpc**3 * const.c**2).to_value(u.GeV / u.cm**3)
    assert galaxy.rho_dm_gev_cm3(galaxy.ro) == pytest.approx(gev, rel=1e-6)
    assert 0.2 < gev < 0.6


def test_escape_speed_is_zero_at_the_boundary_and_falls_outwards(galaxy):
    assert galaxy.vesc(galaxy.r_boundary)[0] == pytest.approx(0.0, abs=1e-6)
    v = galaxy.vesc(np.array([4.0, 8.0, 20.0, 50.0]))
    assert np.all(np.diff(v) < 0) and 450 < v[1] < 650


@pytest.fixture(scope="module")
def halo_at_radius(galaxy, mock_params):
    df = halo_df(galaxy, mock_params["halo"]["tracer"])
    weighting = {"r_min_kpc": 9.9, "r_max_kpc": 10.1, "slope": 0.0}
    return df, sample_halo(galaxy, df, 20000, weighting, seed=7)


def test_halo_speeds_approach_but_never_exceed_vesc(galaxy, halo_at_radius):
    _, halo = halo_at_radius
    r = np.sqrt(halo.x**2 + halo.y**2 + halo.z**2).to_numpy()
    ratio = np.sqrt(halo.vx**2 + halo.vy**2 + halo.vz**2).to_numpy() / galaxy.vesc(r)
    assert ratio.max() < 1.0
    assert ratio.max() > 0.9


def test_halo_velocities_follow_the_df_dispersion(galaxy, halo_at_radius):
    """Isotropic DF: each Cartesian component has the DF's radial dispersion."""
    df, halo = halo_at_radius
    sigma_df = float(df.sigmar(10.0 * u.kpc))  # km/s (the DF has physical units on)
    for comp in ("vx", "vy", "vz"):
        assert halo[comp].std() == pytest.approx(sigma_df, rel=0.03)
        assert abs(halo[comp].mean()) < 5 * sigma_df / np.sqrt(len(halo))


CLUSTER_TRACER = {"scale_kpc": 2.0, "inner_slope": 1.0, "outer_slope": 4.0, "anisotropy_radius_kpc": 15.0}


@pytest.fixture(scope="module")
def clusters(galaxy):
    df = cluster_df(galaxy, CLUSTER_TRACER | {"r_max_kpc": 150.0})
    return sample_clusters(galaxy, df, 60, seed=4), sample_clusters(galaxy, df, 60, seed=4)


def test_mock_clusters_are_seeded_bound_and_inside_the_cutoff(galaxy, clusters):
    a, b = clusters
    pd.testing.assert_frame_equal(a, b)
    r = np.sqrt(a["x"] ** 2 + a["y"] ** 2 + a["z"] ** 2).to_numpy()
    energy = 0.5 * (a["vx"] ** 2 + a["vy"] ** 2 + a["vz"] ** 2).to_numpy() + galaxy.phi(r)
    assert np.all(energy < 0) and r.max() <= 150.0


# h_z = h_phi and g_z = g_phi: f depends on J_r, L and the sign of L_z only, so the density is
# spherical; the rotation term (odd in J_phi) does not change it.
ACTION_DF = {"slope_in": 1.0, "slope_out": 6.0, "steepness": 1.0, "ln_J0": 7.5, "h_r": 1.4, "h_z": 0.8}
ACTION_DF |= {"g_r": 0.6, "g_z": 1.2, "rotation": -0.8}


@pytest.fixture(scope="module")
def action_clusters(galaxy):
    df = DoublePowerLawDF.from_parameters(ACTION_DF)
    return df, sample_clusters_from_actions(galaxy, df, 600, seed=5, n_proposals=600_000)


def _density_shell_fractions(galaxy, df, edges_kpc):
    """Fractions of the DF's mass in radial shells, from rho(r) = ∫ f d³v by quadrature (spherical
    density: f of (r, |v|, angle to the radius) with the azimuth integrated out)."""
    table = galaxy.monopole_table()
    r = np.geomspace(0.01, 1000.0, 121)
    x, w = np.polynomial.legendre.leggauss(40)
    u, w = 0.5 * (x + 1.0), 0.5 * w
    v_bound = np.sqrt(-2.0 * table.potential(r).reshape(-1))
    R, U, C = np.meshgrid(r, u, u, indexing="ij")  # radius, speed / v_bound, |cos(angle to the radius)|
    V = v_bound[:, None, None] * U
    L = R * V * np.sqrt(1.0 - C**2)
    J = spherical_actions(table, R.ravel(), (V**2).ravel(), L.ravel(), L.ravel())
    f = np.where(J["bound"], np.exp(df.log_f(J["J_r"], J["J_z"], J["J_phi"])), 0.0).reshape(R.shape)
    rho = 4.0 * np.pi * np.einsum("ijk,j,k->i", f * V**2, w, w) * v_bound
    mass_per_ln_r = 4.0 * np.pi * r**3 * rho
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (mass_per_ln_r[1:] + mass_per_ln_r[:-1]) * np.diff(np.log(r)))])
    return np.diff(np.interp(np.log(edges_kpc), np.log(r), cumulative)) / cumulative[-1]


def test_clusters_from_actions_follow_the_density_of_the_df(galaxy, action_clusters):
    """The resampled radii match the DF's own radial profile (quadrature over velocities)."""
    df, clusters = action_clusters
    edges = np.array([0.01, 2.0, 5.0, 12.0, 30.0, 1000.0])
    r = np.sqrt(clusters["x"] ** 2 + clusters["y"] ** 2 + clusters["z"] ** 2).to_numpy()
    expected = len(r) * _density_shell_fractions(galaxy, df, edges)
    counts = np.histogram(r, edges)[0]
    assert expected.min() > 50
    np.testing.assert_array_less(np.abs(counts - expected) / np.sqrt(expected), 4.0)


def test_clusters_from_actions_rotate_with_the_df_and_are_bound(galaxy, action_clusters):
    """kappa < 0 puts most clusters on L_z < 0 orbits; every cluster is bound."""
    _, c = action_clusters
    L_z = (c["x"] * c["vy"] - c["y"] * c["vx"]).to_numpy()
    assert np.mean(L_z < 0) > 0.5 + 4 * 0.5 / np.sqrt(len(c))
    r = np.sqrt(c["x"] ** 2 + c["y"] ** 2 + c["z"] ** 2).to_numpy()
    assert np.all(0.5 * (c["vx"] ** 2 + c["vy"] ** 2 + c["vz"] ** 2).to_numpy() + galaxy.phi(r) < 0)


def test_clusters_from_actions_are_seeded_and_need_enough_proposals(galaxy):
    df = DoublePowerLawDF.from_parameters(ACTION_DF)
    a, b = (sample_clusters_from_actions(galaxy, df, 10, seed=9, n_proposals=20_000) for _ in range(2))
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(ValueError, match="effective sample size .* raise n_proposals"):
        sample_clusters_from_actions(galaxy, df, 155, seed=9, n_proposals=2_000)


def _reference(n=5, **errors):
    base = {c: np.ones(n) for c in COLUMNS[1:]} | {"Name": [f"R{i}" for i in range(n)], "pmcorr": np.zeros(n)}
    return pd.DataFrame(base | errors)[list(COLUMNS)]


def test_observed_clusters_are_a_catalogue_with_the_paired_errors(clusters, shared_params):
    frame = shared_params["galaxy_frame"]
    true = clusters[0]
    tiny = dict(dist=np.full(5, 10.0), disterr=np.full(5, 1e-9), vloserr=np.full(5, 1e-9))
    tiny |= dict(pmra_e=np.full(5, 1e-9), pmdec_e=np.full(5, 1e-9))
    exact = observe_clusters(true, _reference(**tiny), frame, seed=1)
    assert list(exact.columns) == list(COLUMNS) and len(exact) == len(true)
    kept, flow = select_clusters(exact)
    assert flow["kept"] == len(true)
    truth = icrs_observables(*(true[c].to_numpy() for c in ("x", "y", "z", "vx", "vy", "vz")), frame)
    for ours, theirs in (("dist", "dist"), ("vlos", "rv"), ("pmra", "pmra"), ("pmdec", "pmdec"), ("ra", "ra")):
        np.testing.assert_allclose(exact[ours], truth[theirs], rtol=1e-6, atol=1e-6)
    errors = _reference(vloserr=np.array([1.0, 2.0, 3.0, 4.0, 5.0]), disterr=np.full(5, 0.1), dist=np.full(5, 2.0))
    noisy = observe_clusters(true, errors, frame, seed=1)
    assert set(noisy["vloserr"]) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    np.testing.assert_allclose(noisy["disterr"] / noisy["dist"], 0.05)


def test_truth_reports_enclosed_masses(galaxy):
    summary = truth_summary(galaxy, np.array([8.0]))
    for r in ENCLOSED_MASS_RADII_KPC:
        assert summary["M_enclosed_msun"][f"{r:g}_kpc"] == pytest.approx(galaxy.enclosed_mass(r), rel=1e-12)
    assert summary["M_enclosed_msun"]["50_kpc"] < summary["M_enclosed_msun"]["100_kpc"]
