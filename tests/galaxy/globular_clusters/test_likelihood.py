"""The globular-cluster term: its sum over clusters and draws, its normalisation, vectorisation
over walkers, and -inf where the DF is invalid or every draw of a cluster is unbound."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.dynamics.double_power_law import DoublePowerLawDF
from milkyway_mass.galaxy.globular_clusters.draws import ClusterDraws
from milkyway_mass.galaxy.globular_clusters.likelihood import DF_PARAMETERS, GlobularClusterTerm
from milkyway_mass.galaxy.potentials.composite import GalaxyModel
from milkyway_mass.galaxy.potentials.halos import NFWHalo
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable

DF = {"slope_in": 1.0, "slope_out": 5.0, "steepness": 1.0, "ln_J0": 7.5, "h_r": 0.8, "h_z": 1.1}
DF |= {"g_r": 1.2, "g_z": 0.9, "rotation": -0.3}


def _draws(n_clusters=4, n_draws=6, seed=0) -> ClusterDraws:
    rng = np.random.default_rng(seed)
    shape = (n_clusters, n_draws)
    r = rng.uniform(3, 60, shape)
    v = rng.uniform(50, 250, shape)
    L = r * v * rng.uniform(0.1, 0.9, shape)
    return ClusterDraws(
        tuple("ABCDEFG"[:n_clusters]), r, v**2, L, L * rng.uniform(-1, 1, shape), rng.normal(size=shape)
    )


def _galaxy(walkers: int = 1, **overrides) -> GalaxyModel:
    halo = NFWHalo(np.full((walkers, 1), 1e7), np.full((walkers, 1), 15.0))
    params = {f"gc_{k}": np.full((walkers, 1), float(overrides.get(k, v))) for k, v in DF.items()}
    return GalaxyModel((), halo, params)


def test_log_likelihood_is_the_log_mean_over_draws_summed_over_clusters_minus_the_normalisation():
    draws = _draws()
    galaxy = _galaxy()
    value = GlobularClusterTerm(draws, rotation_scale=0.7).log_likelihood(galaxy)
    df = DoublePowerLawDF.from_parameters(DF, rotation_scale=0.7)
    actions = spherical_actions(
        MonopoleTable.from_components(galaxy.components), *(getattr(draws, k).ravel() for k in ("r", "v2", "L", "L_z"))
    )
    ln_f = df.log_f(actions["J_r"], actions["J_z"], actions["J_phi"]).reshape(draws.r.shape) + draws.ln_weight
    expected = np.sum(logsumexp(ln_f, axis=1) - np.log(draws.n_draws)) - draws.n_clusters * df.log_normalisation()
    assert value.shape == (1,)
    assert value[0] == pytest.approx(float(expected), rel=1e-12)


def test_walkers_are_scored_independently():
    draws = _draws()
    term = GlobularClusterTerm(draws)
    together = GalaxyModel(
        (),
        NFWHalo(np.array([[1e7], [2e7], [5e6]]), np.array([[15.0], [10.0], [20.0]])),
        {f"gc_{k}": np.array([[v], [v], [v]]) for k, v in DF.items()} | {"gc_ln_J0": np.array([[7.5], [8.0], [7.0]])},
    )
    values = term.log_likelihood(together)
    for w, (rho0, rs, ln_j0) in enumerate([(1e7, 15.0, 7.5), (2e7, 10.0, 8.0), (5e6, 20.0, 7.0)]):
        alone = GalaxyModel(
            (),
            NFWHalo(rho0, rs),
            {f"gc_{k}": np.array([[v]]) for k, v in DF.items()} | {"gc_ln_J0": np.array([[ln_j0]])},
        )
        assert values[w] == pytest.approx(term.log_likelihood(alone)[0], rel=1e-12)


def test_invalid_df_and_all_unbound_clusters_give_minus_infinity():
    draws = _draws()
    assert GlobularClusterTerm(draws).log_likelihood(_galaxy(h_r=2.5, h_z=1.0))[0] == -np.inf
    assert GlobularClusterTerm(draws).log_likelihood(_galaxy(slope_out=2.5))[0] == -np.inf
    fast = ClusterDraws(
        ("A",),
        np.full((1, 3), 10.0),
        np.full((1, 3), 3000.0**2),
        np.full((1, 3), 100.0),
        np.zeros((1, 3)),
        np.zeros((1, 3)),
    )
    assert GlobularClusterTerm(fast).log_likelihood(_galaxy())[0] == -np.inf


def test_one_unbound_draw_only_lowers_its_cluster_mean():
    draws = _draws(n_clusters=1, n_draws=4)
    v2 = draws.v2.copy()
    v2[0, 0] = 3000.0**2
    partly = ClusterDraws(draws.names, draws.r, v2, draws.L, draws.L_z, draws.ln_weight)
    value = GlobularClusterTerm(partly).log_likelihood(_galaxy())[0]
    assert np.isfinite(value)


def test_missing_df_parameters_are_named():
    galaxy = GalaxyModel((), NFWHalo(1e7, 15.0), {n: np.array([[1.0]]) for n in DF_PARAMETERS if n != "gc_rotation"})
    with pytest.raises(ValueError, match="gc_rotation"):
        GlobularClusterTerm(_draws()).log_likelihood(galaxy)
