"""Ingest: schema validation, range checks, K giants, cross-match, full 6D, repeat observations, cut flow."""

import logging

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.cut_flow import EmptySelectionError, append_cut, empty_cut_flow
from milkyway_mass.input_schemas import InputSchemaError
from milkyway_mass.pipelines.ingest import nodes
from milkyway_mass.schemas import STARS_6D_COLUMNS
from tests.conftest import load_params
from tests.pipelines.ingest.chain import run_ingest_nodes

CUT_FLOW = load_params()["cut_flow"]


@pytest.fixture(scope="module")
def ingest():
    return load_params()["ingest"]


def lamost_row(**kw):
    row = {
        "obsid": 1,
        "ra": 100.0,
        "dec": 20.0,
        "teff": 4500.0,
        "logg": 2.5,
        "feh": -1.0,
        "rv": 50.0,
        "rv_err": 5.0,
        "dist": 10.0,
        "dist_err": 1.5,
        "gaia_source_id": 11,
    }
    row.update(kw)
    return row


def gaia_row(**kw):
    row = {
        "source_id": 11,
        "ra": 100.0,
        "dec": 20.0,
        "parallax": 0.1,
        "parallax_error": 0.05,
        "pmra": 1.0,
        "pmra_error": 0.05,
        "pmdec": -1.0,
        "pmdec_error": 0.05,
        "pmra_pmdec_corr": 0.1,
        "ruwe": 1.0,
    }
    row.update(kw)
    return row


def test_missing_column_names_file_and_column(ingest):
    raw = pd.DataFrame([lamost_row()]).drop(columns="dist_err")
    with pytest.raises(InputSchemaError, match=r"mock_lamost_dr8_kgiants\.fits.*'dist_err'"):
        nodes.standardise_lamost(raw, ingest)


def test_non_numeric_column_is_rejected_by_name(ingest):
    raw = pd.DataFrame([gaia_row(pmra="fast")])
    with pytest.raises(InputSchemaError, match=r"mock_gaia_dr3\.parquet: column 'pmra' must be numeric"):
        nodes.standardise_gaia(raw, ingest)


def test_renamed_columns_sentinels_and_parsec_distances(ingest):
    params = {
        **ingest,
        "lamost": {
            **ingest["lamost"],
            "distance_unit": "pc",
            "columns": {**ingest["lamost"]["columns"], "dist": "d_bayes"},
        },
    }
    raw = pd.DataFrame([lamost_row(dist=12000.0), lamost_row(obsid=2, rv=-9999.0)]).rename(columns={"dist": "d_bayes"})
    out = nodes.standardise_lamost(raw, params)
    assert out.dist.iloc[0] == pytest.approx(12.0)
    assert out.dist_err.iloc[0] == pytest.approx(1.5e-3)
    assert np.isnan(out.rv.iloc[1])


def test_missing_value_markers_per_column(ingest):
    """A marker given per column applies to that column only; an unknown column is named."""
    params = ingest | {"lamost": ingest["lamost"] | {"missing_sentinels": {"rv": [-9999.0], "feh": [99.0]}}}
    raw = pd.DataFrame([lamost_row(rv=-9999.0, feh=99.0, dist_err=-9999.0)])
    out = nodes.standardise_lamost(raw, params)
    assert np.isnan(out.rv.iloc[0]) and np.isnan(out.feh.iloc[0]) and out.dist_err.iloc[0] == -9999.0
    params["lamost"]["missing_sentinels"] = {"radial_velocity": [-9999.0]}
    with pytest.raises(InputSchemaError, match="missing_sentinels names 'radial_velocity'"):
        nodes.standardise_lamost(raw, params)


def test_out_of_range_rows_are_counted_by_column(ingest):
    lam = pd.DataFrame([lamost_row(), lamost_row(obsid=2, dec=95.0), lamost_row(obsid=3, ra=-5.0, teff=np.nan)])
    kept, cut_flow = nodes.check_ranges(lam, ingest)
    assert list(kept.obsid) == [1]
    assert cut_flow.n_stars.tolist() == [3, 1]
    assert "dec outside" in cut_flow.note.iloc[1] and "ra outside" in cut_flow.note.iloc[1]


