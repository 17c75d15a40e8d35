"""Tests of milkyway_mass.galaxy.potentials.reference: scaling, virial-mass rescaling, v_esc and v_min."""

import astropy.units as u
import numpy as np
import pytest
from galpy.potential import MWPotential2014, vcirc, vesc

from milkyway_mass.galaxy.potentials.reference import (
    bin_vmin,
    reference_potentials,
    rescale_halo,
    scaled_mwpotential2014,
    vesc_curves,
    vesc_kms,
)
from milkyway_mass.galaxy.units import Cosmology, r200_from_m200

R0, VC = 8.122, 234.04
MASSES = {"low": 5.0e11, "mid": 8.5e11, "high": 1.2e12}
VIRIAL = {"overdensity": 200.0, "H0_kms_mpc": 70.0, "Om": 0.3}
VMIN = {
    "inner_r_max_kpc": 12.0,
    "inner_v_min_kms": 300.0,
    "curve_fraction": 0.6,
    "evaluate_at": "midpoint",
    "round_to_kms": 10.0,
    "rounding": "up",
}


@pytest.fixture(scope="module")
def potentials():
    return reference_potentials(MASSES, R0, VC, **VIRIAL)


def test_vesc_matches_galpy_for_the_unscaled_potential():
    r = np.array([0.5, 2.0, 8.0, 15.0, 30.0, 60.0, 200.0])
    ours = vesc_kms(scaled_mwpotential2014(8.0, 220.0), r)
    np.testing.assert_allclose(ours, 220.0 * vesc(MWPotential2014, r / 8.0), rtol=1e-9)


def test_scaled_potential_has_the_requested_circular_speed():
    pots = scaled_mwpotential2014(R0, VC)
    assert vcirc(pots, R0 * u.kpc, quantity=True).to_value(u.km / u.s) == pytest.approx(VC, rel=1e-12)
    # scaling is a pure change of units: v_esc(r) = (VC/220) * v_esc_galpy(r / R0 * 8 kpc)
    np.testing.assert_allclose(
        vesc_kms(pots, [10.0, 25.0]), VC * vesc(MWPotential2014, np.array([10.0, 25.0]) / R0), rtol=1e-9
    )


@pytest.mark.parametrize("name", list(MASSES))
def test_rescaled_halo_has_the_requested_virial_mass(potentials, name):
    bulge, disk, halo = potentials[name]
    # galpy's own (root-finding) virial mass, same definition: 200 x Om rho_crit, Om = 0.3, H0 = 70
    assert halo.mvir(H=70.0, Om=0.3, overdens=200.0, wrtcrit=False) == pytest.approx(MASSES[name], rel=1e-6)
    # from first principles: mean density inside r_vir is 200 * 0.3 * rho_crit
    cosmo = Cosmology(VIRIAL["H0_kms_mpc"], VIRIAL["Om"])
    r_vir = float(r200_from_m200(MASSES[name], cosmo, VIRIAL["overdensity"]))
    mass = halo.mass(r_vir * u.kpc, quantity=True).to_value(u.Msun)
    assert mass / (4 / 3 * np.pi * r_vir**3) == pytest.approx(200 * 0.3 * cosmo.rho_crit, rel=1e-9)


def test_rescaling_changes_only_the_halo_amplitude(potentials):
    base = scaled_mwpotential2014(R0, VC)
    rescaled = rescale_halo(base, 1.0e12, **VIRIAL)
    assert rescaled[0] is base[0] and rescaled[1] is base[1]  # bulge and disk untouched
    assert rescaled[2].a == base[2].a  # scale radius fixed: 16 kpc * R0 / 8
    r = np.array([1.0, 10.0, 100.0]) * u.kpc
    ratio = rescaled[2].dens(r, 0 * u.kpc) / base[2].dens(r, 0 * u.kpc)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    assert ratio[0] != pytest.approx(1.0)


def test_curves_are_ordered_by_mass_and_table_has_the_mean(potentials):
    table = vesc_curves(potentials, np.arange(4.0, 50.0, 2.0))
    assert list(table.columns) == ["r_kpc", "vesc_low_kms", "vesc_mid_kms", "vesc_high_kms", "vesc_mean_kms"]
    assert (table["vesc_low_kms"] < table["vesc_mid_kms"]).all() and (
        table["vesc_mid_kms"] < table["vesc_high_kms"]
    ).all()
    assert np.all(np.diff(table["vesc_mid_kms"]) < 0)
    np.testing.assert_allclose(
        table["vesc_mean_kms"], table[["vesc_low_kms", "vesc_mid_kms", "vesc_high_kms"]].mean(axis=1)
    )


def test_vmin_reproduces_the_published_examples(potentials):
    edges = np.array([4.0, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48])
    v_min, r_eval = bin_vmin(edges[:-1], edges[1:], potentials, **VMIN)
    np.testing.assert_allclose(r_eval, 0.5 * (edges[:-1] + edges[1:]))
    assert np.all(v_min[:4] == 300.0)
    assert v_min[5] == 280.0  # 14-16 kpc (published 280 km/s)
    assert v_min[7] == 250.0  # 20-24 kpc (published 250 km/s)
    assert np.all(v_min % 10 == 0) and np.all(np.diff(v_min[4:]) <= 0)


def test_vmin_rounding_and_evaluation_radius(potentials):
    lo, hi = np.array([14.0, 20.0]), np.array([16.0, 24.0])
    raw = 0.6 * np.mean([vesc_kms(p, 0.5 * (lo + hi)) for p in potentials.values()], axis=0)
    cfg = dict(VMIN, round_to_kms=0.0)
    np.testing.assert_allclose(bin_vmin(lo, hi, potentials, **cfg)[0], raw)
    np.testing.assert_allclose(
        bin_vmin(lo, hi, potentials, **dict(VMIN, rounding="nearest"))[0], np.round(raw / 10) * 10
    )
    np.testing.assert_allclose(bin_vmin(lo, hi, potentials, **dict(VMIN, rounding="down"))[0], np.floor(raw / 10) * 10)
    v_lo, r_lo = bin_vmin(lo, hi, potentials, **dict(cfg, evaluate_at="lower_edge"))
    np.testing.assert_allclose(r_lo, lo)
    assert np.all(v_lo > raw)
    # a bin whose evaluation radius is inside 12 kpc keeps the fixed inner threshold
    assert bin_vmin([10.5], [12.5], potentials, **VMIN)[0][0] == 300.0
    with pytest.raises(ValueError, match="evaluate_at"):
        bin_vmin(lo, hi, potentials, **dict(VMIN, evaluate_at="centroid"))
    with pytest.raises(ValueError, match="rounding"):
        bin_vmin(lo, hi, potentials, **dict(VMIN, rounding="banker"))


def test_rescale_rejects_bad_mass():
    with pytest.raises(ValueError, match="virial mass"):
        rescale_halo(scaled_mwpotential2014(R0, VC), -1.0, **VIRIAL)
