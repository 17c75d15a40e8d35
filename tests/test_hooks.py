"""hooks: the provenance of a run (input files, git commit) and the node timings."""

from __future__ import annotations

import hashlib
import subprocess

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Pipeline, node
from kedro_datasets.pandas import CSVDataset

from milkyway_mass.hooks import file_sha256, git_commit, input_files


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