@pytest.mark.parametrize(
    ("teff", "logg", "is_giant"),
    [
        (4000.0, 2.0, False),
        (4000.5, 3.49, True),
        (4500.0, 3.5, False),
        (4600.0, 3.9, True),
        (5599.0, 3.99, True),
        (5600.0, 2.0, False),
        (4800.0, 4.0, False),
        (np.nan, 2.0, False),
    ],
)
def test_k_giant_definition(ingest, teff, logg, is_giant):
    lam = pd.DataFrame([lamost_row(teff=teff, logg=logg)])
    _, cut_flow = nodes.check_ranges(lam, ingest)
    kept, cut_flow = nodes.select_tracer(lam, cut_flow, ingest)
    assert len(kept) == int(is_giant)
    assert cut_flow.n_removed.iloc[-1] == 1 - int(is_giant)


def _match(lamost_rows, gaia_rows, ingest):
    lam = nodes.standardise_lamost(pd.DataFrame(lamost_rows), ingest)
    gaia = nodes.standardise_gaia(pd.DataFrame(gaia_rows), ingest)
    _, cut_flow = nodes.check_ranges(lam, ingest)
    return nodes.cross_match(lam, gaia, cut_flow, ingest)


def test_cross_match_by_id_and_by_position(ingest):
    arcsec = 1 / 3600
    lamost = [
        lamost_row(obsid=1, gaia_source_id=11),  # by id
        lamost_row(obsid=2, ra=110.0, gaia_source_id=-1),  # id missing: by position
        lamost_row(obsid=3, ra=120.0, gaia_source_id=99),  # id unknown, nothing near
        lamost_row(obsid=4, ra=130.0, gaia_source_id=-1),  # two sources in radius
        lamost_row(obsid=5, ra=100.0 + 0.3 * arcsec, gaia_source_id=-1),  # repeat of obsid 1, by position
        lamost_row(obsid=6, ra=140.0, gaia_source_id=66),  # duplicated source_id in Gaia
    ]
    gaia = [
        gaia_row(source_id=11),
        gaia_row(source_id=22, ra=110.0 + 0.5 * arcsec),
        gaia_row(source_id=44, ra=130.0 + 0.3 * arcsec),
        gaia_row(source_id=45, ra=130.0 - 0.3 * arcsec),
        gaia_row(source_id=66, ra=140.0),
        gaia_row(source_id=66, ra=140.0),
        gaia_row(source_id=77, ra=150.0),
    ]
    matched, cut_flow = _match(lamost, gaia, ingest)
    assert dict(zip(matched.obsid, matched.source_id, strict=True)) == {1: 11, 2: 22, 5: 11}
    note = cut_flow.note.iloc[-1]
    assert "no Gaia counterpart: 1" in note
    assert "ambiguous (several Gaia sources in radius, or duplicated Gaia source_id): 2" in note
    assert "by source_id: 1, by position: 2" in note
    assert "repeat observations of an already matched source (kept): 1" in note
    assert cut_flow.n_removed.iloc[-1] == 3


def test_positional_match_respects_the_radius(ingest):
    lamost = [lamost_row(gaia_source_id=-1)]
    far = [gaia_row(ra=100.0 + 1.5 / 3600 / np.cos(np.radians(20.0)))]
    assert len(_match(lamost, far, ingest)[0]) == 0
    near = [gaia_row(ra=100.0 + 0.8 / 3600 / np.cos(np.radians(20.0)))]
    assert len(_match(lamost, near, ingest)[0]) == 1


