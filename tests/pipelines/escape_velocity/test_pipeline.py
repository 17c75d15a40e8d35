"""`escape_velocity` wiring, catalog entries and an end-to-end run with the real `ci` configuration."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from milkyway_mass.pipelines.escape_velocity.pipeline import create_pipeline

from .test_nodes import PUBLISHED_BIN1, synthetic_selection

CONF = Path(__file__).resolve().parents[3] / "conf"
PRODUCTS = {
    "vesc_chains_bin1",
    "vesc_chains_bin2",
    "vesc_samples_bin1",
    "vesc_samples_bin2",
    "vesc_table_bin1",
    "vesc_table_bin2",
    "vesc_at_sun",
    "fig_vesc_fits_bin1",
    "fig_vesc_fits_bin2",
    "fig_vesc_corner_bin1",
    "fig_vesc_corner_bin2",
    "fig_vesc_curve",
}


class _KeptDataset(MemoryDataset):
    """A MemoryDataset that the runner cannot release, so intermediate results can be inspected."""

    def _release(self) -> None:
        pass


def _loader(env: str) -> OmegaConfigLoader:
    return OmegaConfigLoader(str(CONF), base_env="base", default_run_env=env, merge_strategy={"parameters": "soft"})


def test_pipeline_inputs_and_outputs():
    pipe = create_pipeline()
    assert pipe.inputs() == {
        "selected_stars_bin1",
        "selected_stars_bin2",
        "radial_bins",
        "published_vesc_bin1",
        "params:escape_velocity",
        "params:galaxy_frame",
    }
    assert pipe.all_outputs() == PRODUCTS


def test_figures_read_the_vesc_tables_and_the_published_curve():
    nodes = {n.name: n for n in create_pipeline().nodes}
    for name in ("bin1", "bin2"):
        assert f"vesc_table_{name}" in nodes[f"plot_vesc_fits_{name}"].inputs
    assert "published_vesc_bin1" in nodes["plot_vesc_curve"].inputs
    catalog = DataCatalog.from_config(_loader("base")["catalog"])
    filepath = Path(catalog.get("published_vesc_bin1")._describe()["filepath"])
    assert filepath == PUBLISHED_BIN1.relative_to(CONF.parent)


def test_every_product_is_a_versioned_catalog_entry():
    catalog = DataCatalog.from_config(_loader("base")["catalog"])
    paths = set()
    for name in PRODUCTS:
        dataset = catalog.get(name)
        assert dataset is not None and not isinstance(dataset, MemoryDataset), name
        described = dataset._describe()
        assert described.get("version") is not None, f"{name} is not versioned"
        paths.add(str(described["filepath"]))
    assert len(paths) == len(PRODUCTS)


def test_ci_parameters_are_fast_and_base_parameters_are_published():
    base = _loader("base")["parameters"]["escape_velocity"]
    ci = _loader("ci")["parameters"]["escape_velocity"]
    assert base["likelihood"] == "published"
    assert (base["sampler"]["n_walkers"], base["sampler"]["n_burn"], base["sampler"]["n_keep"]) == (50, 2000, 3000)
    assert base["priors"]["k_ranges"] == [[0.1, 2.5], [0.1, 3.7]] and base["sigma_out_kms"] == 1000.0
    assert ci["sampler"]["n_walkers"] * (ci["sampler"]["n_burn"] + ci["sampler"]["n_keep"]) <= 16 * 300
    assert ci["priors"] == base["priors"]  # soft merge keeps the science settings


@pytest.mark.slow
def test_pipeline_end_to_end_in_ci():
    params = _loader("ci")["parameters"]
    s1, s2, bins = synthetic_selection(n_per_bin=(4, 60, 90, 50), seed=2)
    catalog = DataCatalog(
        {
            "selected_stars_bin1": MemoryDataset(s1),
            "selected_stars_bin2": MemoryDataset(s2),
            "radial_bins": MemoryDataset(bins),
            "published_vesc_bin1": MemoryDataset(pd.read_csv(PUBLISHED_BIN1)),
            "params:escape_velocity": MemoryDataset(params["escape_velocity"]),
            "params:galaxy_frame": MemoryDataset(params["galaxy_frame"]),
        }
    )
    for name in PRODUCTS:
        catalog[name] = _KeptDataset()
    SequentialRunner().run(create_pipeline(), catalog)
    for binning in ("bin1", "bin2"):
        table = catalog[f"vesc_table_{binning}"].load()
        assert list(table["bin"]) == [0, 1, 2, 3]
        assert table.loc[0, "status"].startswith("skipped")
        assert (table.loc[1:, "status"] == "ok").all() and table.loc[1:, "vesc_median"].between(300, 1000).all()
        samples = catalog[f"vesc_samples_{binning}"].load()
        assert set(samples["bin"]) == {1, 2, 3} and (samples["binning"] == binning).all()
        assert isinstance(catalog[f"fig_vesc_fits_{binning}"].load(), Figure)
    sun = catalog["vesc_at_sun"].load()
    for binning in ("bin1", "bin2"):
        assert sun[binning]["interpolated"]["status"] == "ok"
        assert np.isfinite(sun[binning]["interpolated"]["median"])
    assert isinstance(catalog["fig_vesc_curve"].load(), Figure)
