"""Stäckel actions of the cluster draws: the galpy potential equals ours (exactly for analytic
components, within the stand-ins' accuracy for the McMillan-type baryons), the focal distances,
the likelihood equals the spherical one in a spherical potential, and the importance weights."""

from __future__ import annotations

import numpy as np
import pytest
from galpy.potential import (
    MiyamotoNagaiPotential,
    NFWPotential,
    TriaxialNFWPotential,
    evaluatePotentials,
    evaluateRforces,
    evaluatezforces,
)

from milkyway_mass.galaxy.fitting import Posterior, Prior
from milkyway_mass.galaxy.globular_clusters.draws import draw_clusters
from milkyway_mass.galaxy.globular_clusters.likelihood import DF_PARAMETERS, GlobularClusterTerm
from milkyway_mass.galaxy.globular_clusters.staeckel import (
    LENGTH_UNIT_KPC,
    SPEED_UNIT_KMS,
    SPHERICAL_DELTA_KPC,
    StaeckelPosterior,
    focal_distances,
    galpy_potential,
    importance_weights,
    model_potential,
    reweight_to_staeckel,
    sample_staeckel_posterior,
    staeckel_actions,
    staeckel_log_likelihood,
)
from milkyway_mass.galaxy.model import HALO_FAMILIES, MassModel
from milkyway_mass.galaxy.potentials.baryon_tables import ScfSettings, TableGrid
from milkyway_mass.galaxy.potentials.baryons import FixedBaryons, McMillanBaryons, MiyamotoNagai, Plummer
from milkyway_mass.galaxy.potentials.composite import GalaxyModel, dphi_dR, dphi_dz, potential
from milkyway_mass.galaxy.potentials.halos import EinastoHalo, NFWHalo
from tests.galaxy.globular_clusters.test_catalogue import CATALOGUE, read_catalogue
from tests.galaxy.globular_clusters.test_draws import FRAME

V2 = SPEED_UNIT_KMS**2
FORCE = V2 / LENGTH_UNIT_KPC
DF = {"slope_in": 1.0, "slope_out": 6.0, "steepness": 1.0, "ln_J0": 7.6, "h_r": 0.8, "h_z": 1.2}
DF |= {"g_r": 1.1, "g_z": 0.9, "rotation": -0.2}


def test_galpy_potential_equals_the_components():
    components = [Plummer(1e10, 0.3), MiyamotoNagai(4e10, 3.0, 0.3), NFWHalo(1e7, 15.0), EinastoHalo(2e6, 20.0, 4.0)]
    pot = galpy_potential(components)
    R, z = np.array([0.5, 4.0, 8.0, 30.0, 120.0]), np.array([0.1, -1.0, 2.0, 10.0, 50.0])
    x, y = R / LENGTH_UNIT_KPC, z / LENGTH_UNIT_KPC
    np.testing.assert_allclose(evaluatePotentials(pot, x, y) * V2, potential(components, R, z), rtol=2e-5)
    np.testing.assert_allclose(-evaluateRforces(pot, x, y) * FORCE, dphi_dR(components, R, z), rtol=1e-5)
    np.testing.assert_allclose(-evaluatezforces(pot, x, y) * FORCE, dphi_dz(components, R, z), rtol=1e-5)
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


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_draws_galpy_fails_on_take_their_monopole_actions():
    """A cluster whose bound draws galpy cannot solve (nearly unbound orbits beyond its 300 kpc
    search) keeps a finite likelihood from the monopole actions: in a spherical potential the
    spherical one; unbound draws stay at f = 0."""
    clusters = read_catalogue().dropna(subset=["vlos"]).iloc[:6]
    draws = draw_clusters(clusters, 5, seed=3, galaxy_frame=FRAME)
    galaxy = GalaxyModel((Plummer(1e10, 0.5),), NFWHalo(1e7, 15.0), {f"gc_{k}": np.array([[v]]) for k, v in DF.items()})
    term = GlobularClusterTerm(draws)
    actions = staeckel_actions(draws, galpy_potential(galaxy.components))
    assert actions["solved"][0].all()
    failing = {**actions, "solved": actions["solved"].copy()}
    failing["solved"][0] = False
    spherical = float(term.log_likelihood(galaxy)[0])
    assert staeckel_log_likelihood(term, galaxy, actions=failing) == pytest.approx(spherical, abs=1e-4)
    unbound = {**failing, "bound": failing["bound"].copy()}
    unbound["bound"][0] = False
    assert staeckel_log_likelihood(term, galaxy, actions=unbound) == -np.inf


def test_importance_weights_and_effective_sample_size():
    w, ess = importance_weights(np.zeros(50), np.full(50, 3.0))
    np.testing.assert_allclose(w, 1 / 50)
    assert ess == pytest.approx(50.0)
    w, ess = importance_weights(np.array([0.0, -50.0, -np.inf]), np.zeros(3))
    assert ess == pytest.approx(1.0) and w[2] == 0.0
    with pytest.raises(ValueError, match="no sample"):
        importance_weights(np.full(2, -np.inf), np.zeros(2))


