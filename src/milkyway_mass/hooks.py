"""Project hooks: the provenance and resolved parameters of every run, its completion status (run
manifests that later partial runs check), and the time and memory of every node."""

from __future__ import annotations

import hashlib
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from milkyway_mass import __version__

logger = logging.getLogger(__name__)


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(path: Path) -> str | None:
    """The git commit checked out at ``path`` (with ``-dirty`` if files differ from it), or None
    when ``path`` is not in a git work tree or git is not installed."""
    try:
        head = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def _input_datasets(pipeline, catalog, versioned: bool):
    """(name, dataset) of the pipeline's free inputs that are datasets (not parameters), either
    the versioned ones (earlier runs' outputs) or the others, in name order."""
    for name in sorted(pipeline.inputs()):
        if name == "parameters" or name.startswith("params:"):
            continue
        dataset = catalog.get(name)
        if dataset is not None and (getattr(dataset, "_version", None) is not None) == versioned:
            yield name, dataset


def input_files(pipeline, catalog) -> dict[str, dict[str, str]]:
    """Every file the pipeline reads but does not write (its unversioned free inputs with a file
    path that exists; versioned datasets are earlier runs' outputs, checked by
    ``RunManifestHook``): ``{dataset: {"path", "sha256"}}``."""
    out = {}
    for name, dataset in _input_datasets(pipeline, catalog, versioned=False):
        path = getattr(dataset, "_filepath", None)
        if path is not None and Path(str(path)).is_file():
            out[name] = {"path": str(path), "sha256": file_sha256(Path(str(path)))}
    return out


class RunParametersHook:
    """Save the provenance of every run as the versioned dataset ``run_parameters``: the run id,
    environment, pipelines and command-line overrides; the package and Kedro versions and the
    git commit of the project; the SHA-256 of every input file; and the resolved parameters
    (after environment merging and ``--params`` overrides), so every versioned result can be
    traced to its code, data and settings.
    """

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        params = catalog.load("parameters")
        project = Path(run_params.get("project_path") or ".")
        record = {
            "run": {
                "run_id": run_params.get("run_id"),
                "env": run_params.get("env"),
                "pipeline_names": run_params.get("pipeline_names"),
                "runtime_params": run_params.get("runtime_params") or {},
                "package_version": __version__,
                "kedro_version": run_params.get("kedro_version"),
                "git_commit": git_commit(project),
            },
            "input_files": input_files(pipeline, catalog),
            "parameters": params,
        }
        catalog.save("run_parameters", record)


class RunManifestHook:
    """Mark every run's outputs as complete or not, and refuse inputs from runs that were not.

    A run writes ``run_manifests/<run id>.yml`` next to ``run_parameters`` (the run id is the
    version of every dataset it saves): ``status`` is ``running`` while it runs, then
    ``completed`` or ``failed`` (with the error). Before a run starts, every versioned input
    it would load from an earlier run (e.g. ``kedro run --pipelines halo_mass``) is checked:
    if the run that wrote that version did not complete, the run stops naming the dataset,
    the version and how to choose another (``--load-versions``). Versions older than the
    manifests are accepted.
    """

    def __init__(self) -> None:
        self._path: Path | None = None
        self._record: dict[str, Any] = {}

    @staticmethod
    def manifest_dir(catalog) -> Path:
        """``run_manifests/``, next to the ``run_parameters`` dataset of ``catalog``."""
        return Path(str(catalog.get("run_parameters")._filepath)).parent / "run_manifests"

    def _write(self, **fields: Any) -> None:
        self._record |= fields
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(yaml.safe_dump(self._record, sort_keys=False))

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        folder = self.manifest_dir(catalog)
        for name, dataset in _input_datasets(pipeline, catalog, versioned=True):
            try:
                version = dataset.resolve_load_version()
            except DatasetError:
                continue  # no version yet: Kedro's own error names it when the dataset is loaded
            manifest = folder / f"{version}.yml"
            if version and manifest.is_file():
                status = yaml.safe_load(manifest.read_text()).get("status")
                if status != "completed":
                    raise RuntimeError(
                        f"input {name} (version {version}) was written by a run whose status is {status!r} "
                        f"({manifest}); rerun the pipelines that write it, or load another version with "
                        f"--load-versions={name}:<version>"
                    )
        self._path = folder / f"{run_params.get('run_id')}.yml"
        self._record = {}
        self._write(
            run_id=run_params.get("run_id"),
            env=run_params.get("env"),
            pipeline_names=run_params.get("pipeline_names"),
            status="running",
        )

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._write(status="completed")

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        if self._path is not None:
            self._write(status="failed", error=f"{type(error).__name__}: {error}")


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
