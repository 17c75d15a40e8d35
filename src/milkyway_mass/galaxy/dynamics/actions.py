"""Actions in a spherical potential, vectorised over phase-space points and walkers.

For a spherical potential Phi0(r) (a ``potentials.monopole.MonopoleTable``):

    J_phi = L_z,   J_z = J_theta = L - |L_z|,
    J_r   = (1 / pi) ∫_{r_peri}^{r_apo} sqrt(2 (E - Phi0(r)) - L² / r²) dr,

with E = v² / 2 + Phi0(r). The turning points are bracketed in ln r (``BRACKET_STEPS``,
within [R_INNER_KPC, R_OUTER_KPC]) and found by the Illinois variant of false position
(``N_ITERATIONS`` steps); J_r by the midpoint rule in theta with ln r = (ln r_apo + ln r_peri) / 2
- (ln r_apo - ln r_peri) / 2 cos(theta): the integrand is then smooth and periodic in theta
even for nearly radial orbits (the angular-momentum barrier at r_peri spans a fixed range
in ln r), so the rule converges exponentially (``N_RADIAL_NODES`` nodes). Against galpy's
``actionAngleSpherical``: J_r to ~1e-9 typically and 1e-5 at worst (nearly radial orbits).

A point is bound if E < 0 (Phi0 vanishes at infinity) and its apocentre lies inside
R_OUTER_KPC; actions of unbound points are NaN.

Units: kpc, km/s; actions in kpc km/s, energies in (km/s)². Sign convention: J_phi =
L_z of the project's Galactocentric frame (the disk rotates with L_z < 0).
"""

from __future__ import annotations

import numpy as np

from milkyway_mass.galaxy.potentials.monopole import MonopoleTable

__all__ = ["spherical_actions"]

N_ITERATIONS = 12
BRACKET_STEPS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
BLOCK_POINTS = 16384
N_RADIAL_NODES = 10
R_INNER_KPC = 1e-6
R_OUTER_KPC = 1e7


def _p_r2(table: MonopoleTable, ln_r, energy, L2, walker=None):
    """2 (E - Phi0(r)) - L² / r² at r = exp(ln_r) (``walker``: see ``MonopoleTable.potential_ln_r``)."""
    return 2.0 * (energy - table.potential_ln_r(ln_r, walker)) - L2 * np.exp(-2.0 * ln_r)


def _turning_points(table: MonopoleTable, ln_r, energy, L2, v2, n_iterations: int):
    """ln r of (pericentre, apocentre), shape (2, W, N).

    Brackets: the pericentre lies inside ln(L / v) (there p_r² = 2 (Phi0(r) - Phi0(L / v)) >= 0)
    and the apocentre outside the current radius; the other end of each bracket is found by
    stepping away by 0.5, 1, 2, … in ln r until p_r² < 0 (at the latest R_INNER_KPC, resp.
    R_OUTER_KPC), evaluating only the points still searching. Then the Illinois variant of
    false position, which keeps the root bracketed and converges superlinearly."""
    shape = (2, *energy.shape)
    with np.errstate(divide="ignore"):
        ln_inside = np.minimum(np.log(np.sqrt(L2) / np.sqrt(v2)), ln_r)
    positive = np.stack([np.broadcast_to(ln_inside, energy.shape), np.broadcast_to(ln_r, energy.shape)]).ravel()
    energy_2, L2_2 = (np.broadcast_to(a, shape).ravel() for a in (energy, L2))
    walker = np.broadcast_to(np.arange(energy.shape[0])[None, :, None], shape).ravel()
    limits = np.array([np.log(R_INNER_KPC), np.log(R_OUTER_KPC)])
    direction = np.broadcast_to(np.array([-1.0, 1.0])[:, None, None], shape).ravel()
    f_pos = np.maximum(_p_r2(table, positive, energy_2, L2_2, walker), 0.0)
    negative = np.where(direction < 0, limits[0], limits[1])
    f_neg = np.full(positive.shape, -1.0)
    searching = np.arange(positive.size)
    for step in BRACKET_STEPS:
        trial = np.clip(positive[searching] + direction[searching] * step, limits[0], limits[1])
        f = _p_r2(table, trial, energy_2[searching], L2_2[searching], walker[searching])
        done = f < 0
        negative[searching[done]], f_neg[searching[done]] = trial[done], f[done]
        positive[searching[~done]], f_pos[searching[~done]] = trial[~done], f[~done]
        searching = searching[~done]
        if searching.size == 0:
            break
    side = np.zeros(positive.shape, np.int8)
    for _ in range(int(n_iterations)):
        x = positive - f_pos * (positive - negative) / (f_pos - f_neg)
        f = _p_r2(table, x, energy_2, L2_2, walker)
        below = f < 0
        f_pos = np.where(below & (side == -1), 0.5 * f_pos, f_pos)
        f_neg = np.where(~below & (side == 1), 0.5 * f_neg, f_neg)
        negative, f_neg = np.where(below, x, negative), np.where(below, f, f_neg)
        positive, f_pos = np.where(below, positive, x), np.where(below, f_pos, f)
        side = np.where(below, -1, 1).astype(np.int8)
    return (positive - f_pos * (positive - negative) / (f_pos - f_neg)).reshape(shape)


