"""Project hooks: the resolved parameters of every run, and the time and memory of every node."""

from __future__ import annotations

import logging
import resource
import sys
import time
from typing import Any

import pandas as pd
from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


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


def cpu_seconds(*who: int) -> float:
    """CPU time [s] (user + system) of ``who`` (``resource.RUSAGE_SELF`` and / or
    ``RUSAGE_CHILDREN``: finished child processes); by default of both."""
    usages = [resource.getrusage(w) for w in who or (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usages)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory [MB] of this process (``RUSAGE_SELF``) or of its largest finished
    child process (``RUSAGE_CHILDREN``)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, kB elsewhere


class RunTimingHook:
    """Wall time, CPU time and peak memory of every node, logged as each node finishes and saved
    at the end of the run as the versioned table ``run_timings``.

    Columns: node, namespace, wall_s, cpu_s (this process plus the worker processes that
    finished during the node: a node on two busy workers shows about twice its wall time),
    save_s (wall time of writing the node's outputs, which Kedro does after the node: a
    figure is rendered then), peak_rss_mb (this process so far) and peak_rss_children_mb
    (largest finished worker so far). The nodes run one after another in this process
    (Kedro's sequential runner).
    """

    def __init__(self) -> None:
        self._rows: list[dict[str, Any]] = []
        self._started: dict[str, tuple[float, float]] = {}
        self._saving: dict[str, float] = {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._rows, self._started, self._saving = [], {}, {}

    @hook_impl
    def before_node_run(self, node) -> None:
        self._started[node.name] = (time.perf_counter(), cpu_seconds())

    @hook_impl
    def after_node_run(self, node) -> None:
        wall0, cpu0 = self._started.pop(node.name)
        row = {
            "node": node.name,
            "namespace": node.namespace or "",
            "wall_s": time.perf_counter() - wall0,
            "cpu_s": cpu_seconds() - cpu0,
            "save_s": 0.0,
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_children_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        }
        self._rows.append(row)
        logger.info("node %s: %.1f s wall, %.1f s CPU", node.name, row["wall_s"], row["cpu_s"])

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node) -> None:
        self._saving[dataset_name] = time.perf_counter()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node) -> None:
        seconds = time.perf_counter() - self._saving.pop(dataset_name)
        row = next((r for r in reversed(self._rows) if r["node"] == node.name), None)
        if row is not None:
            row["save_s"] += seconds

    @hook_impl
    def after_pipeline_run(self, catalog) -> None:
        catalog.save("run_timings", pd.DataFrame(self._rows))
