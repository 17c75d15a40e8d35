"""config.load_parameters: the parameters kedro run would use, per environment."""

from __future__ import annotations

from milkyway_mass.config import load_parameters
from tests.conftest import PROJECT


def test_parameters_follow_the_environment():
    base, ci = load_parameters(PROJECT), load_parameters(PROJECT, "ci")
    assert base["escape_velocity"]["sampler"]["n_walkers"] == 50
    assert ci["escape_velocity"]["sampler"]["n_walkers"] < base["escape_velocity"]["sampler"]["n_walkers"]
    # soft merge: the ci file overrides single keys and keeps the rest of the block
    assert ci["escape_velocity"]["priors"] == base["escape_velocity"]["priors"]
