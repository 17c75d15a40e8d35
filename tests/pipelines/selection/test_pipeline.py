"""`kinematics` + `selection` end to end on a small synthetic galaxy, with the real `ci` configuration."""

from pathlib import Path

import astropy.coordinates as coord
import astropy.units as u
import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from milkyway_mass.galaxy.coordinates import galactocentric_frame
from milkyway_mass.pipelines.kinematics.pipeline import (
    create_pipeline as kinematics_pipeline,
)
from milkyway_mass.pipelines.selection.pipeline import (
    create_pipeline as selection_pipeline,
)
from milkyway_mass.schemas import (
    CUT_FLOW_COLUMNS,
    GALACTOCENTRIC_COLUMNS,
    RADIAL_BIN_COLUMNS,
    STARS_6D_COLUMNS,
)

CONF = Path(__file__).resolve().parents[3] / "conf"


class _KeptDataset(MemoryDataset):
    """A MemoryDataset that the runner cannot release, so intermediate results can be inspected."""

    def _release(self) -> None:
        pass


def _params() -> dict:
    loader = OmegaConfigLoader(str(CONF), base_env="base", default_run_env="ci", merge_strategy={"parameters": "soft"})
    return loader["parameters"]


def _galaxy_stars_6d(frame: dict, n_disk: int = 3000, n_halo: int = 600, seed: int = 0) -> pd.DataFrame:
    """A rotating disk near the Sun (prograde, metal-rich) and an isotropic metal-poor halo."""
    rng = np.random.default_rng(seed)
    R, phi = rng.uniform(4, 13, n_disk), np.pi + rng.uniform(-0.4, 0.4, n_disk)
    vc = 230.0
    disk = dict(
        x=R * np.cos(phi),
        y=R * np.sin(phi),
        z=rng.normal(0, 0.4, n_disk),
        vx=vc * np.sin(phi) + rng.normal(0, 30, n_disk),
        vy=-vc * np.cos(phi) + rng.normal(0, 30, n_disk),
        vz=rng.normal(0, 20, n_disk),
    )
    r, cth, ph = rng.uniform(4, 50, n_halo), rng.uniform(-1, 1, n_halo), rng.uniform(0, 2 * np.pi, n_halo)
    halo = dict(
        x=r * np.sqrt(1 - cth**2) * np.cos(ph),
        y=r * np.sqrt(1 - cth**2) * np.sin(ph),
        z=r * cth,
        vx=rng.normal(0, 220, n_halo),
        vy=rng.normal(0, 220, n_halo),
        vz=rng.normal(0, 220, n_halo),
    )
    c = {k: np.r_[disk[k], halo[k]] for k in disk}
    icrs = coord.SkyCoord(
        x=c["x"] * u.kpc,
        y=c["y"] * u.kpc,
        z=c["z"] * u.kpc,
        v_x=c["vx"] * u.km / u.s,
        v_y=c["vy"] * u.km / u.s,
        v_z=c["vz"] * u.km / u.s,
        frame=galactocentric_frame(frame),
    ).icrs
    n = n_disk + n_halo
    dist = icrs.distance.kpc
    stars = pd.DataFrame(
        {
            "obsid": np.arange(n),
            "source_id": np.arange(n) + 10**15,
            "ra": icrs.ra.deg,
            "dec": icrs.dec.deg,
            "dist": dist,
            "dist_err": dist * rng.uniform(0.05, 0.6, n),
            "rv": icrs.radial_velocity.to_value(u.km / u.s),
            "rv_err": 5.0,
            "pmra": icrs.pm_ra_cosdec.to_value(u.mas / u.yr),
            "pmdec": icrs.pm_dec.to_value(u.mas / u.yr),
            "pmra_error": 0.03,
            "pmdec_error": 0.03,
            "pmra_pmdec_corr": 0.2,
            "parallax": 1 / dist,
            "parallax_error": 0.05,
            "ruwe": 1.0,
            "feh": np.r_[rng.normal(-0.2, 0.2, n_disk), rng.normal(-1.5, 0.4, n_halo)],
            "teff": 4500.0,
            "logg": 2.5,
        }
    )
    return stars[list(STARS_6D_COLUMNS)]


@pytest.fixture(scope="module")
def run():
    params = _params()
    stars = _galaxy_stars_6d(params["galaxy_frame"])
    ingest = pd.DataFrame(
        [
            {
                "pipeline": "ingest",
                "cut": "full 6D phase space",
                "binning": "all",
                "n_stars": len(stars),
                "n_removed": 0,
                "note": "",
            }
        ]
    )
    pipe = kinematics_pipeline() + selection_pipeline()
    catalog = DataCatalog({"stars_6d": MemoryDataset(stars), "cut_flow_ingest": MemoryDataset(ingest)})
    for name in pipe.inputs() - {"stars_6d", "cut_flow_ingest"}:
        value = params
        for key in name.removeprefix("params:").split("."):
            value = value[key]
        catalog[name] = value
    keep = {
        "stars_galactocentric",
        "reference_vesc_curves",
        "radial_bins",
        "selected_stars_bin1",
        "selected_stars_bin2",
        "cut_flow",
        "fig_vgc_rgc",
        "fig_halo_separation",
    }
    for name in keep:
        catalog[name] = _KeptDataset()
    SequentialRunner().run(pipe, catalog)
    return {name: catalog[name].load() for name in keep}, stars


def test_outputs_follow_the_contracts(run):
    out, stars = run
    assert list(out["stars_galactocentric"].columns) == list(STARS_6D_COLUMNS) + list(GALACTOCENTRIC_COLUMNS)
    assert len(out["stars_galactocentric"]) == len(stars)
    bins = out["radial_bins"]
    assert list(bins.columns) == list(RADIAL_BIN_COLUMNS) and len(bins) == 24
    for name in ("bin1", "bin2"):
        sel = out[f"selected_stars_{name}"]
        assert list(sel.columns) == list(out["stars_galactocentric"].columns) + ["binning", "bin", "v_min"]
        assert len(sel) > 50 and (sel["binning"] == name).all()
        assert (sel["v_gc"] >= sel["v_min"]).all() and (sel["v_gc"] < 700).all()
        counts = sel.groupby("bin").size()
        b = bins[bins["binning"] == name].set_index("bin")
        assert b["n_stars"].sum() == len(sel)
        assert (b.loc[counts.index, "n_stars"] == counts).all()
    assert isinstance(out["fig_vgc_rgc"], Figure) and isinstance(out["fig_halo_separation"], Figure)


def test_cut_flow_adds_up_and_disk_is_rejected(run):
    out, stars = run
    flow = out["cut_flow"]
    assert list(flow.columns) == list(CUT_FLOW_COLUMNS)
    assert flow["cut"].iloc[0] == "full 6D phase space"
    assert flow["binning"].tolist() == ["all"] * 3 + ["bin1"] * 3 + ["bin2"] * 3
    n_quality = flow["n_stars"].iloc[2]
    assert flow["n_stars"].iloc[1] + flow["n_removed"].iloc[1] == len(stars)
    for name in ("bin1", "bin2"):
        part = flow[flow["binning"] == name]
        assert part["n_removed"].sum() + part["n_stars"].iloc[-1] == n_quality
        assert part["n_stars"].iloc[-1] == len(out[f"selected_stars_{name}"])
    selected = out["selected_stars_bin1"]
    assert (selected["obsid"] >= 3000).mean() > 0.97  # halo stars (obsid >= 3000) dominate the selection