def test_full_6d_counts_each_reason_once(ingest):
    lamost = [lamost_row(obsid=i, gaia_source_id=10 + i) for i in range(6)]
    lamost[1]["dist"] = -1.0
    lamost[2]["rv"] = np.nan
    lamost[3]["feh"] = np.nan
    lamost[4]["dist"] = np.nan
    lamost[4]["rv"] = np.nan  # counted under distance only
    gaia = [gaia_row(source_id=10 + i) for i in range(6)]
    gaia[5]["pmra"] = np.nan
    matched, cut_flow = _match(lamost, gaia, ingest)
    stars, cut_flow = nodes.require_full_6d(matched, cut_flow, ingest)
    assert stars.obsid.tolist() == [0]
    assert list(stars.columns) == list(STARS_6D_COLUMNS)
    note = cut_flow.note.iloc[-1]
    assert "no valid distance (missing, <= 0, or no error): 2" in note
    assert "no line-of-sight velocity: 1" in note and "no [Fe/H]: 1" in note
    assert "no proper motion (missing, or an error that is missing, <= 0 or infinite): 1" in note
    assert cut_flow.n_removed.iloc[-1] == 5


def test_cut_flow_accounts_for_every_mock_star(mock_observed, ingest):
    lamost_raw, gaia_raw, defects = mock_observed
    stars, cut_flow = run_ingest_nodes(lamost_raw, gaia_raw, ingest, CUT_FLOW)
    assert cut_flow.n_stars.iloc[0] - cut_flow.n_removed.sum() == len(stars)
    assert not stars.obsid.duplicated().any() and not stars.source_id.duplicated().any()
    # the mock repeats clean K giants only, so every repeat reaches the last cut and one of each pair goes
    n_repeats = (defects.defect == "repeat_observation").sum()
    assert n_repeats > 0
    assert cut_flow.cut.iloc[-1] == "one observation per Gaia source"
    assert cut_flow.n_removed.iloc[-1] == n_repeats
    # every star flagged with a fatal defect is gone; positional matches recover missing ids
    fatal = defects.defect.isin(
        [
            "absent_from_gaia",
            "ambiguous_neighbour",
            "no_proper_motion",
            "bad_distance",
            "bad_rv",
            "bad_feh",
            "out_of_range_position",
        ]
    )
    assert not stars.obsid.isin(defects.obsid[fatal]).any()
    recovered = stars.obsid.isin(defects.obsid[defects.defect == "missing_gaia_id"]).sum()
    assert recovered >= 0.9 * (defects.defect == "missing_gaia_id").sum() * len(stars) / len(lamost_raw)


def _observations(rows):
    """Full-6D observations (every other column 1.0) and a cut flow ending with them."""
    stars = pd.DataFrame([{c: 1.0 for c in STARS_6D_COLUMNS} | row for row in rows]).astype(
        {"obsid": "int64", "source_id": "int64"}
    )
    return stars, append_cut(empty_cut_flow(), "ingest", "full 6D phase space", len(stars))


def test_repeat_observations_keep_the_smallest_rv_error(ingest):
    stars, cut_flow = _observations(
        [
            {"obsid": 10, "source_id": 7, "rv": 100.0, "rv_err": 8.0},
            {"obsid": 11, "source_id": 8, "rv": -50.0, "rv_err": 4.0},
            {"obsid": 12, "source_id": 7, "rv": 104.0, "rv_err": 3.0},  # best of source 7
            {"obsid": 13, "source_id": 7, "rv": 90.0, "rv_err": 6.0},
            {"obsid": 15, "source_id": 9, "rv": 20.0, "rv_err": 5.0},
            {"obsid": 14, "source_id": 9, "rv": 22.0, "rv_err": 5.0},  # tie: smallest obsid wins
        ]
    )
    kept, out = nodes.keep_one_observation_per_source(stars, cut_flow, ingest, CUT_FLOW)
    assert kept.obsid.tolist() == [11, 12, 14]  # input order kept
    assert kept.rv.tolist() == [-50.0, 104.0, 22.0]
    assert list(kept.columns) == list(STARS_6D_COLUMNS)
    row = out.iloc[-1]
    assert (row.cut, row.n_stars, row.n_removed) == ("one observation per Gaia source", 3, 3)
    assert "repeat observations of a Gaia source: 3" in row.note and "stars observed more than once: 2" in row.note
    assert out.n_stars.iloc[0] - out.n_removed.sum() == len(kept)


