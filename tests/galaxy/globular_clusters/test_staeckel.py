"""Stäckel actions of the cluster draws: the galpy potential equals ours, the likelihood equals the
spherical one in a spherical potential, and the importance weights."""

from __future__ import annotations

import numpy as np
import pytest
from galpy.potential import evaluatePotentials, evaluateRforces, evaluatezforces

from milkyway_mass.galaxy.globular_clusters.draws import draw_clusters
from milkyway_mass.galaxy.globular_clusters.likelihood import GlobularClusterTerm
from milkyway_mass.galaxy.globular_clusters.staeckel import (
    galpy_potential,
    importance_weights,
    staeckel_log_likelihood,
)
from milkyway_mass.galaxy.potentials.baryons import MiyamotoNagai, Plummer
from milkyway_mass.galaxy.potentials.composite import GalaxyModel, dphi_dR, dphi_dz, potential
from milkyway_mass.galaxy.potentials.halos import EinastoHalo, NFWHalo
from tests.galaxy.globular_clusters.test_catalogue import CATALOGUE, read_catalogue
from tests.galaxy.globular_clusters.test_draws import FRAME

DF = {"slope_in": 1.0, "slope_out": 6.0, "steepness": 1.0, "ln_J0": 7.6, "h_r": 0.8, "h_z": 1.2}
DF |= {"g_r": 1.1, "g_z": 0.9, "rotation": -0.2}


def test_galpy_potential_equals_the_components():
    components = [Plummer(1e10, 0.3), MiyamotoNagai(4e10, 3.0, 0.3), NFWHalo(1e7, 15.0), EinastoHalo(2e6, 20.0, 4.0)]
    pot = galpy_potential(components)
    R, z = np.array([0.5, 4.0, 8.0, 30.0, 120.0]), np.array([0.1, -1.0, 2.0, 10.0, 50.0])
    np.testing.assert_allclose(evaluatePotentials(pot, R, z), potential(components, R, z), rtol=1e-7)
    np.testing.assert_allclose(-evaluateRforces(pot, R, z), dphi_dR(components, R, z), rtol=1e-5)
    np.testing.assert_allclose(-evaluatezforces(pot, R, z), dphi_dz(components, R, z), rtol=1e-5)
    with pytest.raises(ValueError, match="one parameter set"):
        galpy_potential([Plummer(np.array([[1e10], [2e10]]), 0.3)])


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_staeckel_likelihood_equals_the_spherical_one_in_a_spherical_potential():
    clusters = read_catalogue().dropna(subset=["vlos"]).iloc[:12]
    draws = draw_clusters(clusters, 5, seed=3, galaxy_frame=FRAME)
    galaxy = GalaxyModel((Plummer(1e10, 0.5),), NFWHalo(1e7, 15.0), {f"gc_{k}": np.array([[v]]) for k, v in DF.items()})
    term = GlobularClusterTerm(draws)
    spherical = float(term.log_likelihood(galaxy)[0])
    assert staeckel_log_likelihood(term, galaxy) == pytest.approx(spherical, abs=1e-4)


def test_importance_weights_and_effective_sample_size():
    w, ess = importance_weights(np.zeros(50), np.full(50, 3.0))
    np.testing.assert_allclose(w, 1 / 50) and ess == pytest.approx(50.0)
    w, ess = importance_weights(np.array([0.0, -50.0, -np.inf]), np.zeros(3))
    assert ess == pytest.approx(1.0) and w[2] == 0.0
    with pytest.raises(ValueError, match="no sample"):
        importance_weights(np.full(2, -np.inf), np.zeros(2))
