"""hooks: the provenance of a run (input files, git commit) and the node timings."""

from __future__ import annotations

import hashlib
import subprocess

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.yaml import YAMLDataset

from milkyway_mass.hooks import RunManifestHook, file_sha256, git_commit, input_files


def test_input_files_are_the_free_file_inputs_with_their_sha256(tmp_path):
    raw = tmp_path / "raw.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(raw, index=False)
    (tmp_path / "v.csv").mkdir()  # a versioned dataset's folder of versions
    catalog = DataCatalog(
        {
            "raw": CSVDataset(filepath=str(raw)),
            "missing": CSVDataset(filepath=str(tmp_path / "not_there.csv")),
            "memory": MemoryDataset(1),
            "made": CSVDataset(filepath=str(tmp_path / "made.csv")),
            "versioned": CSVDataset(filepath=str(tmp_path / "v.csv"), version=Version(None, None)),
        }
    )
    pipe = Pipeline(
        [
            node(lambda a, b, c, d, p: a, ["raw", "missing", "memory", "versioned", "params:x"], "made"),
            node(lambda a: a, "made", "out"),
        ]
    )
    out = input_files(pipe, catalog)
    assert out == {"raw": {"path": str(raw), "sha256": hashlib.sha256(raw.read_bytes()).hexdigest()}}
    assert file_sha256(raw) == out["raw"]["sha256"]


def test_git_commit_of_a_work_tree_and_of_a_plain_folder(tmp_path):
    assert git_commit(tmp_path) is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("a")
    for args in (["add", "f.txt"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m"]):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True)
    clean = git_commit(tmp_path)
    assert len(clean) == 40
    (tmp_path / "f.txt").write_text("b")
    assert git_commit(tmp_path) == f"{clean}-dirty"


def _manifest_setup(tmp_path):
    table = tmp_path / "table.csv"
    CSVDataset(filepath=str(table), version=Version(None, "2026-01-01T00.00.00.000Z")).save(pd.DataFrame({"a": [1]}))
    catalog = DataCatalog(
        {
            "run_parameters": YAMLDataset(filepath=str(tmp_path / "run_parameters.yml"), version=Version(None, None)),
            "table": CSVDataset(filepath=str(table), version=Version(None, None)),
        }
    )
    return catalog, Pipeline([node(lambda t: t, "table", "out")]), tmp_path / "run_manifests"


def test_run_manifest_records_the_status_and_refuses_inputs_of_unfinished_runs(tmp_path):
    catalog, pipe, folder = _manifest_setup(tmp_path)
    hook = RunManifestHook()
    hook.before_pipeline_run({"run_id": "R1", "env": "ci", "pipeline_names": ["p"]}, pipe, catalog)
    assert yaml.safe_load((folder / "R1.yml").read_text())["status"] == "running"
    hook.on_pipeline_error(ValueError("boom"))
    assert yaml.safe_load((folder / "R1.yml").read_text()) | {} == {
        "run_id": "R1",
        "env": "ci",
        "pipeline_names": ["p"],
        "status": "failed",
        "error": "ValueError: boom",
    }
    # the input's version was written by a run that failed: a later run stops, naming it
    (folder / "2026-01-01T00.00.00.000Z.yml").write_text(yaml.safe_dump({"status": "failed"}))
    with pytest.raises(
        RuntimeError, match=r"input table \(version 2026-01-01T00.00.00.000Z\).*'failed'.*--load-versions"
    ):
        RunManifestHook().before_pipeline_run({"run_id": "R2"}, pipe, catalog)
    (folder / "2026-01-01T00.00.00.000Z.yml").write_text(yaml.safe_dump({"status": "completed"}))
    later = RunManifestHook()
    later.before_pipeline_run({"run_id": "R3"}, pipe, catalog)
    later.after_pipeline_run()
    assert yaml.safe_load((folder / "R3.yml").read_text())["status"] == "completed"
