"""Halo families against galpy (NFW, Zhao with alpha = 1, Einasto) and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from galpy.potential import (
    EinastoPotential,
    NFWPotential,
    TriaxialNFWPotential,
    TwoPowerSphericalPotential,
    TwoPowerTriaxialPotential,
)
from scipy import optimize, special
from scipy.integrate import quad

from milkyway_mass.galaxy.potentials import halos as hp
from milkyway_mass.galaxy.potentials.composite import GalaxyModel, circular_speed
from milkyway_mass.galaxy.potentials.halos import EinastoHalo, NFWHalo, ZhaoHalo
from milkyway_mass.galaxy.units import MSUN_KPC3_IN_GEV_CM3, Cosmology, G

R = np.geomspace(0.01, 1000.0, 41)
RHO0, RS = 8e6, 16.0
TOL = 1e-6


def _galpy_quantities(pot):
    """galpy in natural units with G = 1, lengths in kpc: divide our values by G."""
    zeros = np.zeros_like(R)
    return {
        "density": pot.dens(R, zeros),
        "enclosed_mass": np.array([pot.mass(r) for r in R]),
        "potential": pot(R, zeros) * G,
        "vc": np.sqrt(-R * pot.Rforce(R, zeros) * G),
        "kz": -pot.zforce(R, zeros + 1.1) * G,
    }


def _vesc(halo, R, z=0.0, boundary_r200=2.0):
    """Escape speed of the halo alone to boundary_r200 * r200 [km/s]."""
    return GalaxyModel((), halo).escape_speed(R, z, boundary_r200)


def _ours(halo):
    return {
        "density": halo.density(R),
        "enclosed_mass": halo.enclosed_mass(R),
        "potential": halo.potential(R, 0.0),
        "vc": circular_speed((halo,), R),
        "kz": halo.dphi_dz(R, 1.1),
    }


def _assert_close(ours, ref, tol=TOL):
    for key, value in ref.items():
        np.testing.assert_allclose(ours[key], value, rtol=tol, atol=0, err_msg=key)


CASES = {
    "nfw": (NFWHalo(RHO0, RS), NFWPotential(amp=4 * np.pi * RHO0 * RS**3, a=RS)),
    "zhao_as_nfw": (ZhaoHalo(RHO0, RS, 1.0, 3.0, 1.0), NFWPotential(amp=4 * np.pi * RHO0 * RS**3, a=RS)),
    "zhao_cored": (
        ZhaoHalo(RHO0, RS, 1.0, 3.0, 0.0),
        TwoPowerSphericalPotential(amp=4 * np.pi * RHO0 * RS**3, a=RS, alpha=0.0, beta=3.0),
    ),
    "zhao_steep": (
        ZhaoHalo(RHO0, RS, 1.0, 4.5, 1.5),
        TwoPowerSphericalPotential(amp=4 * np.pi * RHO0 * RS**3, a=RS, alpha=1.5, beta=4.5),
    ),
    "zhao_shallow": (
        ZhaoHalo(RHO0, RS, 1.0, 2.2, 0.7),
        TwoPowerSphericalPotential(amp=4 * np.pi * RHO0 * RS**3, a=RS, alpha=0.7, beta=2.2),
    ),
    "einasto_n3": (EinastoHalo(RHO0, RS, 3.0), EinastoPotential(amp=RHO0 * np.exp(6.0), h=RS / 6.0**3, n=3.0)),
    "einasto_n6": (EinastoHalo(RHO0, RS, 6.0), EinastoPotential(amp=RHO0 * np.exp(12.0), h=RS / 12.0**6, n=6.0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_profiles_match_galpy(case):
    halo, pot = CASES[case]
    _assert_close(_ours(halo), _galpy_quantities(pot))


@pytest.mark.parametrize("alpha", [0.2, 0.5, 2.0, 5.0])
def test_zhao_mass_matches_incomplete_beta(alpha):
    """M(<r) = 4 pi rho0 r_s³ B(a, b) I_u(a, b) / alpha, u = x^alpha / (1 + x^alpha)."""
    gamma, beta = 0.7, 4.5
    halo = ZhaoHalo(RHO0, RS, alpha, beta, gamma)
    x = R / RS
    a, b = (3 - gamma) / alpha, (beta - 3) / alpha
    u = x**alpha / (1 + x**alpha)
    expected = 4 * np.pi * RHO0 * RS**3 * special.beta(a, b) * special.betainc(a, b, u) / alpha
    keep = u < 0.999  # betainc loses precision as u -> 1
    np.testing.assert_allclose(halo.enclosed_mass(R)[keep], expected[keep], rtol=1e-9)


@pytest.mark.parametrize("alpha, beta, gamma", [(0.4, 5.0, 0.2), (2.5, 3.2, 1.2), (1.0, 2.3, 1.9)])
def test_zhao_force_is_minus_gradient_of_potential(alpha, beta, gamma):
    halo = ZhaoHalo(RHO0, RS, alpha, beta, gamma)
    r = np.geomspace(0.1, 300.0, 17)
    h = 1e-4 * r
    derivative = (halo.potential(r + h, 0.0) - halo.potential(r - h, 0.0)) / (2 * h)
    np.testing.assert_allclose(derivative, G * halo.enclosed_mass(r) / r**2, rtol=1e-6)


def test_zhao_is_continuous_across_the_quadrature_grid_ends():
    halo = ZhaoHalo(RHO0, RS, 0.8, 3.5, 1.3)
    edge = hp.X_MIN * RS
    r = edge * np.array([1 - 1e-9, 1 + 1e-9])
    np.testing.assert_allclose(*halo.enclosed_mass(r), rtol=1e-7)
    np.testing.assert_allclose(*halo.potential(r, 0.0), rtol=1e-12)
    x_inner = np.array([0.1, 0.5]) * hp.X_MIN
    exact = [
        quad(lambda t: t ** (2 - 1.3) * (1 + t**0.8) ** (-2.2 / 0.8), 0, x, epsabs=0, epsrel=1e-12)[0] for x in x_inner
    ]
    np.testing.assert_allclose(halo.enclosed_mass(x_inner * RS), 4 * np.pi * RHO0 * RS**3 * np.array(exact), rtol=1e-9)
    assert halo.potential(0.0, 0.0) < halo.potential(edge, 0.0) < 0
    with pytest.raises(ValueError, match="beyond its quadrature grid"):
        halo.enclosed_mass(2 * hp.X_MAX * RS)


def test_walkers_broadcast_like_separate_halos():
    rng = np.random.default_rng(3)
    W = 5
    params = [
        rng.uniform(1e6, 1e8, W),
        rng.uniform(5, 30, W),
        rng.uniform(0.5, 3, W),
        rng.uniform(3, 5, W),
        rng.uniform(0, 1.5, W),
    ]
    together = ZhaoHalo(*(p[:, None] for p in params))
    r = np.linspace(4.0, 50.0, 7)
    vc, vesc, r200 = circular_speed((together,), r), _vesc(together, r), together.r200
    assert vc.shape == vesc.shape == (W, 7) and r200.shape == (W, 1)
    for w in range(W):
        alone = ZhaoHalo(*(p[w] for p in params))
        np.testing.assert_allclose(vc[w], circular_speed((alone,), r), rtol=1e-12)
        np.testing.assert_allclose(vesc[w], _vesc(alone, r), rtol=1e-12)
        np.testing.assert_allclose(r200[w, 0], alone.r200, rtol=1e-12)


def test_r200_and_m200_follow_the_published_convention():
    cosmo = Cosmology(H0_kms_mpc=70.0, Om=1.0)
    nfw = NFWHalo.from_m200_c200(np.array([[5e11], [1e12]]), np.array([[8.0], [15.0]]), cosmology=cosmo)
    np.testing.assert_allclose(nfw.m200, [[5e11], [1e12]], rtol=1e-10)
    np.testing.assert_allclose(nfw.r200 / nfw.r_s, [[8.0], [15.0]], rtol=1e-10)
    np.testing.assert_allclose(nfw.enclosed_mass(nfw.r200), nfw.m200, rtol=1e-10)
    rho_crit = 3 * (0.07) ** 2 / (8 * np.pi * G)  # H0 = 70 km/s/Mpc = 0.07 km/s/kpc
    np.testing.assert_allclose(nfw.m200, 4 * np.pi / 3 * 200 * rho_crit * nfw.r200**3, rtol=1e-12)
    zhao = ZhaoHalo(nfw.rho0, nfw.r_s, 1.0, 3.0, 1.0, cosmology=cosmo)
    einasto = EinastoHalo(1e7, 15.0, 5.0, cosmology=cosmo)
    np.testing.assert_allclose(zhao.r200, nfw.r200, rtol=1e-10)
    np.testing.assert_allclose(einasto.enclosed_mass(einasto.r200), einasto.m200, rtol=1e-10)
    assert np.isnan(ZhaoHalo(1e3, 10.0, 1.0, 3.0, 0.0, cosmology=cosmo).r200)  # core below 200 rho_crit


def test_r200_of_many_walkers_matches_a_scalar_root_finder():
    rng = np.random.default_rng(3)
    n = 40
    halos = [
        EinastoHalo(10 ** rng.uniform(4, 8, (n, 1)), rng.uniform(2, 60, (n, 1)), rng.uniform(1, 10, (n, 1))),
        ZhaoHalo(
            10 ** rng.uniform(5, 9, (n, 1)),
            rng.uniform(2, 60, (n, 1)),
            rng.uniform(0.5, 3, (n, 1)),
            rng.uniform(2.5, 6, (n, 1)),
            rng.uniform(0, 1.9, (n, 1)),
        ),
    ]
    for halo in halos:
        density = halo.cosmology.halo_density(halo.overdensity)
        for w in range(n):
            mass = lambda r, w=w: halo.enclosed_mass(r)[w, 0] - 4 * np.pi / 3 * density * r**3  # noqa: E731
            root = optimize.brentq(mass, 1e-3, 1e4, xtol=1e-14, rtol=1e-15)
            assert halo.r200[w, 0] == pytest.approx(root, rel=1e-12)


def test_escape_speed_to_boundary_matches_galpy():
    halo = NFWHalo.from_m200_c200(1e12, 12.0)
    pot = NFWPotential(amp=4 * np.pi * float(halo.rho0) * float(halo.r_s) ** 3, a=float(halo.r_s))
    r = np.array([5.0, 8.122, 20.0, 45.0])
    boundary = 2.0 * float(halo.r200)
    expected = np.sqrt(2 * G * (pot(boundary, 0.0) - pot(r, 0 * r)))
    np.testing.assert_allclose(_vesc(halo, r), expected, rtol=1e-10)
    np.testing.assert_allclose(_vesc(halo, r, boundary_r200=np.inf), np.sqrt(-2 * G * pot(r, 0 * r)), rtol=1e-10)
    assert np.all(_vesc(halo, r, boundary_r200=3.0) > _vesc(halo, r))
    with pytest.raises(ValueError, match="escape boundary"):
        _vesc(halo, r, boundary_r200=0.0)


def test_local_density_in_gev_per_cm3():
    assert MSUN_KPC3_IN_GEV_CM3 * 1e9 == pytest.approx(37.97, abs=0.01)  # 1 Msun/pc³ in GeV/cm³
    halo = NFWHalo(1e7, 1e-3)  # rho(8 kpc) = rho0 x^-3 (1 + 1/x)^-2 with x = 8000
    expected = 1e7 * 8000.0**-3 / (1 + 1 / 8000.0) ** 2 * MSUN_KPC3_IN_GEV_CM3
    assert halo.local_density_gev_cm3(8.0) == pytest.approx(expected, rel=1e-12)
    assert EinastoHalo(1e7, 8.0, 6.0).local_density_gev_cm3(8.0) == pytest.approx(0.3797, rel=1e-3)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: NFWHalo(-1.0, 10.0), "rho0"),
        (lambda: NFWHalo(1e7, np.nan), "r_s"),
        (lambda: EinastoHalo(1e7, 10.0, 0.0), "Einasto index"),
        (lambda: ZhaoHalo(1e7, 10.0, 0.1, 3.0, 1.0), "alpha"),
        (lambda: ZhaoHalo(1e7, 10.0, 1.0, 2.0, 1.0), "beta"),
        (lambda: ZhaoHalo(1e7, 10.0, 1.0, 4.0, 3.0), "gamma"),
        (lambda: ZhaoHalo(1e7, 10.0, np.array([[1.0], [0.05]]), 3.0, 1.0), "alpha"),
    ],
)
def test_bad_parameters_raise_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# --- oblate halos ---------------------------------------------------------------------

R_OB = np.array([0.05, 0.5, 3.0, 8.122, 8.122, 20.0, 100.0, 400.0])
Z_OB = np.array([0.0, 0.3, 1.1, 0.0, 1.1, 5.0, 50.0, 0.0])


def _galpy_oblate_quantities(pot):
    return {
        "potential": pot(R_OB, Z_OB) * G,
        "dphi_dR": -pot.Rforce(R_OB, Z_OB) * G,
        "dphi_dz": -pot.zforce(R_OB, Z_OB) * G,
    }


def _ours_oblate(halo):
    return {
        "potential": halo.potential(R_OB, Z_OB),
        "dphi_dR": halo.dphi_dR(R_OB, Z_OB),
        "dphi_dz": halo.dphi_dz(R_OB, Z_OB),
    }


@pytest.mark.parametrize("q", [1.0, 0.7, 0.3, 0.1])
@pytest.mark.parametrize("profile", ["nfw", "zhao_alpha1"])
def test_oblate_halos_match_galpy_triaxial_potentials(profile, q):
    amp = 4 * np.pi * RHO0 * RS**3
    if profile == "nfw":
        ours, ref = NFWHalo(RHO0, RS), TriaxialNFWPotential(amp=amp, a=RS, b=1.0, c=q, glorder=300)
    else:
        ours, ref = (
            ZhaoHalo(RHO0, RS, 1.0, 3.5, 0.6),
            TwoPowerTriaxialPotential(amp=amp, a=RS, alpha=0.6, beta=3.5, b=1.0, c=q, glorder=300),
        )
    mine, theirs = _ours_oblate(hp.OblateHalo(ours, q)), _galpy_oblate_quantities(ref)
    if profile != "nfw":  # galpy's TwoPowerTriaxialPotential is not zero at infinity: compare differences
        mine["potential"], theirs["potential"] = (
            mine["potential"] - mine["potential"][-1],
            theirs["potential"] - theirs["potential"][-1],
        )
    _assert_close(mine, theirs)


@pytest.mark.parametrize("profile", [NFWHalo(RHO0, RS), EinastoHalo(RHO0, RS, 4.0), ZhaoHalo(RHO0, RS, 2.0, 4.0, 0.5)])
def test_oblate_halo_with_q_one_is_the_spherical_profile(profile):
    oblate = hp.OblateHalo(profile, 1.0)
    for method in ("potential", "dphi_dR", "dphi_dz"):
        np.testing.assert_allclose(
            getattr(oblate, method)(R_OB, Z_OB + 0.2),
            getattr(profile, method)(R_OB, Z_OB + 0.2),
            rtol=TOL,
            err_msg=method,
        )
    assert oblate.r200 == pytest.approx(profile.r200)
    assert oblate.m200 == pytest.approx(profile.m200)


def test_oblate_einasto_force_is_minus_gradient_of_potential():
    halo = hp.OblateHalo(EinastoHalo(RHO0, RS, 5.0), 0.4)
    R, z, h = np.array([4.0, 8.0, 30.0]), np.array([0.5, 1.1, 10.0]), 1e-4
    np.testing.assert_allclose(
        (halo.potential(R + h, z) - halo.potential(R - h, z)) / (2 * h), halo.dphi_dR(R, z), rtol=1e-6
    )
    np.testing.assert_allclose(
        (halo.potential(R, z + h) - halo.potential(R, z - h)) / (2 * h), halo.dphi_dz(R, z), rtol=1e-6
    )


def test_oblate_halo_flattening_strengthens_vertical_force_and_sets_spheroidal_m200():
    sph, flat = NFWHalo(RHO0, RS), hp.OblateHalo(NFWHalo(RHO0, RS), 0.5)
    assert flat.dphi_dz(8.0, 1.1) / flat.dphi_dR(8.0, 0.0) > sph.dphi_dz(8.0, 1.1) / sph.dphi_dR(8.0, 0.0)
    assert flat.m200 == pytest.approx(0.5 * sph.m200)
    assert flat.local_density_gev_cm3(8.0, 1.0) == pytest.approx(sph.local_density_gev_cm3(np.hypot(8.0, 2.0)))


def test_oblate_walkers_broadcast_like_separate_halos():
    q = np.array([[1.0], [0.6], [0.2]])
    rho0, rs = np.array([[RHO0], [2 * RHO0], [RHO0]]), np.array([[RS], [10.0], [25.0]])
    many = hp.OblateHalo(NFWHalo(rho0, rs), q)
    for i in range(3):
        one = hp.OblateHalo(NFWHalo(rho0[i, 0], rs[i, 0]), q[i, 0])
        np.testing.assert_allclose(many.potential(R_OB, Z_OB)[i], one.potential(R_OB, Z_OB), rtol=1e-12)
        np.testing.assert_allclose(_vesc(many, R_OB, Z_OB)[i], _vesc(one, R_OB, Z_OB), rtol=1e-12)


@pytest.mark.parametrize("q", [0.0, -0.5, 1.2, np.nan])
def test_oblate_halo_rejects_bad_axis_ratio(q):
    with pytest.raises(ValueError, match="q"):
        hp.OblateHalo(NFWHalo(RHO0, RS), q)