def test_weighted_mean_rule_combines_the_velocities(ingest):
    stars, cut_flow = _observations(
        [
            {"obsid": 1, "source_id": 7, "rv": 100.0, "rv_err": 3.0},
            {"obsid": 2, "source_id": 7, "rv": 110.0, "rv_err": 6.0},
            {"obsid": 3, "source_id": 8, "rv": 20.0, "rv_err": 5.0},
        ]
    )
    params = {**ingest, "repeat_observations": {"keep": "weighted_mean_rv"}}
    kept, _ = nodes.keep_one_observation_per_source(stars, cut_flow, params, CUT_FLOW)
    assert kept.obsid.tolist() == [1, 3]
    assert kept.rv.tolist() == pytest.approx([(100.0 / 9 + 110.0 / 36) / (1 / 9 + 1 / 36), 20.0])
    assert kept.rv_err.tolist() == pytest.approx([(1 / 9 + 1 / 36) ** -0.5, 5.0])


def test_table_without_repeats_is_unchanged_and_the_row_is_still_written(ingest):
    stars, cut_flow = _observations([{"obsid": i, "source_id": 100 + i, "rv_err": 2.0 + i} for i in range(4)])
    kept, out = nodes.keep_one_observation_per_source(stars, cut_flow, ingest, CUT_FLOW)
    pd.testing.assert_frame_equal(kept, stars)
    assert out.cut.iloc[-1] == "one observation per Gaia source"
    assert out.n_removed.iloc[-1] == 0 and out.n_stars.iloc[-1] == 4
    assert "stars observed more than once: 0" in out.note.iloc[-1]


def test_unknown_repeat_rule_is_named(ingest):
    stars, cut_flow = _observations([{"obsid": 1, "source_id": 7}])
    with pytest.raises(ValueError, match=r"ingest.repeat_observations.keep must be one of .*'latest'"):
        nodes.keep_one_observation_per_source(
            stars, cut_flow, {**ingest, "repeat_observations": {"keep": "latest"}}, CUT_FLOW
        )


def test_empty_gaia_table_leaves_every_star_without_counterpart(ingest):
    gaia = pd.DataFrame([gaia_row()]).iloc[:0]
    matched, cut_flow = _match([lamost_row(obsid=1), lamost_row(obsid=2, gaia_source_id=-1)], gaia, ingest)
    assert len(matched) == 0
    assert "no Gaia counterpart: 2" in cut_flow.note.iloc[-1]


# --- bad input found by probing (issue 14): each gives a clear stop or a counted, named rejection


def _ingest_rows(lamost_rows, gaia_rows, ingest):
    """The whole ingest chain on small tables: (stars_6d, cut flow)."""
    stars, cut_flow = run_ingest_nodes(pd.DataFrame(lamost_rows), pd.DataFrame(gaia_rows), ingest, CUT_FLOW)
    assert cut_flow.n_stars.iloc[0] - cut_flow.n_removed.sum() == len(stars)
    return stars, cut_flow


def _notes(cut_flow):
    return " | ".join(cut_flow.note)


def test_gaia_sentinel_or_impossible_proper_motion_is_a_counted_rejection(ingest):
    lamost = [lamost_row(obsid=i, gaia_source_id=10 + i) for i in range(3)]
    gaia = [gaia_row(source_id=10 + i) for i in range(3)]
    gaia[1]["pmra"] = -9999.0
    gaia[2]["pmdec"] = 2.0e4
    stars, cut_flow = _ingest_rows(lamost, gaia, ingest)
    assert stars.obsid.tolist() == [0]
    note = _notes(cut_flow)
    assert "pmdec outside [-10000.0, 10000.0]: 1" in note
    assert "no proper motion (missing, or an error that is missing, <= 0 or infinite): 1" in note


