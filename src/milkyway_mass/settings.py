"""Project settings (see https://docs.kedro.org/en/stable/configure/configuration_basics/)."""

from kedro.config import OmegaConfigLoader

from milkyway_mass.hooks import RunManifestHook, RunParametersHook, RunTimingHook
from milkyway_mass.session import MilkyWaySession

HOOKS = (RunManifestHook(), RunParametersHook(), RunTimingHook())

SESSION_CLASS = MilkyWaySession

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment's parameter file may override a single nested key.
    "merge_strategy": {"parameters": "soft"},
}
