"""Property-based tests of `ingest` (hypothesis): any table either stops with the project's own
error naming the file, or comes through with every row accounted for in the cut flow."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milkyway_mass.cut_flow import EmptySelectionError
from milkyway_mass.input_schemas import InputSchemaError
from tests.conftest import load_params
from tests.pipelines.ingest.chain import run_ingest_nodes

PARAMS = load_params()
INGEST = PARAMS["ingest"]
SPECIAL = np.array([np.nan, np.inf, -np.inf, -9999.0, 0.0, -1.0, 1e9])
#: Examples per run (each a LAMOST-style and a Gaia-style table: 500 examples are 1,000 generated
#: tables); ``MILKYWAY_MASS_HYPOTHESIS_EXAMPLES`` sets more.
EXAMPLES = int(os.environ.get("MILKYWAY_MASS_HYPOTHESIS_EXAMPLES", "500"))


def _column(rng: np.random.Generator, n: int, lo: float, hi: float, special_share: float) -> np.ndarray:
    """n plausible values in [lo, hi], a share of them replaced by special ones (NaN, inf, -9999, 0, ...)."""
    values = rng.uniform(lo, hi, n)
    special = rng.random(n) < special_share
    values[special] = rng.choice(SPECIAL, special.sum())
    return values


def _ids(rng: np.random.Generator, n: int, special_share: float) -> np.ndarray:
    """Few distinct ids (duplicates and shared ids are common), some -1 / 0 / huge."""
    ids = rng.integers(1, 7, n)
    special = rng.random(n) < special_share
    ids[special] = rng.choice([-1, 0, 2**62], special.sum())
    return ids


@st.composite
def survey_tables(draw):
    """A LAMOST-style and a Gaia-style table of 0-12 rows each, and the ingest settings: sizes,
    the share of special values, the kinds of damage, the pairing (ids then position, position,
    or one catalogue by row), the tracer (K giants or any) and which optional columns the survey
    maps are drawn by hypothesis, the values from a drawn seed."""
    method = draw(st.sampled_from(["id_then_position", "position", "row"]))
    n_lamost = draw(st.integers(0, 12))
    n_gaia = n_lamost if method == "row" else draw(st.integers(0, 12))
    share = draw(st.sampled_from([0.0, 0.1, 0.3, 0.8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lamost = pd.DataFrame(
        {
            "obsid": rng.integers(1, 7, n_lamost),
            "ra": _column(rng, n_lamost, 0, 360, share),
            "dec": _column(rng, n_lamost, -90, 90, share),
            "teff": _column(rng, n_lamost, 3500, 6000, share),
            "logg": _column(rng, n_lamost, 0, 5, share),
            "feh": _column(rng, n_lamost, -3, 0.5, share),
            "rv": _column(rng, n_lamost, -400, 400, share),
            "rv_err": _column(rng, n_lamost, 0.1, 20, share),
            "dist": _column(rng, n_lamost, 0.5, 60, share),
            "dist_err": _column(rng, n_lamost, 0.01, 10, share),
            "gaia_source_id": _ids(rng, n_lamost, share),
        }
    )
    gaia = pd.DataFrame(
        {
            "source_id": _ids(rng, n_gaia, share),
            "ra": _column(rng, n_gaia, 0, 360, share),
            "dec": _column(rng, n_gaia, -90, 90, share),
            "parallax": _column(rng, n_gaia, -1, 2, share),
            "parallax_error": _column(rng, n_gaia, 0.01, 1, share),
            "pmra": _column(rng, n_gaia, -20, 20, share),
            "pmra_error": _column(rng, n_gaia, 0.01, 1, share),
            "pmdec": _column(rng, n_gaia, -20, 20, share),
            "pmdec_error": _column(rng, n_gaia, 0.01, 1, share),
            "pmra_pmdec_corr": _column(rng, n_gaia, -1, 1, share),
            "ruwe": _column(rng, n_gaia, 0.8, 3, share),
        }
    )
    if n_gaia and n_lamost and draw(st.booleans()):  # LAMOST positions at Gaia sources: positional matches
        picks = rng.integers(0, n_gaia, n_lamost)
        lamost["ra"], lamost["dec"] = gaia["ra"].to_numpy()[picks], gaia["dec"].to_numpy()[picks]
    if draw(st.booleans()):  # a masked integer column, as a FITS file gives it
        lamost["obsid"] = pd.array(np.where(rng.random(n_lamost) < share, None, lamost["obsid"]), dtype="Int64")
    if draw(st.integers(0, 9)) == 0:  # Gaia ids stored as floats
        gaia["source_id"] = gaia["source_id"].astype(float)
    settings = INGEST | {
        "crossmatch": INGEST["crossmatch"] | {"method": method},
        "tracer": draw(st.sampled_from(["k_giant", "any"])),
    }
    if draw(st.booleans()):  # a survey without ids, [Fe/H] or pm correlation
        settings["lamost"] = INGEST["lamost"] | {
            "columns": INGEST["lamost"]["columns"] | {"obsid": None, "gaia_source_id": None, "feh": None}
        }
        settings["gaia"] = INGEST["gaia"] | {"columns": INGEST["gaia"]["columns"] | {"pmra_pmdec_corr": None}}
    return lamost, gaia, settings


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(survey_tables())
def test_ingest_stops_with_its_own_error_or_accounts_for_every_row(tables):
    lamost_raw, gaia_raw, settings = tables
    try:
        stars, cut_flow = run_ingest_nodes(lamost_raw, gaia_raw, settings, PARAMS["cut_flow"])
    except InputSchemaError as err:
        assert INGEST["lamost"]["file"] in str(err) or INGEST["gaia"]["file"] in str(err)
        return
    except EmptySelectionError as err:
        assert "no star was left after the cut" in str(err)
        return
    assert int(cut_flow.n_stars.iloc[0]) == len(lamost_raw)
    assert cut_flow.n_stars.iloc[0] - cut_flow.n_removed.sum() == len(stars) > 0
    assert not stars.source_id.duplicated().any()
    assert np.isfinite(stars[["ra", "dec", "rv", "dist", "pmra", "pmdec"]].to_numpy(float)).all()
