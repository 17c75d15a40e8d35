"""Benchmark of a whole ``kedro run``: wall time, CPU time and peak memory per pipeline, per node
and per fit (plain script).

    python benchmarks/full_run.py [--env ENV] [--pipelines NAME ...]

Runs ``kedro run`` as a user would (a subprocess, default pipeline of the environment
unless ``--pipelines`` is given), then reads that run's ``run_timings`` table (written by
``hooks.RunTimingHook``) and the wall time of each fit it wrote (``FIT_DATASETS``, found
through the catalog). Writes a Markdown report to
``<data_dir>/08_reporting/benchmarks/full_run_<env>_<time>.md`` and prints it. CPU time
counts this process's finished descendants (the Kedro process and its worker processes);
peak memory is the largest single process's resident set.
"""

from __future__ import annotations

import argparse
import datetime as dt
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from kedro.config import OmegaConfigLoader
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project

from milkyway_mass.hooks import cpu_seconds, peak_rss_mb

PROJECT = Path(__file__).resolve().parents[1]


def _latest_version(dataset_dir: Path, after: str) -> Path | None:
    """The newest version folder of a versioned dataset written at or after the timestamp ``after``."""
    if not dataset_dir.is_dir():
        return None
    versions = sorted(v for v in dataset_dir.iterdir() if v.name >= after)
    return versions[-1] / dataset_dir.name if versions else None


def _pipeline_of_nodes(names: list[str]) -> dict[str, str]:
    """Each node's pipeline among the registered single-stage pipelines (first match)."""
    stages = [name for name in pipelines if name not in ("__default__", "analysis")]
    owner = {}
    for stage in stages:
        for node in pipelines[stage].nodes:
            owner.setdefault(node.name, stage)
    return {name: owner.get(name, "?") for name in names}


#: Catalog entries holding fits: (kind, entry, key of a fit's wall time).
FIT_DATASETS = (
    ("tail", "vesc_chains_bin1", "runtime_s"),
    ("tail", "vesc_chains_bin2", "runtime_s"),
    ("analysis B", "halo_mass_b_chains", "wall_seconds"),
    ("analysis B", "published.halo_mass_b_chains", "wall_seconds"),
)


def _fit_times(catalog: dict, after: str) -> pd.DataFrame:
    """One row per fit written by this run (the ``FIT_DATASETS`` of ``catalog``): kind, name, wall [s]."""
    rows = []
    for kind, entry, key in FIT_DATASETS:
        version = _latest_version(PROJECT / catalog[entry]["filepath"], after)
        if version is None:
            continue
        with version.open("rb") as f:
            fits = pickle.load(f)["fits"]
        rows += [{"fit": kind, "name": f"{entry} {name}", "wall_s": fit[key]} for name, fit in fits.items()]
    return pd.DataFrame(rows, columns=["fit", "name", "wall_s"])


def _markdown(table: pd.DataFrame, floatfmt: str = ".1f") -> str:
    return table.to_markdown(index=False, floatfmt=floatfmt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="Kedro environment (default: Kedro's, i.e. local over base)")
    parser.add_argument("--pipelines", nargs="*", default=None)
    args = parser.parse_args()

    bootstrap_project(PROJECT)
    env = args.env or "local"
    loader = OmegaConfigLoader(
        str(PROJECT / "conf"), base_env="base", default_run_env=env, merge_strategy={"parameters": "soft"}
    )
    data_dir = PROJECT / loader["globals"]["data_dir"]
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%S")
    out = data_dir / "08_reporting/benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    log = out / f"full_run_{env}_{started_at}.log"
    command = [sys.executable, "-m", "kedro", "run"] + (["--env", args.env] if args.env else [])
    if args.pipelines:
        command += ["--pipelines", ",".join(args.pipelines)]
    cpu0, wall0 = cpu_seconds(resource.RUSAGE_CHILDREN), time.perf_counter()
    with log.open("w") as f:
        status = subprocess.run(command, cwd=PROJECT, stdout=f, stderr=subprocess.STDOUT, check=False).returncode
    wall, cpu = time.perf_counter() - wall0, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0
    if status != 0:
        sys.exit(f"kedro run failed (exit {status}); see {log}")

    timings_path = _latest_version(data_dir / "08_reporting/run_timings.csv", started_at)
    if timings_path is None:
        sys.exit(f"no run_timings written by this run under {data_dir / '08_reporting'}")
    nodes = pd.read_csv(timings_path)
    nodes["pipeline"] = nodes["node"].map(_pipeline_of_nodes(list(nodes["node"])))
    per_pipeline = nodes.groupby("pipeline", sort=False)[["wall_s", "cpu_s", "save_s"]].sum().reset_index()
    fits = _fit_times(loader["catalog"], started_at)
    fit_totals = fits.groupby("fit")["wall_s"].agg(["count", "sum", "max"]).reset_index()
    lines = [
        f"# Full run benchmark: `{' '.join(command[2:])}` ({started_at} UTC)",
        "",
        f"- wall time: **{wall:.0f} s** (the Kedro process from start to exit: {nodes['wall_s'].sum():.0f} s in nodes, "
        f"{nodes['save_s'].sum():.0f} s writing their outputs, figures rendered then)",
        f"- CPU time: {cpu:.0f} s (the Kedro process and its workers; {cpu / wall:.0%} of one core's wall time)",
        f"- peak memory (largest single process): {peak_rss_mb(resource.RUSAGE_CHILDREN):.0f} MB",
        f"- log: `{log.relative_to(PROJECT)}`",
        "",
        "## Per pipeline",
        "",
        _markdown(per_pipeline),
        "",
        "## Per node (slowest first)",
        "",
        _markdown(
            nodes.sort_values("wall_s", ascending=False)[
                ["pipeline", "node", "wall_s", "cpu_s", "save_s", "peak_rss_mb"]
            ]
        ),
        "",
        "## Fits (each fit's own wall time; fits run in parallel on workers)",
        "",
        _markdown(fit_totals.rename(columns={"sum": "sum_wall_s", "max": "max_wall_s"})),
        "",
        _markdown(fits.sort_values("wall_s", ascending=False)),
    ]
    report = out / f"full_run_{env}_{started_at}.md"
    report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines), f"\nwritten to {report}", sep="\n")  # noqa: T201


if __name__ == "__main__":
    main()