def test_mcmillan_stand_ins_follow_the_tabulated_baryons():
    """Disks as three Miyamoto-Nagai disks, bulge and gas as monopoles: in-plane forces within a
    few per cent of the tables where the disks matter; tabulated baryons need their model."""
    baryons = McMillanBaryons(scf=ScfSettings(10, 10, 20.525), grid=TableGrid(n_R=41, n_rd=6)).build_tables()
    model = MassModel(HALO_FAMILIES["nfw"], baryons)
    theta = np.array([12.0, 10.0, 98.4, 896.0, 2.5, 183.0, 3.02])
    parts = model.components(theta[None, :])
    R = np.array([3.0, 6.0, 8.2, 12.0, 20.0])
    for name in ("thin_disk", "thick_disk"):
        pot = galpy_potential({name: parts[name]}, baryons)
        force = -evaluateRforces(pot, R / LENGTH_UNIT_KPC, 0.0) * FORCE
        np.testing.assert_allclose(force, parts[name].dphi_dR(R, 0.0)[0], rtol=0.05)
    total = -evaluateRforces(model_potential(model, theta), R / LENGTH_UNIT_KPC, 0.0) * FORCE
    np.testing.assert_allclose(total, dphi_dR(model.build(theta[None, :]).components, R, 0.0)[0], rtol=0.03)
    with pytest.raises(ValueError, match="McMillanBaryons model"):
        galpy_potential(parts)


def test_focal_distances():
    """Finite and near zero in a spherical potential, ~kpc near a disk, and the spherical
    value where galpy's estimate has Δ² < 0 (a prolate potential); galpy lengths in 8 kpc."""
    R, z = np.array([1.0, 8.0, 30.0]), np.array([0.5, 1.0, 20.0])
    assert np.all(focal_distances(NFWPotential(amp=10.0, a=2.0), R, z) < 1e-3)
    disk = focal_distances(MiyamotoNagaiPotential(amp=1.0, a=0.4, b=0.04), R, z)
    assert np.all(np.isfinite(disk)) and 0.5 < disk[1] < 10.0
    prolate = focal_distances(TriaxialNFWPotential(amp=10.0, a=2.0, b=1.0, c=1.5), R, z)
    assert np.all(prolate == SPHERICAL_DELTA_KPC)


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
@pytest.mark.parametrize("n_workers", [1, 2])
def test_reweighting_in_a_spherical_potential_keeps_every_sample(n_workers):
    clusters = read_catalogue().dropna(subset=["vlos"]).iloc[:8]
    term = GlobularClusterTerm(draw_clusters(clusters, 4, seed=5, galaxy_frame=FRAME))
    model = MassModel(
        HALO_FAMILIES["nfw"], FixedBaryons({"bulge": Plummer(1e10, 0.5)}), tracer_parameter_names=DF_PARAMETERS
    )
    samples = np.array([[11.9 + 0.1 * i, 12.0, *DF.values()] for i in range(3)])
    result = reweight_to_staeckel(term, model, samples, n_workers=n_workers, chunk=2)
    np.testing.assert_allclose(result["log_l_staeckel"], result["log_l_spherical"], atol=1e-3)
    assert result["effective_sample_size"] == pytest.approx(3.0, rel=1e-3)


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_distant_clusters_are_solved():
    """Clusters whose orbits reach beyond 37.5 kpc, where galpy's C solver gave up when lengths
    were in kpc (Pyxis: every draw failed): solved, and near their spherical likelihood in a
    halo-dominated potential."""
    catalogue = read_catalogue().dropna(subset=["vlos"])
    clusters = catalogue[catalogue["Name"].isin(["Pyxis", "NGC_5694", "Crater", "Eridanus", "Pal_3", "NGC_5466"])]
    term = GlobularClusterTerm(draw_clusters(clusters, 20, seed=3, galaxy_frame=FRAME))
    galaxy = GalaxyModel(
        (Plummer(1e10, 0.5), MiyamotoNagai(5e10, 3.0, 0.3)),
        NFWHalo(6e6, 20.0),
        {f"gc_{k}": np.array([[v]]) for k, v in DF.items()},
    )
    spherical = float(term.log_likelihood(galaxy)[0])
    assert staeckel_log_likelihood(term, galaxy) == pytest.approx(spherical, abs=0.5)


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_staeckel_mcmc_in_a_spherical_potential_samples_the_spherical_posterior():
    """The Stäckel posterior equals the spherical one in a spherical potential (all walkers,
    with and without a process pool); the short MCMC starts from distinct weighted samples and
    keeps its steps; too few samples with weight > 0 to start the walkers raise."""
    clusters = read_catalogue().dropna(subset=["vlos"]).iloc[:8]
    term = GlobularClusterTerm(draw_clusters(clusters, 4, seed=5, galaxy_frame=FRAME))
    model = MassModel(
        HALO_FAMILIES["nfw"], FixedBaryons({"bulge": Plummer(1e10, 0.5)}), tracer_parameter_names=DF_PARAMETERS
    )
    centre = np.array([11.9, 12.0, *DF.values()])
    names = ("log10_M200", "c200", *DF_PARAMETERS)
    half = np.r_[0.5, 5.0, np.full(9, 0.3)]
    prior = Prior.box(names, {n: [c - h, c + h] for n, c, h in zip(names, centre, half)})
    posterior = Posterior(model, prior, (term,))
    rng = np.random.default_rng(1)
    samples = centre + 0.02 * rng.standard_normal((30, len(centre))) * (prior.upper - prior.lower)
    np.testing.assert_allclose(StaeckelPosterior(posterior)(samples[:5]), posterior(samples[:5]), atol=1e-3)
    weights = np.full(30, 1 / 30)
    result = sample_staeckel_posterior(posterior, samples, weights, 22, 2, 0.5, seed=3, n_workers=2)
    assert result["chain"].shape == (1, 22, len(centre)) and np.isfinite(result["log_prob"]).all()
    again = sample_staeckel_posterior(posterior, samples, weights, 22, 2, 0.5, seed=3, n_workers=1)
    np.testing.assert_allclose(again["chain"], result["chain"])
    with pytest.raises(ValueError, match="fewer than the 22 distinct starting points"):
        sample_staeckel_posterior(posterior, samples, np.r_[np.full(10, 0.1), np.zeros(20)], 22, 4, 0.5, seed=3)
