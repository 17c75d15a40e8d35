"""Wiring, parameters and catalog of `halo_mass`, and an end-to-end run on the published curve."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from milkyway_mass.pipelines.halo_mass.pipeline import VARIANTS, create_pipeline
from tests.conftest import PROJECT, load_params

CHAINS = {f"{v}.halo_mass_chain" for v in VARIANTS}
FREE_OUTPUTS = {
    *(f"{v}.{name}" for v in VARIANTS for name in ("halo_mass_corner_plot", "halo_mass_vesc_plot")),
    "halo_mass_summary", "halo_mass_summary_md", "halo_mass_comparison",
}
PERSISTED = CHAINS | FREE_OUTPUTS


def _params(pipe):
    return {p for p in pipe.inputs() if p.startswith("params:")}


def _lookup(params: dict, dotted: str):
    value = params
    for key in dotted.split("."):
        value = value[key]
    return value


def test_measured_pipeline_reads_escape_velocity_outputs():
    pipe = create_pipeline()
    assert pipe.inputs() - _params(pipe) == {"vesc_samples_bin1", "vesc_table_bin1"}
    assert pipe.outputs() == FREE_OUTPUTS and CHAINS <= pipe.all_outputs()


def test_published_pipeline_needs_only_the_published_curve():
    pipe = create_pipeline(curve_source="published")
    assert pipe.inputs() - _params(pipe) == {"published_vesc_bin1"}
    assert pipe.outputs() == {f"published.{name}" for name in FREE_OUTPUTS}
    assert {f"published.{name}" for name in CHAINS} <= pipe.all_outputs()
    assert _params(pipe) == _params(create_pipeline())
    with pytest.raises(ValueError, match="curve_source must be one of"):
        create_pipeline(curve_source="simulated")


@pytest.mark.parametrize("env", ["base", "ci"])
def test_every_parameter_exists(env):
    params = load_params(env)
    for name in _params(create_pipeline()):
        _lookup(params, name.removeprefix("params:"))
    assert set(params["halo_mass"]["vesc_scale"]) == set(VARIANTS)


def test_ci_overrides_only_the_sampler_and_figures():
    base, ci = load_params("base")["halo_mass"], load_params("ci")["halo_mass"]
    assert ci["sampler"]["n_walkers"] < base["sampler"]["n_walkers"] == 100
    assert (base["sampler"]["n_burn"], base["sampler"]["n_keep"]) == (2000, 3000)
    assert ci["sampler"]["seed"] == base["sampler"]["seed"] and ci["model"] == base["model"]


def test_published_environment_runs_the_published_pipeline():
    assert load_params("published")["default_pipeline"] == "halo_mass_published"


def test_outputs_are_versioned_files_and_published_ones_kept_apart():
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    catalog = DataCatalog.from_config(loader["catalog"])
    paths = {}
    for name in {"published_vesc_bin1", *PERSISTED, *(f"published.{n}" for n in PERSISTED)}:
        dataset = catalog.get(name)
        assert dataset is not None and not isinstance(dataset, MemoryDataset), name
        described = dataset._describe()
        paths[name] = str(described["filepath"])
        if name != "published_vesc_bin1":
            assert described.get("version") is not None, f"{name} is not versioned"
    assert len(set(paths.values())) == len(paths)
    assert all("/published/" in p for n, p in paths.items() if n.startswith("published."))


@pytest.mark.slow
def test_published_pipeline_end_to_end_in_ci():
    params = load_params("ci")
    pipe = create_pipeline(curve_source="published")
    curve = pd.read_csv(PROJECT / "data" / "01_raw" / "published" / "published_vesc_bin1.csv")
    catalog = DataCatalog({"published_vesc_bin1": MemoryDataset(curve)})
    for name in _params(pipe):
        catalog[name] = MemoryDataset(_lookup(params, name.removeprefix("params:")))
    out = SequentialRunner().run(pipe, catalog)
    summary = out["published.halo_mass_summary"].load()
    nominal = summary["variants"]["nominal"]
    assert nominal["curve_source"] == "published" and nominal["n_bins"] == 12
    assert 11.5 < nominal["estimates"]["log10_M200"]["median"] < 12.3
    assert summary["variants"]["corrected"]["vesc_scale"] == pytest.approx(1.1)
    assert out["published.halo_mass_comparison"].load().shape[0] == 6
