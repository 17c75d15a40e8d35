"""The mock survey: truth, populations, observed tables and defects."""

import functools

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.datasets import FitsTableDataset
from milkyway_mass.galaxy.globular_clusters.catalogue import select_clusters
from milkyway_mass.pipelines.mock_survey import nodes
from tests.galaxy.globular_clusters.test_catalogue import CATALOGUE, read_catalogue


def test_truth_has_the_documented_contents(mock_params, shared_params):
    truth = nodes.build_truth(mock_params, shared_params["galaxy_frame"], shared_params["cosmology"])
    assert truth["boundary"] == "2*r200"
    assert truth["r_boundary_kpc"] == pytest.approx(2 * truth["r200_kpc"])
    r = np.array(truth["vesc_curve"]["r_kpc"])
    assert r[0] == 4.0 and r[-1] == 50.0
    assert truth["M_total_r200_msun"] > truth["M200_msun"]
    assert 200 < truth["vc_R0_kms"] < 260
    assert truth["globular_clusters"]["n_clusters"] == mock_params["globular_clusters"]["n_clusters"]
    assert set(truth["M_enclosed_msun"]) == {"20_kpc", "50_kpc", "100_kpc"}


def test_only_injected_outliers_exceed_the_true_escape_speed(mock_population):
    above = mock_population.v_true > mock_population.vesc_true
    assert set(mock_population.population[above]) == {"outlier_unbound"}
    assert above.sum() == (mock_population.population == "outlier_unbound").sum()


def test_disk_rotates_prograde_with_negative_vphi(mock_population):
    disk = mock_population[mock_population.population == "disk_thin"]
    R = np.hypot(disk.x, disk.y)
    v_phi = (disk.x * disk.vy - disk.y * disk.vx) / R
    assert -250 < v_phi.median() < -190
    assert disk.feh.median() > mock_population[mock_population.population == "halo"].feh.median() + 0.8


def test_population_lies_in_the_lamost_footprint(mock_observed, mock_params):
    lamost, _, _ = mock_observed
    good = lamost.dec < 90
    assert (lamost.dec[good] > mock_params["observations"]["dec_min_deg"]).all()


def test_observed_tables_use_the_real_products_column_names(mock_observed):
    lamost, gaia, _ = mock_observed
    assert {"obsid", "ra", "dec", "teff", "logg", "feh", "rv", "rv_err", "dist", "dist_err", "gaia_source_id"} <= set(
        lamost.columns
    )
    assert {
        "source_id",
        "ra",
        "dec",
        "parallax",
        "parallax_error",
        "pmra",
        "pmdec",
        "pmra_error",
        "pmdec_error",
        "pmra_pmdec_corr",
        "ruwe",
    } <= set(gaia.columns)


def test_defects_are_injected_as_configured(mock_observed, mock_params):
    lamost, gaia, defects = mock_observed
    counts = defects.defect.value_counts()
    n = len(lamost) - counts["repeat_observation"]  # fractions are of the rows before repeats
    assert counts["ambiguous_neighbour"] == mock_params["bad_rows"]["ambiguous_neighbour"]
    assert counts["no_proper_motion"] == round(mock_params["bad_rows"]["no_proper_motion"] * n)
    assert not defects.obsid.duplicated().any()
    absent = lamost.set_index("obsid").loc[defects.obsid[defects.defect == "absent_from_gaia"], "gaia_source_id"]
    assert not absent.isin(gaia.source_id).any()
    assert (
        lamost.set_index("obsid").loc[defects.obsid[defects.defect == "missing_gaia_id"], "gaia_source_id"] == -1
    ).all()


def test_repeat_observations_copy_clean_k_giants_with_new_rv(mock_observed, mock_population, mock_params):
    lamost, _, defects = mock_observed
    repeats = defects[defects.defect == "repeat_observation"]
    n_original = len(mock_population)
    assert len(repeats) == round(mock_params["bad_rows"]["repeat_observation"] * n_original)
    assert len(lamost) == n_original + len(repeats) and lamost.obsid.is_unique
    assert defects.repeat_of.notna().sum() == len(repeats) and repeats.repeat_of.notna().all()
    assert not repeats.repeat_of.isin(defects.obsid).any()  # originals carry no other defect
    assert mock_population.set_index("obsid").loc[repeats.repeat_of, "is_kgiant"].all()
    table = lamost.set_index("obsid")
    copy, orig = table.loc[repeats.obsid], table.loc[repeats.repeat_of.to_numpy()]
    same = ["ra", "dec", "teff", "logg", "feh", "dist", "dist_err", "gaia_source_id"]
    np.testing.assert_array_equal(copy[same].to_numpy(), orig[same].to_numpy())
    rv_err_min = mock_params["observations"]["rv_err_kms"]["min"]
    assert (copy.rv_err >= rv_err_min).all() and (copy.rv_err.to_numpy() != orig.rv_err.to_numpy()).all()
    pull = (copy.rv.to_numpy() - orig.rv.to_numpy()) / np.hypot(copy.rv_err.to_numpy(), orig.rv_err.to_numpy())
    assert 0.8 < pull.std() < 1.2 and abs(pull.mean()) < 0.3  # same true rv, independent noise