@pytest.mark.parametrize(
    ("table", "column", "value"), [("gaia", "dec", 95.0), ("gaia", "dec", np.nan), ("lamost", "ra", np.nan)]
)
def test_invalid_sky_positions_do_not_crash_the_positional_match(ingest, table, column, value):
    lamost = [lamost_row(obsid=1, gaia_source_id=-1), lamost_row(obsid=2, ra=110.0, gaia_source_id=-1)]
    gaia = [gaia_row(source_id=11), gaia_row(source_id=22, ra=110.0)]
    (lamost if table == "lamost" else gaia)[0][column] = value
    stars, cut_flow = _ingest_rows(lamost, gaia, ingest)
    assert stars.obsid.tolist() == [2]
    note = _notes(cut_flow)
    if table == "lamost":
        assert "no sky position to match by (ra or dec missing or outside its range): 1" in note
    else:
        assert "Gaia rows without a valid sky position (not matched by position): 1" in note
        assert "no Gaia counterpart: 1" in note


def test_missing_obsid_is_a_counted_rejection(ingest):
    raw = pd.DataFrame([lamost_row(obsid=1, gaia_source_id=11), lamost_row(obsid=2, gaia_source_id=12)])
    raw["obsid"] = pd.array([1, None], dtype="Int64")  # a masked FITS integer
    gaia = [gaia_row(source_id=11), gaia_row(source_id=12)]
    stars, cut_flow = _ingest_rows(raw.to_dict("records"), gaia, ingest)
    assert stars.obsid.tolist() == [1]
    assert "no obsid: 1" in _notes(cut_flow)


def test_infinite_proper_motion_error_is_a_counted_rejection(ingest):
    lamost = [lamost_row(obsid=i, gaia_source_id=10 + i) for i in range(2)]
    gaia = [gaia_row(source_id=10), gaia_row(source_id=11, pmra_error=np.inf)]
    stars, cut_flow = _ingest_rows(lamost, gaia, ingest)
    assert stars.obsid.tolist() == [0]
    assert "pmra_error outside [0.0, 1000.0]: 1" in _notes(cut_flow)


@pytest.mark.parametrize(("which", "column"), [("gaia", "source_id"), ("lamost", "gaia_source_id")])
def test_gaia_ids_stored_as_floats_stop_the_run_naming_file_and_column(ingest, which, column):
    rows = pd.DataFrame([gaia_row()] if which == "gaia" else [lamost_row()])
    rows[column] = rows[column].astype(float) + 4295806720  # a 19-digit id would lose its last digits
    read = nodes.standardise_gaia if which == "gaia" else nodes.standardise_lamost
    with pytest.raises(InputSchemaError, match=rf"{ingest[which]['file'].split('/')[-1]}.*'{column}'.*int64"):
        read(rows, ingest)


def test_an_obsid_shared_by_different_stars_is_removed_and_counted(ingest):
    lamost = [lamost_row(obsid=1, gaia_source_id=11), lamost_row(obsid=1, gaia_source_id=12, ra=101.0)]
    lamost += [lamost_row(obsid=3, gaia_source_id=13, ra=102.0), lamost_row(obsid=4, gaia_source_id=13, ra=102.0)]
    gaia = [gaia_row(source_id=11), gaia_row(source_id=12, ra=101.0), gaia_row(source_id=13, ra=102.0)]
    stars, cut_flow = _ingest_rows(lamost, gaia, ingest)
    assert stars.obsid.tolist() == [3]  # obsids 3 and 4 are one star observed twice: fine
    assert "obsid shared by rows of different Gaia sources (ambiguous, all removed): 2" in _notes(cut_flow)


