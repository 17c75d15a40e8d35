"""The project's resolved parameters outside a Kedro session (notebooks, benchmarks, tests)."""

from __future__ import annotations

from pathlib import Path

from milkyway_mass.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

__all__ = ["load_parameters"]


def load_parameters(project: str | Path, env: str = "base") -> dict:
    """Parameters of ``project``/conf in environment ``env``, resolved and merged as ``kedro run --env env`` does."""
    loader = CONFIG_LOADER_CLASS(str(Path(project) / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": env})
    return loader["parameters"]