def test_truth_table_has_a_row_for_every_observation(mock_observed, mock_population):
    lamost, _, defects = mock_observed
    truth = nodes.truth_stars(mock_population, defects)
    assert truth.obsid.is_unique and set(truth.obsid) == set(lamost.obsid)
    repeats = truth[truth.defect == "repeat_observation"].set_index("obsid")
    assert len(repeats) == (defects.defect == "repeat_observation").sum() > 0
    original = mock_population.set_index("obsid").loc[repeats.repeat_of.to_numpy()]
    np.testing.assert_array_equal(
        repeats[["population", "x", "vz", "feh"]].to_numpy(), original[["population", "x", "vz", "feh"]].to_numpy()
    )
    assert truth.repeat_of.isna().sum() == len(mock_population)
    assert (truth.defect != "").sum() == len(defects)


def test_distance_errors_are_realistic(mock_observed, mock_population):
    lamost, _, defects = mock_observed
    clean = lamost[~lamost.obsid.isin(defects.obsid)]
    frac = clean.dist_err / clean.dist
    assert 0.1 < frac.median() < 0.2
    assert (frac > 0.5).mean() < 0.03


def test_lamost_table_round_trips_through_fits(mock_observed, tmp_path):
    lamost, _, _ = mock_observed
    ds = FitsTableDataset(filepath=str(tmp_path / "lamost.fits"))
    ds.save(lamost)
    back = ds.load()
    pd.testing.assert_frame_equal(back, lamost, check_dtype=False)


def test_mock_rotation_curve_and_kz_keep_the_published_layout(mock_params, shared_params):
    eilers = pd.DataFrame({"R": [6.0, 8.0], "v_c": [0.0, 0.0], "err+": [1.0, 1.0], "err-": [1.0, 1.0]})
    rc = nodes.mock_rotation_curve(eilers, mock_params, shared_params["galaxy_frame"], shared_params["cosmology"])
    assert list(rc.columns) == ["R", "v_c", "err+", "err-"]
    assert 200 < rc.v_c.iloc[1] < 260
    bovy = pd.DataFrame([[-1.0, 0.3, 8.0, 70.0, 5.0, 0.0, 0.0, 1e-9]])
    kz = nodes.mock_kz(bovy, mock_params, shared_params["galaxy_frame"], shared_params["cosmology"])
    assert kz.shape == bovy.shape and kz.iloc[0, 6] > 0


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_mock_globular_clusters_read_back_as_the_real_catalogue(mock_params, shared_params, tmp_path):
    params = mock_params | {"globular_clusters": mock_params["globular_clusters"] | {"n_clusters": 40}}
    mock = nodes.mock_globular_clusters(
        read_catalogue(), params, shared_params["galaxy_frame"], shared_params["cosmology"]
    )
    path = tmp_path / "mock_globular_clusters.txt"
    mock.to_csv(path, sep="\t", index=False, na_rep="nan", float_format="%.6g")  # the catalog's save_args
    back = read_catalogue(path)
    kept, flow = select_clusters(back)
    assert flow == {"input": 40, "sagittarius": 0, "no_line_of_sight_velocity": 0, "kept": 40}
    np.testing.assert_allclose(back["dist"], mock["dist"], rtol=1e-5)
    real, _ = select_clusters(read_catalogue())
    assert set(back["vloserr"].round(4)) <= set(real["vloserr"].round(4))


@pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")
def test_mock_globular_clusters_take_the_osipkov_merritt_df_or_name_the_bad_choice(
    mock_params, shared_params, monkeypatch
):
    """``df: osipkov_merritt`` hands its block to galpy's DF (stubbed here: tests/galaxy/test_mock.py
    samples it); an unknown DF is named."""
    used = {}

    def fake_sample(galaxy, df, n, seed):
        used.update(tracer=df, n=n)
        return pd.DataFrame(
            {c: np.full(n, v) for c, v in zip(("x", "y", "z", "vx", "vy", "vz"), (10, 0, 5, 0, -150, 50))}
        )

    monkeypatch.setattr(nodes, "cluster_df", lambda galaxy, tracer: tracer)
    monkeypatch.setattr(nodes, "sample_clusters", fake_sample)
    gc = mock_params["globular_clusters"] | {"n_clusters": 20}
    frame, cosmology = shared_params["galaxy_frame"], shared_params["cosmology"]
    for df in ("osipkov_merritt", "king"):
        run = functools.partial(
            nodes.mock_globular_clusters,
            read_catalogue(),
            mock_params | {"globular_clusters": gc | {"df": df}},
            frame,
            cosmology,
        )
        if df == "king":
            with pytest.raises(ValueError, match="double_power_law or osipkov_merritt, got 'king'"):
                run()
        else:
            assert len(run()) == 20 and used == {"tracer": gc["osipkov_merritt"], "n": 20}
