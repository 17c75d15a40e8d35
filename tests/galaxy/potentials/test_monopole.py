"""The monopole of a galaxy and its table: spherical components are their own monopole,
disks are averaged over angles (checked against Gauss's theorem), and the table
interpolates to 1e-8 with a point-mass extension."""

from __future__ import annotations

import numpy as np
import pytest

from milkyway_mass.galaxy.potentials.baryons import MiyamotoNagai, Plummer
from milkyway_mass.galaxy.potentials.composite import enclosed_mass
from milkyway_mass.galaxy.potentials.halos import EinastoHalo, NFWHalo
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable, _fixed_angular_average, angular_average, monopole
from milkyway_mass.galaxy.units import G

R = np.geomspace(0.05, 500.0, 37)


def test_spherical_components_are_their_own_monopole_and_angular_averaging_agrees():
    for component in (NFWHalo(1e7, 15.0), EinastoHalo(3e6, 20.0, 5.0), Plummer(1e10, 0.3)):
        phi, dphi = component.monopole(R)
        np.testing.assert_allclose(phi, component.potential(R, 0.0), rtol=1e-12)
        np.testing.assert_allclose(dphi, component.dphi_dR(R, 0.0), rtol=1e-12)
        averaged = angular_average(component, R)
        np.testing.assert_allclose(averaged[0], phi, rtol=1e-10)
        np.testing.assert_allclose(averaged[1], dphi, rtol=1e-10)


def test_disk_monopole_force_is_the_enclosed_mass():
    """Gauss: r² dPhi0/dr = G M(<r); and Phi0 is the integral of its own radial force."""
    disk = MiyamotoNagai(4e10, 3.0, 0.3)
    phi, dphi = monopole([disk], R)
    np.testing.assert_allclose(R**2 * dphi / G, enclosed_mass([disk], R, n_nodes=512), rtol=2e-4)
    step = 1e-4
    plus, minus = monopole([disk], R * (1 + step))[0], monopole([disk], R * (1 - step))[0]
    np.testing.assert_allclose((plus - minus) / (2 * step * R), dphi, rtol=1e-5)


def test_table_interpolates_the_potential_and_extends_it():
    halo = NFWHalo(1e7, 15.0)
    table = MonopoleTable.from_components([halo, Plummer(1e10, 0.3)])
    r = np.geomspace(2e-3, 9e3, 301)
    exact = monopole([halo, Plummer(1e10, 0.3)], r)[0]
    np.testing.assert_allclose(table.potential(r)[0], exact, rtol=1e-8)
    r_max, r_min = np.exp(table.ln_r_max), 1e-3
    phi_max = monopole([halo, Plummer(1e10, 0.3)], np.array([r_max]))[0][0]
    assert table.potential(np.array([10 * r_max]))[0, 0] == pytest.approx(phi_max / 10, rel=1e-9)
    phi_min = monopole([halo, Plummer(1e10, 0.3)], np.array([r_min]))[0][0]
    assert table.potential(np.array([r_min / 10]))[0, 0] == pytest.approx(phi_min, rel=1e-9)


def test_table_vectorises_over_walkers_and_evaluates_per_point_walkers():
    halos = NFWHalo(np.array([[1e7], [2e7]]), np.array([[15.0], [8.0]]))
    table = MonopoleTable.from_components([halos])
    r = np.array([0.5, 8.0, 60.0])
    np.testing.assert_allclose(table.potential(r), halos.potential(r, 0.0), rtol=1e-8)
    walker = np.array([1, 0, 1])
    picked = table.potential_ln_r(np.log(r), walker)
    np.testing.assert_allclose(picked, halos.potential(r, 0.0)[walker, [0, 1, 2]], rtol=1e-8)


def test_table_needs_log_spaced_radii():
    with pytest.raises(ValueError, match="log-spaced"):
        MonopoleTable.from_arrays(np.linspace(1, 10, 8), np.zeros(8), np.zeros(8))


def test_monopole_of_fixed_components_is_kept_and_of_walker_parameters_recomputed():
    """A disk with scalar parameters (fixed baryons) is averaged once per set of radii and
    then reused, read-only and equal to a fresh average; per-walker parameters are averaged
    every call."""
    disk = MiyamotoNagai(4e10, 3.0, 0.3)
    fresh = angular_average(disk, R)
    first = monopole((disk,), R)
    hits = _fixed_angular_average.cache_info().hits
    first[0][:] = 0.0
    again = monopole((disk,), R)
    assert _fixed_angular_average.cache_info().hits == hits + 1
    np.testing.assert_array_equal(again[0], fresh[0])
    np.testing.assert_array_equal(again[1], fresh[1])
    np.testing.assert_array_equal(monopole((disk,), R[:5])[0], fresh[0][:5])
    walkers = MiyamotoNagai(np.array([[4e10], [2e10]]), 3.0, 0.3)
    np.testing.assert_allclose(monopole((walkers,), R)[0], np.vstack([fresh[0], 0.5 * fresh[0]]), rtol=1e-12)
