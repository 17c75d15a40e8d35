"""The globular-cluster constraint: clusters as tracers of a double-power-law DF in actions.

ln L(theta) = sum over clusters of ln[(1/K) sum over draws of f(J(x_k, v_k); theta) w_k]
              - C ln[(2 pi)³ ∫ f d³J]

(``draws``: K Monte Carlo draws per cluster over its observational errors with their
Jacobian weights w_k; ``dynamics.double_power_law``: f and its normalisation). The
actions are those of the potential's monopole (``dynamics.actions.spherical_actions``
on a ``potentials.monopole.MonopoleTable``), a fast approximation of the axisymmetric
(Stäckel) actions; draws unbound in the trial potential (E >= 0) get f = 0. The
selection function is taken as 1.

The DF parameters are sampled with the potential's, under the names ``DF_PARAMETERS``
(``gc_`` + ``double_power_law.PARAMETER_NAMES``), and reach the term through the
galaxy's ``tracer_params``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.dynamics.double_power_law import PARAMETER_NAMES, DoublePowerLawDF
from milkyway_mass.galaxy.globular_clusters.draws import ClusterDraws
from milkyway_mass.galaxy.potentials.composite import GalaxyModel
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable

__all__ = ["DF_PARAMETERS", "GlobularClusterTerm"]

#: Names of the globular clusters' DF parameters in a fit.
DF_PARAMETERS = tuple(f"gc_{name}" for name in PARAMETER_NAMES)


@dataclass(frozen=True, eq=False)
class GlobularClusterTerm:
    """ln L of the clusters' ``draws`` under the DF (rotation scale ``rotation_scale``) in
    the galaxy's monopole potential, vectorised over walkers: shape (W,)."""

    draws: ClusterDraws
    rotation_scale: float = 1.0
    name: str = "globular_clusters"

    def distribution(self, galaxy: GalaxyModel) -> DoublePowerLawDF:
        params = galaxy.tracer_params
        missing = [n for n in DF_PARAMETERS if n not in params]
        if missing:
            raise ValueError(f"the globular-cluster term needs the DF parameters {missing} in the fit")
        return DoublePowerLawDF.from_parameters(
            {n: params[f"gc_{n}"] for n in PARAMETER_NAMES}, rotation_scale=self.rotation_scale
        )

    def log_likelihood(self, galaxy: GalaxyModel):
        df = self.distribution(galaxy)
        valid = np.broadcast_to(df.valid(), (np.shape(df.valid())[0], 1))[:, 0]
        d = self.draws
        table = MonopoleTable.from_components(galaxy.components)
        actions = spherical_actions(table, d.r.ravel(), d.v2.ravel(), d.L.ravel(), d.L_z.ravel())
        with np.errstate(invalid="ignore", divide="ignore"):
            ln_f = df.log_f(actions["J_r"], actions["J_z"], actions["J_phi"])
            ln_f = np.where(actions["bound"] & np.isfinite(ln_f), ln_f, -np.inf) + d.ln_weight.ravel()
            per_cluster = logsumexp(ln_f.reshape(-1, d.n_clusters, d.n_draws), axis=-1) - np.log(d.n_draws)
            total = np.sum(per_cluster, axis=-1) - d.n_clusters * df.log_normalisation().reshape(-1)
        return np.where(valid & np.isfinite(total), total, -np.inf)
