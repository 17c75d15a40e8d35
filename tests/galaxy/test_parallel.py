import logging

import pytest

from milkyway_mass.galaxy import parallel


def _square(x):
    if x < 0:
        raise ValueError(f"negative input {x}")
    return x * x


@pytest.mark.parametrize("n_workers", [1, 2])
def test_map_jobs_returns_results_in_job_order(n_workers):
    assert parallel.map_jobs(_square, [3, 1, 2], n_workers, progress=False) == [9, 1, 4]


@pytest.mark.parametrize("n_workers", [1, 2])
def test_a_failed_job_is_named(n_workers):
    with pytest.raises(RuntimeError, match=r"square job b failed: negative input -1") as err:
        parallel.map_jobs(_square, [2, -1], n_workers, labels=["a", "b"], desc="square job", progress=False)
    assert isinstance(err.value.__cause__, ValueError)


def test_labels_must_match_jobs():
    with pytest.raises(ValueError, match="1 labels for 2 jobs"):
        parallel.map_jobs(_square, [1, 2], labels=["a"])


def test_no_jobs_no_results():
    assert parallel.map_jobs(_square, [], 2) == []


def test_progress_off_a_terminal_is_a_few_log_lines(monkeypatch, caplog):
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    kwargs = parallel.progress_kwargs("fit x")
    assert kwargs["mininterval"] == parallel.LOG_INTERVAL_S and "file" in kwargs
    with caplog.at_level(logging.INFO, logger="milkyway_mass.progress"):
        with parallel.progress_bar(1000, "fit x", "step") as bar:
            for _ in range(1000):
                bar.update()
    lines = [r.getMessage() for r in caplog.records if r.name == "milkyway_mass.progress"]
    # the bar's first and final states, no carriage returns, nothing in between (it ran in < 30 s)
    assert 1 <= len(lines) <= 3 and all("\r" not in line for line in lines)
    assert lines[-1].startswith("fit x: 100%") and "1000/1000" in lines[-1]


def test_progress_on_a_terminal_is_a_live_bar(monkeypatch):
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    assert parallel.progress_kwargs("fit x") == {"desc": "fit x"}


def test_map_jobs_on_a_dask_scheduler():
    from dask.distributed import LocalCluster  # noqa: PLC0415 - as in map_jobs

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert parallel.map_jobs(_square, [3, 1, 2], scheduler_address=address, progress=False) == [9, 1, 4]
        with pytest.raises(RuntimeError, match="job 1 failed: negative input -1"):
            parallel.map_jobs(_square, [2, -1], scheduler_address=address, desc="job", progress=False)
