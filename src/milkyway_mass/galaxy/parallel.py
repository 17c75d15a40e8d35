"""Independent jobs in parallel, and progress reports that suit both a terminal and a log.

- ``progress_kwargs(desc)``: keyword arguments for a tqdm bar (also emcee's
  ``progress_kwargs``): a live bar when standard error is a terminal; otherwise the
  bar is written as plain lines to the ``milkyway_mass`` log, at most one every
  ``LOG_INTERVAL_S`` seconds, so a log file gets a few readable lines per task
  instead of one carriage-return stream.
- ``progress_bar(total, desc, unit, enabled)``: such a bar.
- ``process_pool(n_workers)``: a 'spawn' process pool (None for one worker) for
  callers that submit many small batches to the same processes.
- ``map_jobs(fn, jobs, n_workers, ...)``: ``fn(job)`` for every job, results in job
  order: serially for one worker, else on a 'spawn' process pool of ``n_workers``
  processes, or on an existing ``dask.distributed`` scheduler when its address is
  given (a real cluster). Jobs are submitted in the order given (put the longest
  first); a failure names the job.

Processes are started with 'spawn' (no fork of a threaded parent), so a plain script
calling ``map_jobs`` with more than one worker needs an ``if __name__ == "__main__":``
guard. Results do not depend on the number of workers: each job carries its own seed.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from tqdm.auto import tqdm

__all__ = ["LOG_INTERVAL_S", "map_jobs", "process_pool", "progress_bar", "progress_kwargs"]

logger = logging.getLogger("milkyway_mass.progress")

#: Seconds between two progress lines written to a log (non-interactive runs).
LOG_INTERVAL_S = 30.0


class _LogStream:
    """A file-like target for tqdm that logs each refresh of the bar as one INFO line."""

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        if line:
            logger.info(line)

    def flush(self) -> None:
        """Nothing is buffered."""


def progress_kwargs(desc: str = "") -> dict[str, Any]:
    """tqdm keyword arguments for a bar described by ``desc``: a live bar on a terminal,
    otherwise log lines at most every ``LOG_INTERVAL_S`` seconds (see the module docstring)."""
    if sys.stderr is not None and sys.stderr.isatty():
        return {"desc": desc}
    interval = {"mininterval": LOG_INTERVAL_S, "maxinterval": LOG_INTERVAL_S}  # tqdm's monitor refreshes at maxinterval
    return {"desc": desc, "file": _LogStream(), "ncols": 100, "ascii": True} | interval


def progress_bar(total: int, desc: str = "", unit: str = "it", enabled: bool = True) -> tqdm:
    """A tqdm bar of ``total`` ``unit`` with ``progress_kwargs(desc)``; does nothing unless ``enabled``."""
    return tqdm(total=total, unit=unit, disable=not enabled, **progress_kwargs(desc))


def process_pool(n_workers: int) -> contextlib.AbstractContextManager[ProcessPoolExecutor | None]:
    """A 'spawn' process pool of ``n_workers`` processes, or None (run serially) for one;
    a context manager. For callers that submit many small batches to one pool."""
    if n_workers <= 1:
        return contextlib.nullcontext(None)
    return ProcessPoolExecutor(max_workers=int(n_workers), mp_context=multiprocessing.get_context("spawn"))


def _failed(desc: str, label: str, exc: BaseException) -> RuntimeError:
    return RuntimeError(f"{desc} {label} failed: {exc}".strip())


def map_jobs(
    fn: Callable[[Any], Any],
    jobs: Sequence[Any],
    n_workers: int = 1,
    *,
    labels: Sequence[str] | None = None,
    scheduler_address: str | None = None,
    desc: str = "",
    unit: str = "job",
    progress: bool = True,
) -> list[Any]:
    """``[fn(job) for job in jobs]``, in parallel (see the module docstring).

    ``n_workers`` <= 1 (or a single job) runs in this process; otherwise a 'spawn'
    process pool of min(``n_workers``, len(jobs)) processes, or the ``dask.distributed``
    scheduler at ``scheduler_address`` if given. ``labels`` name the jobs in errors (by
    default their index); ``desc`` and ``unit`` describe the progress bar, which counts
    finished jobs. An exception in a job is raised as ``RuntimeError("<desc> <label>
    failed: ...")`` chained to the original.
    """
    jobs = list(jobs)
    labels = [str(i) for i in range(len(jobs))] if labels is None else [str(label) for label in labels]
    if len(labels) != len(jobs):
        raise ValueError(f"map_jobs: {len(labels)} labels for {len(jobs)} jobs")
    results: list[Any] = [None] * len(jobs)
    with progress_bar(len(jobs), desc, unit, progress and len(jobs) > 0) as bar:
        if scheduler_address:
            from dask.distributed import Client  # noqa: PLC0415 - ~1 s to import; only a cluster needs it
            from dask.distributed import as_completed as dask_as_completed  # noqa: PLC0415

            with Client(scheduler_address) as client:
                futures = client.map(fn, jobs, pure=False)
                index = {f.key: i for i, f in enumerate(futures)}
                for future in dask_as_completed(futures):
                    i = index[future.key]
                    try:
                        results[i] = future.result()
                    except Exception as exc:
                        raise _failed(desc, labels[i], exc) from exc
                    bar.update()
        elif n_workers <= 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                try:
                    results[i] = fn(job)
                except Exception as exc:
                    raise _failed(desc, labels[i], exc) from exc
                bar.update()
        else:
            with process_pool(min(int(n_workers), len(jobs))) as pool:
                futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
                for future in as_completed(futures):
                    i = futures[future]
                    try:
                        results[i] = future.result()
                    except Exception as exc:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise _failed(desc, labels[i], exc) from exc
                    bar.update()
    return results
