"""Project hooks."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl


class RunParametersHook:
    """Save the resolved parameters of every run as the versioned dataset ``run_parameters``.

    The parameters are those after environment merging and command-line
    ``--params`` overrides, so every versioned result can be traced to its settings.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        params = catalog.load("parameters")
        record = {
            "run": {
                "session_id": run_params.get("session_id"),
                "env": run_params.get("env"),
                "pipeline_names": run_params.get("pipeline_names"),
                "runtime_params": run_params.get("runtime_params") or {},
            },
            "parameters": params,
        }
        catalog.save("run_parameters", record)