def spherical_actions(
    table: MonopoleTable, r, v2, L, L_z, n_iterations: int = N_ITERATIONS, n_nodes: int = N_RADIAL_NODES
) -> dict[str, np.ndarray]:
    """Actions of points at radius r [kpc] with squared speed v2 [(km/s)²], angular momentum
    L and its z component L_z [kpc km/s] (arrays (N,)) in the W potentials of ``table``.

    Returns ``J_r``, ``J_z``, ``J_phi``, ``energy`` and ``bound``, each of shape (W, N).
    Walkers are processed in blocks of about ``BLOCK_POINTS`` points so that the
    working arrays stay in the processor's cache (the results do not depend on it)."""
    r, v2, L, L_z = (np.asarray(a, dtype=float) for a in (r, v2, L, L_z))
    n_walkers = table.coefficients.shape[0]
    per_block = max(1, BLOCK_POINTS // max(r.size, 1))
    blocks = [
        _block_actions(table.walkers(slice(start, start + per_block)), r, v2, L, L_z, n_iterations, n_nodes)
        for start in range(0, n_walkers, per_block)
    ]
    return {k: np.concatenate([b[k] for b in blocks]) for k in blocks[0]}


def _block_actions(table: MonopoleTable, r, v2, L, L_z, n_iterations: int, n_nodes: int) -> dict[str, np.ndarray]:
    """``spherical_actions`` for the walkers of one block."""
    energy = 0.5 * v2 + table.potential(r)
    L2 = L * L
    bound = (energy < 0) & (_p_r2(table, np.full(energy.shape, np.log(R_OUTER_KPC)), energy, L2) < 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ln_peri, ln_apo = _turning_points(table, np.log(r), energy, L2, v2, n_iterations)
    theta = (np.arange(int(n_nodes)) + 0.5) * np.pi / int(n_nodes)
    centre, half = 0.5 * (ln_apo + ln_peri), 0.5 * (ln_apo - ln_peri)
    ln_radii = centre[..., None] - half[..., None] * np.cos(theta)
    radii = np.exp(ln_radii)
    p_r2 = 2.0 * (energy[..., None] - _potential_nodes(table, ln_radii)) - L2[..., None] / radii**2
    J_r = half * np.mean(np.sqrt(np.maximum(p_r2, 0.0)) * radii * np.sin(theta), axis=-1)
    shape = energy.shape
    nan = np.full(shape, np.nan)
    return {
        "J_r": np.where(bound, J_r, nan),
        "J_z": np.where(bound, np.broadcast_to(L - np.abs(L_z), shape), nan),
        "J_phi": np.where(bound, np.broadcast_to(L_z, shape), nan),
        "energy": energy,
        "bound": bound,
    }


def _potential_nodes(table: MonopoleTable, ln_radii):
    """Phi0 at radii of shape (W, N, n_nodes): the node axis folded into the point axis."""
    W, N, K = ln_radii.shape
    return table.potential_ln_r(ln_radii.reshape(W, N * K)).reshape(W, N, K)