@pytest.mark.parametrize(
    ("which", "column", "factor", "unit", "message"),
    [
        ("lamost", "dist", 1000.0, "kpc", "look like pc: set ingest.lamost.distance_unit to pc"),
        ("lamost", "dist", 1.0, "pc", "look like kpc: set ingest.lamost.distance_unit to kpc"),
        ("lamost", "rv", 1000.0, "kpc", "look like m/s"),
        ("gaia", "pmra", 1e-3, "kpc", "look like arcsec/yr"),
    ],
)
def test_unit_mistakes_stop_the_run_naming_the_setting(ingest, which, column, factor, unit, message):
    """Distances in pc read as kpc (and the reverse), rv in m/s, proper motions in arcsec/yr."""
    rng = np.random.default_rng(0)
    if which == "lamost":
        rows = pd.DataFrame(
            [
                lamost_row(obsid=i, dist=d, rv=v)
                for i, (d, v) in enumerate(zip(rng.uniform(2, 30, 20), rng.normal(0, 150, 20)))
            ]
        )
    else:
        rows = pd.DataFrame([gaia_row(source_id=i, pmra=p) for i, p in enumerate(rng.normal(0, 5, 20))])
    rows[column] *= factor
    settings = ingest | {"lamost": ingest["lamost"] | {"distance_unit": unit}}
    read = nodes.standardise_lamost if which == "lamost" else nodes.standardise_gaia
    with pytest.raises(InputSchemaError, match=rf"'{column}' has median \|value\|.*{message}"):
        read(rows, settings)
    rows[column] /= factor
    if which == "lamost" and unit == "pc":
        rows[column] *= 1000.0
    assert len(read(rows, settings)) == 20  # the right units pass


@pytest.mark.parametrize(
    ("change", "cut", "reason"),
    [
        ({"rv": np.nan}, "full 6D phase space", "no line-of-sight velocity: 3"),
        ({"dist_err": 0.0}, "full 6D phase space", "no valid distance"),
        ({"dist": -5.0}, "full 6D phase space", "no valid distance"),
        ("empty", "rows read from", ""),
    ],
    ids=["all-NaN rv", "zero distance errors", "negative distances", "empty table"],
)
def test_ingest_that_leaves_no_star_stops_naming_the_cut(ingest, change, cut, reason):
    if change == "empty":
        lamost = pd.DataFrame(columns=list(lamost_row())).astype(float).astype({"gaia_source_id": "int64"})
    else:
        lamost = pd.DataFrame([lamost_row(obsid=i, gaia_source_id=10 + i, **change) for i in range(3)])
    gaia = [gaia_row(source_id=10 + i) for i in range(3)]
    with pytest.raises(EmptySelectionError, match=rf"stars_6d .*is empty: .* after the cut '{cut}.*{reason}"):
        _ingest_rows(lamost, gaia, ingest)


def test_a_star_matched_by_id_without_a_sky_position_is_counted(ingest):
    """Found by the property test: the id match does not need a position, the 6D star does."""
    lamost = [lamost_row(obsid=1, gaia_source_id=11, ra=np.nan), lamost_row(obsid=2, gaia_source_id=12)]
    gaia = [gaia_row(source_id=11), gaia_row(source_id=12)]
    stars, cut_flow = _ingest_rows(lamost, gaia, ingest)
    assert stars.obsid.tolist() == [2]
    assert "no sky position (ra or dec missing): 1" in _notes(cut_flow)


def test_an_ingest_cut_removing_most_stars_logs_a_warning_at_the_configured_share(ingest, caplog):
    lamost = [lamost_row(obsid=i, gaia_source_id=10 + i, teff=3000.0 if i < 9 else 4500.0) for i in range(10)]
    gaia = [gaia_row(source_id=10 + i) for i in range(10)]
    with caplog.at_level(logging.WARNING, logger="milkyway_mass"):
        _ingest_rows(lamost, gaia, ingest)
    assert (
        "ingest: cut 'K giants (teff, logg)' (all) removed 9 of 10 stars (fails the K giants cuts: 9)"
        not in caplog.text
    )
    with caplog.at_level(logging.WARNING, logger="milkyway_mass"):
        run_ingest_nodes(pd.DataFrame(lamost), pd.DataFrame(gaia), ingest, {"loss_warning_share": 0.8})
    assert "ingest: cut 'K giants (teff, logg)' (all) removed 9 of 10 stars (fails the K giants cuts: 9)" in caplog.text


