"""mass_model: potentials against galpy, the M200 convention, escape speeds and enclosed masses."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.constants import G as G_astropy
from galpy.potential import MiyamotoNagaiPotential, NFWPotential, PlummerPotential

from milkyway_mass.galaxy.potentials.composite import (
    HALO_FAMILIES,
    NFW,
    Cosmology,
    G,
    GalaxyModel,
    MassModelSpec,
    MiyamotoNagai,
    Plummer,
    baryons_from_config,
    circular_speed,
    enclosed_mass,
    escape_speed,
    m200_from_r200,
    r200_from_m200,
)

RO, VO = 8.122, 234.04  # galpy scales; results are compared in physical units
COSMO = Cosmology(H0_kms_mpc=70.0, Om=1.0)
M200, C200 = 8.0e11, 12.0
R200 = float(r200_from_m200(M200, COSMO))

# Many points in and out of the plane, near the centre, at and beyond the 2 r200 boundary.
_R = np.concatenate([np.geomspace(0.01, 600.0, 37), [2 * R200]])
_Z = np.array([-50.0, -1.1, -0.02, 0.0, 0.0208, 0.3, 4.0, 120.0])
R_GRID, Z_GRID = (a.ravel() for a in np.meshgrid(_R, _Z))

KMS2 = u.km**2 / u.s**2


def _galpy_pairs():
    return [
        (Plummer(1.067e10, 0.3), PlummerPotential(amp=1.067e10 * u.Msun, b=0.3 * u.kpc, ro=RO, vo=VO)),
        (MiyamotoNagai(3.944e10, 5.3, 0.25), MiyamotoNagaiPotential(amp=3.944e10 * u.Msun, a=5.3 * u.kpc, b=0.25 * u.kpc, ro=RO, vo=VO)),
        (MiyamotoNagai(3.944e10, 2.6, 0.8), MiyamotoNagaiPotential(amp=3.944e10 * u.Msun, a=2.6 * u.kpc, b=0.8 * u.kpc, ro=RO, vo=VO)),
        # galpy's (conc, mvir) route with overdensity 200 wrt Om * rho_crit checks our M200 convention too.
        (NFW(M200, C200, COSMO), NFWPotential(conc=C200, mvir=M200 / 1e12, H=70.0, Om=1.0, overdens=200.0, wrtcrit=False, ro=RO, vo=VO)),
    ]


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0))


def test_G_is_astropy_in_kpc_kms2_per_msun():
    assert G == pytest.approx(G_astropy.to_value(u.kpc * KMS2 / u.Msun), rel=1e-15)
    assert G == pytest.approx(4.3009e-6, rel=1e-4)


@pytest.mark.parametrize("ours, theirs", _galpy_pairs(), ids=["plummer", "thin_mn", "thick_mn", "nfw"])
def test_potential_forces_and_vc_match_galpy(ours, theirs):
    R, z = R_GRID * u.kpc, Z_GRID * u.kpc
    assert _rel(ours.potential(R_GRID, Z_GRID), theirs(R, z, quantity=True).to_value(KMS2)) < 1e-10
    force = KMS2 / u.kpc
    assert _rel(-ours.dphi_dR(R_GRID, Z_GRID), theirs.Rforce(R, z, quantity=True).to_value(force)) < 1e-10
    off_plane = Z_GRID != 0
    zf = theirs.zforce(R[off_plane], z[off_plane], quantity=True).to_value(force)
    assert _rel(-ours.dphi_dz(R_GRID[off_plane], Z_GRID[off_plane]), zf) < 1e-10
    assert _rel(circular_speed((ours,), _R), theirs.vcirc(_R * u.kpc, quantity=True).to_value(u.km / u.s)) < 1e-10


def test_escape_speed_matches_galpy_to_the_2r200_boundary():
    ours = [p[0] for p in _galpy_pairs()]
    theirs = [p[1] for p in _galpy_pairs()]

    def phi_galpy(R, z):
        return sum(p(R * u.kpc, z * u.kpc, quantity=True).to_value(KMS2) for p in theirs)

    inside = np.hypot(R_GRID, Z_GRID) < 2 * R200
    R, z = R_GRID[inside], Z_GRID[inside]
    expected = np.sqrt(2 * (phi_galpy(2 * R200, 0.0) - phi_galpy(R, z)))
    model = GalaxyModel(tuple(ours[:3]), ours[3])
    assert _rel(model.escape_speed(R, z, boundary_r200=2.0), expected) < 1e-10
    assert model.escape_speed(2 * R200, 0.0, boundary_r200=2.0) == pytest.approx(0.0, abs=1e-5)
    to_infinity = np.sqrt(-2 * phi_galpy(R, z))
    assert _rel(model.escape_speed(R, z, boundary_r200=np.inf), to_infinity) < 1e-10
    three = np.sqrt(2 * (phi_galpy(3 * R200, 0.0) - phi_galpy(R, z)))
    assert _rel(escape_speed(model.components, R, z, 3 * R200), three) < 1e-10


def test_r200_m200_round_trip_and_convention():
    m = np.geomspace(1e10, 1e13, 7)
    r = r200_from_m200(m, COSMO)
    assert _rel(m200_from_r200(r, COSMO), m) < 1e-13
    rho_crit = 3 * (70.0 / 1000.0) ** 2 / (8 * np.pi * G)
    assert COSMO.rho_crit == pytest.approx(rho_crit, rel=1e-14)
    assert _rel(m, 4 * np.pi / 3 * 200 * rho_crit * 1.0 * r**3) < 1e-13
    # Om scales the reference density: Om = 0.3 gives a larger radius for the same mass.
    assert r200_from_m200(1e12, Cosmology(70.0, 0.3)) == pytest.approx(float(r200_from_m200(1e12, COSMO)) * 0.3 ** (-1 / 3))
    halo = NFW(M200, C200, COSMO)
    assert halo.r_s == pytest.approx(R200 / C200)
    assert halo.enclosed_mass(halo.r200) == pytest.approx(M200, rel=1e-12)


def test_broadcasting_over_walkers_and_radii():
    m = np.array([5e11, 8e11, 1.3e12])[:, None]
    c = np.array([8.0, 12.0, 20.0])[:, None]
    model = GalaxyModel(baryons_from_config({"b": {"type": "plummer", "mass_msun": 1e10, "b_kpc": 0.3}}), NFW(m, c, COSMO))
    r = np.linspace(4.0, 50.0, 5)
    v = model.escape_speed(r, 0.0)
    vc = model.circular_speed(r)
    assert v.shape == vc.shape == (3, 5)
    for i in range(3):
        single = GalaxyModel(model.baryons, NFW(m[i, 0], c[i, 0], COSMO))
        np.testing.assert_allclose(v[i], single.escape_speed(r, 0.0), rtol=1e-14)
        np.testing.assert_allclose(vc[i], single.circular_speed(r), rtol=1e-14)
    assert np.all(np.diff(v, axis=1) < 0) and np.all(np.diff(v[:, 0]) > 0)  # falls with r, grows with mass


def test_enclosed_mass_by_gauss_theorem():
    plummer, nfw = Plummer(1.067e10, 0.3), NFW(M200, C200, COSMO)
    r = np.array([0.2, 1.0, 8.0, 50.0, R200])
    np.testing.assert_allclose(enclosed_mass((plummer,), r), plummer.enclosed_mass(r), rtol=1e-12)
    np.testing.assert_allclose(enclosed_mass((nfw,), r), nfw.enclosed_mass(r), rtol=1e-12)
    disk = MiyamotoNagai(3.944e10, 5.3, 0.25)
    m_disk = enclosed_mass((disk,), r)
    assert np.all(np.diff(m_disk) > 0) and np.all(m_disk < disk.mass_msun)
    np.testing.assert_allclose(enclosed_mass((disk,), r, n_nodes=1024), m_disk, rtol=1e-8)
    assert enclosed_mass((disk,), 1e6) == pytest.approx(disk.mass_msun, rel=1e-4)
    # The disk mass outside r200 is a few per cent of the disk: counted as outside in M_total(<r200).
    assert 0.005 < 1 - m_disk[-1] / disk.mass_msun < 0.05


def test_model_spec_builds_walkers_from_theta(shared_params):
    spec = MassModelSpec.from_config(shared_params["halo_mass"]["model"], shared_params["cosmology"])
    assert spec.parameter_names == HALO_FAMILIES["nfw"].parameter_names == ("log10_M200", "c200")
    assert [type(b) for b in spec.baryons] == [Plummer, MiyamotoNagai, MiyamotoNagai]
    model = spec.build(np.array([[12.0, 10.0], [11.5, 20.0]]))
    np.testing.assert_allclose(model.halo.m200_msun[:, 0], [1e12, 10**11.5])
    with pytest.raises(ValueError, match="needs 2"):
        spec.build(np.zeros((4, 3)))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"bulge": {"type": "hernquist", "mass_msun": 1e10}}, "bulge.*unknown type 'hernquist'"),
        ({"disk": {"type": "miyamoto_nagai", "mass_msun": 1e10, "a_kpc": 3.0}}, "disk.*miyamoto_nagai"),
    ],
)
def test_bad_baryon_config_names_the_component(config, message):
    with pytest.raises(ValueError, match=message):
        baryons_from_config(config)


def test_bad_family_and_boundary_are_clear_errors(shared_params):
    with pytest.raises(ValueError, match="unknown halo_family 'zhao'"):
        MassModelSpec.from_config({**shared_params["halo_mass"]["model"], "halo_family": "zhao"}, shared_params["cosmology"])
    with pytest.raises(ValueError, match="escape boundary"):
        escape_speed((Plummer(1e10, 0.3),), 8.0, 0.0, -1.0)
