"""The mock's truth potential and its equilibrium halo."""

import astropy.constants as const
import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from galpy.potential import MiyamotoNagaiPotential, evaluatePotentials

from milkyway_mass.galaxy.coordinates import icrs_observables
from milkyway_mass.galaxy.globular_clusters.catalogue import COLUMNS, select_clusters
from milkyway_mass.galaxy.mock import (
    cluster_df,
    halo_df,
    observe_clusters,
    sample_clusters,
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