def _single_table_settings(ingest, **tracer):
    """Settings for one CSV-like catalogue read as both tables: pc distances, a membership
    probability, no ids, no [Fe/H], no Teff, no pm correlation, no parallax or RUWE."""
    lamost_cols = {c: c for c in ("ra", "dec", "rv", "rv_err", "dist", "dist_err")} | {"membership_prob": "prob"}
    gaia_cols = {c: c for c in ("pmra", "pmdec", "pmra_error", "pmdec_error")}
    return (
        ingest
        | {
            "lamost": ingest["lamost"] | {"file": "bhb.csv", "distance_unit": "pc", "columns": lamost_cols},
            "gaia": ingest["gaia"] | {"file": "bhb.csv", "columns": gaia_cols},
            "crossmatch": ingest["crossmatch"] | {"method": "row"},
            "tracer": "any",
        }
        | tracer
    )


def _single_table(n=4):
    rows = [lamost_row(dist=10_000.0 + i, dist_err=500.0) | gaia_row() for i in range(n)]
    table = pd.DataFrame(rows).drop(columns=["obsid", "gaia_source_id", "source_id", "feh", "teff", "pmra_pmdec_corr"])
    return table.assign(prob=[0.9, 0.2, 0.8, 0.95], logg=[3.0, 3.0, 3.0, 3.9])


def test_a_single_catalogue_is_paired_by_row_with_optional_columns_filled(ingest):
    settings = _single_table_settings(ingest)
    table = _single_table()
    stars, cut_flow = run_ingest_nodes(table, table, settings, CUT_FLOW)
    assert stars.obsid.tolist() == stars.source_id.tolist() == [0, 1, 2, 3]  # the row number stands in
    assert stars.dist.tolist() == pytest.approx([10.0, 10.001, 10.002, 10.003])
    assert (stars.pmra_pmdec_corr == 0).all() and stars.feh.isna().all() and stars.parallax.isna().all()
    notes = " | ".join(cut_flow.note)
    assert "pm correlation missing, taken as 0: 4" in notes and "no [Fe/H]" not in notes
    assert "paired by row (one catalogue)" in cut_flow.cut.tolist() and "stars (no tracer cut)" in cut_flow.cut.tolist()


def test_a_tracer_is_a_list_of_cuts_on_any_mapped_column(ingest):
    settings = _single_table_settings(ingest, tracer="bhb")
    settings["lamost"]["columns"] |= {"logg": "logg"}
    table = _single_table()
    stars, cut_flow = run_ingest_nodes(table, table, settings, CUT_FLOW)
    assert stars.obsid.tolist() == [0, 2]  # probability >= 0.5 and log g < 3.5
    row = cut_flow[cut_flow.cut == "BHB stars (membership_prob, logg)"].iloc[0]
    assert row.n_removed == 2 and row.note == "fails the BHB stars cuts: 2"


def test_a_tracer_cut_on_an_unmapped_column_or_a_malformed_cut_is_named(ingest):
    table = _single_table()
    with pytest.raises(
        InputSchemaError, match=r"tracer 'bhb' use \['logg'\], which ingest.lamost.columns does not map"
    ):
        run_ingest_nodes(table, table, _single_table_settings(ingest, tracer="bhb"), CUT_FLOW)
    settings = _single_table_settings(
        ingest, tracer="odd", tracers={"odd": {"label": "odd", "cuts": [{"column": "ra"}]}}
    )
    with pytest.raises(ValueError, match="ingest.tracers.odd: a cut is"):
        run_ingest_nodes(table, table, settings, CUT_FLOW)
    with pytest.raises(ValueError, match="ingest.tracer is 'rrl'; the defined tracers are"):
        run_ingest_nodes(table, table, _single_table_settings(ingest, tracer="rrl"), CUT_FLOW)


def test_pairing_by_row_needs_one_file_and_the_required_columns(ingest):
    settings = _single_table_settings(ingest)
    table = _single_table()
    with pytest.raises(InputSchemaError, match="method is row, which needs both tables to be the same file"):
        run_ingest_nodes(table, table.iloc[:3], settings, CUT_FLOW)
    settings["gaia"] = settings["gaia"] | {"columns": {"pmra": "pmra"}}
    with pytest.raises(
        InputSchemaError, match=r"ingest.gaia.columns must map \['pmdec', 'pmra_error', 'pmdec_error'\]"
    ):
        run_ingest_nodes(table, table, settings, CUT_FLOW)


