"""composite: closed-form components and their sums against galpy, escape speeds, enclosed masses."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from galpy.potential import MiyamotoNagaiPotential, NFWPotential, PlummerPotential

from milkyway_mass.galaxy.potentials.baryons import FixedBaryons, MiyamotoNagai, Plummer
from milkyway_mass.galaxy.potentials.composite import (
    GalaxyModel,
    circular_speed,
    enclosed_mass,
    escape_speed,
)
from milkyway_mass.galaxy.potentials.halos import NFWHalo
from milkyway_mass.galaxy.units import Cosmology, r200_from_m200


def NFW(m200, c200, cosmology):
    return NFWHalo.from_m200_c200(m200, c200, cosmology=cosmology)


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
        (
            MiyamotoNagai(3.944e10, 5.3, 0.25),
            MiyamotoNagaiPotential(amp=3.944e10 * u.Msun, a=5.3 * u.kpc, b=0.25 * u.kpc, ro=RO, vo=VO),
        ),
        (
            MiyamotoNagai(3.944e10, 2.6, 0.8),
            MiyamotoNagaiPotential(amp=3.944e10 * u.Msun, a=2.6 * u.kpc, b=0.8 * u.kpc, ro=RO, vo=VO),
        ),
        # galpy's (conc, mvir) route with overdensity 200 wrt Om * rho_crit checks our M200 convention too.
        (
            NFW(M200, C200, COSMO),
            NFWPotential(conc=C200, mvir=M200 / 1e12, H=70.0, Om=1.0, overdens=200.0, wrtcrit=False, ro=RO, vo=VO),
        ),
    ]


def _rel(a, b):
    return np.max(np.abs(np.asarray(a) / np.asarray(b) - 1.0))


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


def test_nfw_from_m200_has_the_closed_form_r200():
    halo = NFW(M200, C200, COSMO)
    assert halo.r200 == pytest.approx(R200, rel=1e-15)
    assert halo.r_s == pytest.approx(R200 / C200)
    assert halo.enclosed_mass(halo.r200) == pytest.approx(M200, rel=1e-12)
    assert halo.m200 == pytest.approx(M200, rel=1e-12)


def test_broadcasting_over_walkers_and_radii():
    m = np.array([5e11, 8e11, 1.3e12])[:, None]
    c = np.array([8.0, 12.0, 20.0])[:, None]
    baryons = FixedBaryons.from_config({"b": {"type": "plummer", "mass_msun": 1e10, "b_kpc": 0.3}}).components()
    model = GalaxyModel(tuple(baryons.values()), NFW(m, c, COSMO))
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


def test_bad_boundary_is_a_clear_error():
    with pytest.raises(ValueError, match="escape boundary"):
        escape_speed((Plummer(1e10, 0.3),), 8.0, 0.0, -1.0)
