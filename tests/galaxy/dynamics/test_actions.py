"""Spherical actions against galpy (actionAngleSpherical, and actionAngleStaeckel in a
spherical potential) and against the Kepler closed form."""

from __future__ import annotations

import numpy as np
from galpy.actionAngle import actionAngleSpherical, actionAngleStaeckel
from galpy.potential import NFWPotential, PlummerPotential, evaluatePotentials, evaluateRforces

from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable

# galpy in natural units (lengths and speeds of order 1); the table spans 1e-3 ... 1e4
GALPY_POTENTIAL = NFWPotential(amp=2.0, a=3.0) + PlummerPotential(amp=0.3, b=0.5)


def _galpy_table():
    r = np.geomspace(1e-3, 1e4, 512)
    return MonopoleTable.from_arrays(
        r, evaluatePotentials(GALPY_POTENTIAL, r, 0 * r), -evaluateRforces(GALPY_POTENTIAL, r, 0 * r)
    )


def _orbits(n, seed, position_scale=3.0, speed_scale=0.4):
    rng = np.random.default_rng(seed)
    x, v = rng.normal(size=(n, 3)) * position_scale, rng.normal(size=(n, 3)) * speed_scale
    L = np.cross(x, v)
    R = np.hypot(x[:, 0], x[:, 1])
    cylindrical = {
        "R": R,
        "vR": (x[:, 0] * v[:, 0] + x[:, 1] * v[:, 1]) / R,
        "vT": (x[:, 0] * v[:, 1] - x[:, 1] * v[:, 0]) / R,
        "z": x[:, 2],
        "vz": v[:, 2],
    }
    return np.linalg.norm(x, axis=1), np.sum(v * v, axis=1), np.linalg.norm(L, axis=1), L[:, 2], cylindrical


def _bound_inside_table(actions, table_r_max=1e3):
    """Bound orbits whose energy keeps them well inside the table (E < Phi0(r_max / 10))."""
    return actions["bound"][0] & (actions["energy"][0] < evaluatePotentials(GALPY_POTENTIAL, table_r_max, 0.0))


def test_spherical_actions_match_galpy_actionAngleSpherical():
    r, v2, L, L_z, cyl = _orbits(80, seed=1)
    ours = spherical_actions(_galpy_table(), r, v2, L, L_z)
    keep = _bound_inside_table(ours)
    assert keep.sum() > 50
    jr, jphi, jz = actionAngleSpherical(pot=GALPY_POTENTIAL)(*(cyl[k][keep] for k in ("R", "vR", "vT", "z", "vz")))
    np.testing.assert_allclose(ours["J_r"][0][keep], jr, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours["J_z"][0][keep], jz, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours["J_phi"][0][keep], jphi, rtol=1e-10, atol=1e-12)


def test_spherical_actions_match_staeckel_actions_in_a_spherical_potential():
    r, v2, L, L_z, cyl = _orbits(30, seed=2)
    ours = spherical_actions(_galpy_table(), r, v2, L, L_z)
    keep = _bound_inside_table(ours)
    staeckel = actionAngleStaeckel(pot=GALPY_POTENTIAL, delta=1e-4, c=True)
    jr, jphi, jz = staeckel(*(cyl[k][keep] for k in ("R", "vR", "vT", "z", "vz")))
    solved = (jr < 9999.0) & (jz < 9999.0)  # galpy marks the orbits it fails on with 9999.99
    assert solved.sum() >= 20
    np.testing.assert_allclose(ours["J_r"][0][keep][solved], jr[solved], rtol=1e-4)
    np.testing.assert_allclose(ours["J_z"][0][keep][solved], jz[solved], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours["J_phi"][0][keep][solved], jphi[solved], rtol=1e-10)


def test_radial_action_of_kepler_orbits_is_the_closed_form():
    """Point mass GM = 1: J_r = GM / sqrt(-2E) - L, also for nearly radial orbits."""
    r_grid = np.geomspace(1e-6, 1e4, 800)  # the nearly radial orbit has r_peri ~ 1e-5
    table = MonopoleTable.from_arrays(r_grid, -1.0 / r_grid, 1.0 / r_grid**2)
    r = np.array([1.0, 1.0, 2.0, 5.0, 0.5])
    L = np.array([0.9, 0.05, 0.3, 0.01, 0.6])
    v2 = np.array([1.2, 1.0, 0.6, 0.3, 2.5])
    actions = spherical_actions(table, r, v2, L, 0.5 * L)
    energy = 0.5 * v2 - 1.0 / r
    np.testing.assert_allclose(actions["energy"][0], energy, rtol=1e-8)
    np.testing.assert_allclose(actions["J_r"][0], 1.0 / np.sqrt(-2.0 * energy) - L, rtol=1e-7)


def test_unbound_points_are_flagged_and_get_no_actions():
    r_grid = np.geomspace(1e-3, 1e4, 64)
    table = MonopoleTable.from_arrays(r_grid, -1.0 / r_grid, 1.0 / r_grid**2)
    actions = spherical_actions(table, np.array([1.0, 1.0]), np.array([1.0, 2.5]), np.array([0.5, 0.5]), np.zeros(2))
    assert actions["bound"][0].tolist() == [True, False]
    assert np.isfinite(actions["J_r"][0, 0]) and np.isnan(actions["J_r"][0, 1])


def test_actions_vectorise_over_walkers():
    r_grid = np.geomspace(1e-3, 1e4, 256)
    masses = np.array([[1.0], [2.0], [0.5]])
    table = MonopoleTable.from_arrays(r_grid, -masses / r_grid, masses / r_grid**2)
    r, v2, L = np.array([1.0, 2.0]), np.array([0.5, 0.3]), np.array([0.4, 0.2])
    together = spherical_actions(table, r, v2, L, L)["J_r"]
    for w, m in enumerate(masses[:, 0]):
        alone = MonopoleTable.from_arrays(r_grid, -m / r_grid, m / r_grid**2)
        np.testing.assert_allclose(together[w], spherical_actions(alone, r, v2, L, L)["J_r"][0], rtol=1e-12)
    energy = 0.5 * v2 - masses / r
    np.testing.assert_allclose(together, masses / np.sqrt(-2.0 * energy) - L, rtol=1e-7)
