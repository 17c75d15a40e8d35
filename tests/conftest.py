"""Shared fixtures: project parameters and a small mock survey built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from milkyway_mass.config import load_parameters
from milkyway_mass.galaxy.mock import TruthGalaxy
from milkyway_mass.pipelines.mock_survey import nodes as mock_nodes

PROJECT = Path(__file__).resolve().parents[1]


def project_copy(root: Path) -> Path:
    """A throw-away Kedro project at ``root``/project: this project's conf/base and pyproject.toml,
    and an empty src folder (the package is installed; Kedro only needs the folder). Add an
    environment under its conf/ and bootstrap it to run the pipelines on other files."""
    project = root / "project"
    shutil.copytree(PROJECT / "conf" / "base", project / "conf" / "base")
    shutil.copy(PROJECT / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir()
    return project


def load_params(env: str = "base") -> dict:
    """The project's resolved parameters (globals interpolated) in environment ``env``."""
    return load_parameters(PROJECT, env)


@pytest.fixture(scope="session")
def shared_params() -> dict:
    return load_params()


@pytest.fixture(scope="session")
def mock_params(shared_params) -> dict:
    return {**shared_params["mock_survey"], "n_stars": 12000, "halo_fraction": 0.5}


@pytest.fixture(scope="session")
def galaxy(mock_params, shared_params) -> TruthGalaxy:
    """The embedded mock's truth potential."""
    return TruthGalaxy.from_config(mock_params["truth"], shared_params["cosmology"], shared_params["galaxy_frame"])


@pytest.fixture(scope="session")
def mock_population(mock_params, shared_params):
    return mock_nodes.generate_population(mock_params, shared_params["galaxy_frame"], shared_params["cosmology"])


@pytest.fixture(scope="session")
def mock_observed(mock_population, mock_params, shared_params):
    return mock_nodes.observe_survey(mock_population, mock_params, shared_params["galaxy_frame"])