def test_position_matching_ignores_the_ids(ingest):
    settings = ingest | {"crossmatch": ingest["crossmatch"] | {"method": "position"}}
    lamost = [lamost_row(obsid=1, gaia_source_id=12), lamost_row(obsid=2, gaia_source_id=12, ra=150.0)]
    gaia = [gaia_row(source_id=11), gaia_row(source_id=12, ra=120.0)]
    stars, cut_flow = run_ingest_nodes(pd.DataFrame(lamost), pd.DataFrame(gaia), settings, CUT_FLOW)
    assert stars.obsid.tolist() == [1] and stars.source_id.tolist() == [11]
    assert "no Gaia counterpart: 1" in " | ".join(cut_flow.note)


def test_a_survey_outside_the_tracer_definition_stops_naming_the_tracer_cut(ingest):
    """Hot BHB-like stars (Teff 8000 K) under the default K-giant definition: none is left."""
    lamost = [lamost_row(obsid=i, gaia_source_id=10 + i, teff=8000.0, logg=3.2) for i in range(3)]
    gaia = [gaia_row(source_id=10 + i) for i in range(3)]
    with pytest.raises(
        EmptySelectionError, match=r"after the cut 'K giants \(teff, logg\)'.*fails the K giants cuts: 3"
    ):
        _ingest_rows(lamost, gaia, ingest)


def test_distances_from_significant_parallaxes(ingest):
    """A catalogue with parallaxes instead of distances: 1 / parallax where parallax / error >= 5."""
    settings = _single_table_settings(ingest)
    settings["lamost"]["columns"] = {k: v for k, v in settings["lamost"]["columns"].items() if not k.startswith("dist")}
    settings["gaia"]["columns"] |= {"parallax": "parallax", "parallax_error": "parallax_error"}
    settings["distances"] = {"source": "parallax", "min_parallax_over_error": 5.0}
    table = _single_table().drop(columns=["dist", "dist_err"])
    table = table.assign(parallax=[0.5, 0.2, 0.1, np.nan], parallax_error=[0.05, 0.05, 0.01, 0.01])
    stars, cut_flow = run_ingest_nodes(table, table, settings, CUT_FLOW)
    assert stars.obsid.tolist() == [0, 2]
    assert stars.dist.tolist() == pytest.approx([2.0, 10.0])
    assert stars.dist_err.tolist() == pytest.approx([0.2, 1.0])
    assert "parallax not significant (parallax / parallax_error < 5, or missing): 2" in " | ".join(cut_flow.note)


def test_a_missing_pm_correlation_of_a_mapped_column_counts_as_zero(ingest):
    lamost = [lamost_row(obsid=i, gaia_source_id=10 + i) for i in range(2)]
    gaia = [gaia_row(source_id=10, pmra_pmdec_corr=np.nan), gaia_row(source_id=11, pmra_pmdec_corr=0.3)]
    stars, cut_flow = _ingest_rows(lamost, gaia, ingest)
    assert stars.pmra_pmdec_corr.tolist() == [0.0, 0.3]
    assert "pm correlation missing, taken as 0: 1" in _notes(cut_flow)


def test_a_tracer_cut_on_a_flag_and_a_union_of_groups(ingest):
    tracers = {
        "flagged": {
            "label": "flagged stars",
            "cuts": [
                {"column": "quality_flag", "equals": 0},
                {"any_of": [[{"column": "prob", "above": 0.9}], [{"column": "prob", "max": 0.3}]]},
            ],
        }
    }
    settings = _single_table_settings(ingest, tracer="flagged", tracers=tracers)
    settings["lamost"]["columns"] |= {"quality_flag": "flag", "prob": "prob"}
    table = _single_table().assign(flag=[0, 0, 1, 0])  # prob: 0.9, 0.2, 0.8, 0.95
    stars, cut_flow = run_ingest_nodes(table, table, settings, CUT_FLOW)
    assert stars.obsid.tolist() == [1, 3]
    assert "flagged stars (quality_flag, prob)" in cut_flow.cut.tolist()
