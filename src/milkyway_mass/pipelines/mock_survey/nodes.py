"""Nodes of the `mock_survey` pipeline: the embedded default survey with known truth.

The mock writes the same products, formats and column names as the real data
(a LAMOST-style K-giant FITS table and a Gaia-DR3-style Parquet table, a rotation
curve, a K_z table and a globular-cluster catalogue), plus the truth (JSON and a
per-star table) that `validation` compares results with.
Units: kpc, km/s, mas/yr, deg, Msun. Prograde orbits have v_φ < 0.
"""

from __future__ import annotations

import logging

import astropy.coordinates as coord
import astropy.units as u
import numpy as np
import pandas as pd

from milkyway_mass.galaxy.coordinates import galactocentric_frame
from milkyway_mass.galaxy.dynamics.double_power_law import DoublePowerLawDF
from milkyway_mass.galaxy.globular_clusters.catalogue import select_clusters
from milkyway_mass.galaxy.mock import (
    TruthGalaxy,
    cluster_df,
    halo_df,
    observe_clusters,
    sample_clusters,
    sample_clusters_from_actions,
    sample_disk,
    sample_halo,
    truth_summary,
    unbound_velocities,
)
from milkyway_mass.galaxy.units import KZ_2PIG_MSUN_PC2_IN_KMS2_KPC

logger = logging.getLogger(__name__)


def _galaxy(mock: dict, frame: dict, cosmology: dict) -> TruthGalaxy:
    return TruthGalaxy.from_config(mock["truth"], cosmology, frame)


def _icrs(stars: pd.DataFrame, frame: dict) -> coord.SkyCoord:
    """ICRS coordinates and velocities of stars given in the Galactocentric frame (kpc, km/s)."""
    return coord.SkyCoord(
        x=stars.x.to_numpy() * u.kpc,
        y=stars.y.to_numpy() * u.kpc,
        z=stars.z.to_numpy() * u.kpc,
        v_x=stars.vx.to_numpy() * u.km / u.s,
        v_y=stars.vy.to_numpy() * u.km / u.s,
        v_z=stars.vz.to_numpy() * u.km / u.s,
        frame=galactocentric_frame(frame),
    ).transform_to(coord.ICRS())


def build_truth(mock: dict, frame: dict, cosmology: dict) -> dict:
    """The mock's truth: potential, M200/c200/r200, v_esc(r) on the configured grid."""
    g = mock["truth"]["vesc_grid_kpc"]
    truth = truth_summary(_galaxy(mock, frame, cosmology), np.arange(g["start"], g["stop"] + 1e-9, g["step"]))
    truth["seed"] = mock["seed"]
    truth["globular_clusters"] = dict(mock["globular_clusters"])
    logger.info(
        "Mock truth: M200 = %.3g Msun, c200 = %.1f, r200 = %.1f kpc, vc(R0) = %.1f km/s, v_esc(R0) = %.1f km/s",
        truth["M200_msun"],
        truth["c200"],
        truth["r200_kpc"],
        truth["vc_R0_kms"],
        truth["vesc_R0_kms"],
    )
    return truth


def generate_population(mock: dict, frame: dict, cosmology: dict) -> pd.DataFrame:
    """True Galactocentric phase space, population label and stellar parameters of every star.

    All stars lie in the LAMOST footprint (dec > ``observations.dec_min_deg``).

    Columns: obsid, population, x, y, z [kpc], vx, vy, vz [km/s], r_true, v_true,
    vesc_true, feh, teff, logg, abs_g (absolute G magnitude), is_kgiant.
    """
    galaxy = _galaxy(mock, frame, cosmology)
    rng = np.random.default_rng(mock["seed"])
    n_total = int(mock["n_stars"])
    n_halo = int(round(mock["halo_fraction"] * n_total))
    n_unbound = int(round(mock["outliers"]["unbound_fraction_of_halo"] * n_halo))
    n_disk = n_total - n_halo
    n_thick = int(round(mock["disk"]["thick_fraction"] * n_disk))
    sun = np.array([-frame["R0_kpc"], 0.0, frame["z0_kpc"]])

    dec_min = mock["observations"]["dec_min_deg"]

    def in_footprint(draw, n_wanted, seed):
        """Draw until ``n_wanted`` stars lie in the LAMOST footprint (dec > dec_min)."""
        parts, n_have = [], 0
        while n_have < n_wanted:
            batch = draw(2 * (n_wanted - n_have) + 100, seed)
            batch = batch[_icrs(batch, frame).dec.deg > dec_min]
            parts.append(batch)
            n_have += len(batch)
            seed += 1000
        return pd.concat(parts, ignore_index=True).iloc[:n_wanted].reset_index(drop=True)

    df = halo_df(galaxy, mock["halo"]["tracer"])
    halo = in_footprint(
        lambda m, s: sample_halo(galaxy, df, m, mock["halo"]["radial_weighting"], s), n_halo, mock["seed"] + 1
    )
    unbound = rng.choice(n_halo, n_unbound, replace=False)
    halo.loc[unbound] = unbound_velocities(
        galaxy, halo.loc[unbound], mock["outliers"]["unbound_speed_over_vesc"], mock["seed"] + 2
    )
    halo.loc[unbound, "population"] = "outlier_unbound"
    thin = in_footprint(
        lambda m, s: sample_disk(galaxy, m, mock["disk"]["thin"], sun, s), n_disk - n_thick, mock["seed"] + 3
    ).assign(population="disk_thin")
    thick = in_footprint(
        lambda m, s: sample_disk(galaxy, m, mock["disk"]["thick"], sun, s), n_thick, mock["seed"] + 4
    ).assign(population="disk_thick")
    stars = pd.concat([halo, thin, thick], ignore_index=True)

    stars["r_true"] = np.sqrt(stars.x**2 + stars.y**2 + stars.z**2)
    stars["v_true"] = np.sqrt(stars.vx**2 + stars.vy**2 + stars.vz**2)
    stars["vesc_true"] = galaxy.vesc(stars["r_true"].to_numpy())
    feh = mock["metallicity"]
    stars["feh"] = np.select(
        [stars.population.str.startswith("disk_thin"), stars.population.str.startswith("disk_thick")],
        [rng.normal(*feh["disk_thin"], len(stars)), rng.normal(*feh["disk_thick"], len(stars))],
        rng.normal(*feh["halo"], len(stars)),
    )
    giants = mock["stellar_parameters"]
    stars["teff"] = rng.uniform(*giants["teff_range_k"], len(stars))
    stars["logg"] = rng.uniform(*giants["logg_range"], len(stars))
    # K-giant definition of METHOD.md §2 (log g < 3.5 for cool, < 4 for warm giants).
    stars["logg"] = np.where(stars.teff < 4600, np.minimum(stars.logg, 3.45), stars.logg)
    contaminant = rng.random(len(stars)) < giants["non_giant_fraction"]
    stars.loc[contaminant, "teff"] = rng.uniform(*giants["non_giant_teff_range_k"], contaminant.sum())
    stars.loc[contaminant, "logg"] = rng.uniform(*giants["non_giant_logg_range"], contaminant.sum())
    stars["is_kgiant"] = ~contaminant
    stars["abs_g"] = np.clip(rng.normal(*giants["abs_g_mean_sd"], len(stars)), *giants["abs_g_clip"])
    stars = stars.sample(frac=1.0, random_state=mock["seed"]).reset_index(drop=True)
    stars.insert(0, "obsid", np.arange(len(stars), dtype=np.int64) + mock["obsid_offset"])
    counts = stars.population.value_counts().to_dict()
    logger.info("Mock population: %s", counts)
    return stars


def _gaia_pm_error(g_mag: np.ndarray, model: dict) -> np.ndarray:
    """Gaia-DR3-like proper-motion uncertainty [mas/yr] vs G: log10 σ = a + b (max(G, G_bright) − 15)."""
    return np.maximum(
        10 ** (model["log10_at_g15"] + model["slope_per_mag"] * (np.maximum(g_mag, model["g_bright"]) - 15.0)),
        model["floor_mas_yr"],
    )


def _draw_rv_err(n: int, model: dict, rng: np.random.Generator) -> np.ndarray:
    """LAMOST-like line-of-sight velocity uncertainties [km/s]: min + exponential(exp_scale)."""
    return model["min"] + rng.exponential(model["exp_scale"], n)


def observe_survey(
    population: pd.DataFrame, mock: dict, frame: dict
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Observe the mock: LAMOST-style K-giant table and Gaia-DR3-style astrometry table.

    Errors: distances log-normal with the quoted fractional error; rv, pmra/pmdec
    Gaussian with the quoted errors and pmra–pmdec correlation; Gaia errors grow
    with G. (The population already lies in the LAMOST footprint.) Then the
    configured bad rows are injected (missing Gaia id, absent Gaia source, close
    Gaia neighbours, no proper motions, bad distances, bad rv, bad [Fe/H],
    out-of-range coordinates, catastrophic rv errors) and repeat observations of
    K giants are appended (new obsid, same Gaia id, position, distance, [Fe/H],
    Teff and log g; a new rv error and rv drawn around the true rv). Returns
    (lamost, gaia, defects): ``defects`` lists each affected obsid with its
    defect label and, for a repeat, ``repeat_of`` (the original obsid; else <NA>).
    """
    obs = mock["observations"]
    rng = np.random.default_rng(mock["seed"] + 10)
    gc = _icrs(population, frame)
    ra, dec = gc.ra.deg, gc.dec.deg
    d_true = gc.distance.to_value(u.kpc)
    n = len(population)

    frac = np.where(
        rng.random(n) < obs["dist_frac_err"]["tail_fraction"],
        rng.uniform(*obs["dist_frac_err"]["tail_range"], n),
        rng.uniform(*obs["dist_frac_err"]["core_range"], n),
    )
    dist = d_true * np.exp(frac * rng.standard_normal(n))
    rv_err = _draw_rv_err(n, obs["rv_err_kms"], rng)
    rv_true = gc.radial_velocity.to_value(u.km / u.s)
    rv = rv_true + rv_err * rng.standard_normal(n)
    g_mag = population.abs_g.to_numpy() + 5 * np.log10(d_true * 100.0)
    sig = _gaia_pm_error(g_mag, obs["gaia_pm_error"])
    pmra_err = sig * rng.uniform(0.85, 1.15, n)
    pmdec_err = sig * rng.uniform(0.75, 1.05, n)
    corr = rng.uniform(*obs["pm_corr_range"], n)
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    pmra = gc.pm_ra_cosdec.to_value(u.mas / u.yr) + pmra_err * z1
    pmdec = gc.pm_dec.to_value(u.mas / u.yr) + pmdec_err * (corr * z1 + np.sqrt(1 - corr**2) * z2)
    plx_err = obs["parallax_error_over_pm_error"] * sig
    # Unique Gaia-like ids, at least 2 apart (a close neighbour gets id + 1).
    source_id = rng.permutation(10**15 + np.cumsum(rng.integers(2, 10**9, n, dtype=np.int64)))
    offset = obs["position_scatter_arcsec"] / 3600.0
    lamost = pd.DataFrame(
        {
            "obsid": population.obsid.to_numpy(),
            "ra": ra,
            "dec": dec,
            "teff": population.teff.to_numpy(),
            "logg": population.logg.to_numpy(),
            "feh": population.feh.to_numpy() + obs["feh_err_dex"] * rng.standard_normal(n),
            "rv": rv,
            "rv_err": rv_err,
            "dist": dist,
            "dist_err": frac * dist,
            "gaia_source_id": source_id,
        }
    )
    gaia = pd.DataFrame(
        {
            "source_id": source_id,
            "ra": ra + offset * rng.standard_normal(n) / np.cos(np.radians(dec)),
            "dec": dec + offset * rng.standard_normal(n),
            "parallax": 1.0 / d_true + plx_err * rng.standard_normal(n),
            "parallax_error": plx_err,
            "pmra": pmra,
            "pmra_error": pmra_err,
            "pmdec": pmdec,
            "pmdec_error": pmdec_err,
            "pmra_pmdec_corr": corr,
            "ruwe": np.where(
                rng.random(n) < obs["ruwe_bad_fraction"], rng.uniform(1.4, 3.0, n), 1.0 + np.abs(rng.normal(0, 0.08, n))
            ),
            "phot_g_mean_mag": g_mag,
        }
    )
    repeat_model = {
        "rv_true": rv_true,
        "is_kgiant": population.is_kgiant.to_numpy(bool),
        "rv_err_kms": obs["rv_err_kms"],
    }
    lamost, gaia, defects = _inject_bad_rows(lamost, gaia, mock["bad_rows"], rng, repeat_model)
    logger.info("Mock survey: %d LAMOST rows, %d Gaia rows", len(lamost), len(gaia))
    return lamost, gaia, defects


def _inject_bad_rows(
    lamost: pd.DataFrame,
    gaia: pd.DataFrame,
    bad: dict,
    rng: np.random.Generator,
    repeat_model: dict,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Inject the configured defects; each affects a disjoint random set of LAMOST rows.

    ``repeat_observation`` picks K giants (``repeat_model['is_kgiant']``) among the
    rows without another defect and appends one more observation of each (see
    :func:`_repeat_observations`); the defect is listed under the new obsid.
    """
    n = len(lamost)
    order = rng.permutation(n)
    counts = {k: int(round(v * n)) if isinstance(v, float) else int(v) for k, v in bad.items()}
    n_repeat = counts.pop("repeat_observation", 0)
    picks, start = {}, 0
    for key, k in counts.items():
        picks[key] = order[start : start + k]
        start += k
    rest = order[start:]
    originals = rest[repeat_model["is_kgiant"][rest]][:n_repeat]
    if len(originals) < n_repeat:
        raise ValueError(
            f"mock_survey.bad_rows.repeat_observation asks for {n_repeat} repeats but only {len(originals)} clean K giants are left"
        )
    lamost, gaia = lamost.copy(), gaia.copy()
    gaia_row = pd.Series(np.arange(len(gaia)), index=gaia.source_id)

    lamost.loc[picks["missing_gaia_id"], "gaia_source_id"] = -1
    gaia = gaia.assign(_drop=False)
    gaia.loc[gaia_row[lamost.gaia_source_id.iloc[picks["absent_from_gaia"]]].to_numpy(), "_drop"] = True
    # Close neighbours: the LAMOST id is lost and a second Gaia source sits within 0.5".
    amb = picks["ambiguous_neighbour"]
    lamost.loc[amb, "gaia_source_id"] = -1
    twins = gaia.iloc[amb].copy()
    twins["source_id"] = twins["source_id"] + 1
    twins["ra"] += 0.4 / 3600.0 / np.cos(np.radians(twins["dec"]))
    gaia.loc[
        gaia_row[lamost.gaia_source_id.iloc[picks["no_proper_motion"]]].to_numpy(),
        ["pmra", "pmdec", "pmra_error", "pmdec_error", "pmra_pmdec_corr"],
    ] = np.nan
    bad_d = picks["bad_distance"]
    lamost.loc[bad_d, "dist"] = rng.choice([-9999.0, np.nan, -1.0], len(bad_d))
    lamost.loc[picks["bad_rv"], "rv"] = rng.choice([-9999.0, np.nan], len(picks["bad_rv"]))
    lamost.loc[picks["bad_feh"], "feh"] = np.nan
    lamost.loc[picks["out_of_range_position"], "dec"] = 95.0
    mis = picks["catastrophic_rv"]
    lamost.loc[mis, "rv"] += rng.choice([-1, 1], len(mis)) * rng.uniform(150, 400, len(mis))
    gaia = pd.concat([gaia[~gaia._drop], twins.assign(_drop=False)], ignore_index=True).drop(columns="_drop")
    repeats = _repeat_observations(lamost, originals, repeat_model, rng)
    defects = pd.concat(
        [
            pd.DataFrame(
                {
                    "obsid": np.concatenate([lamost.obsid.to_numpy()[idx] for idx in picks.values()]),
                    "defect": np.concatenate([[key] * len(idx) for key, idx in picks.items()]),
                }
            ),
            pd.DataFrame(
                {
                    "obsid": repeats.obsid.to_numpy(),
                    "defect": "repeat_observation",
                    "repeat_of": lamost.obsid.to_numpy()[originals],
                }
            ),
        ],
        ignore_index=True,
    ).astype({"repeat_of": "Int64"})
    lamost = pd.concat([lamost, repeats], ignore_index=True)
    return lamost, gaia.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True), defects


def _repeat_observations(
    lamost: pd.DataFrame, rows: np.ndarray, repeat_model: dict, rng: np.random.Generator
) -> pd.DataFrame:
    """A second LAMOST observation of the stars at positions ``rows``: new obsids after the
    largest one, everything else copied except rv_err (drawn as for every row) and rv
    (the true rv plus new noise) [km/s]."""
    repeats = lamost.iloc[rows].copy()
    repeats["obsid"] = lamost.obsid.max() + 1 + np.arange(len(rows), dtype=np.int64)
    repeats["rv_err"] = _draw_rv_err(len(rows), repeat_model["rv_err_kms"], rng)
    repeats["rv"] = repeat_model["rv_true"][rows] + repeats["rv_err"].to_numpy() * rng.standard_normal(len(rows))
    return repeats


def truth_stars(population: pd.DataFrame, defects: pd.DataFrame) -> pd.DataFrame:
    """Per-observation truth table, keyed by LAMOST obsid: the population with each row's
    injected defect ('' if none); a repeat observation is a copy of its star's row under
    the repeat's obsid, with ``repeat_of`` the original obsid (<NA> for every other row)."""
    repeats = defects.dropna(subset=["repeat_of"])
    copies = (
        population.set_index("obsid")
        .loc[repeats.repeat_of.to_numpy()]
        .reset_index()
        .assign(obsid=repeats.obsid.to_numpy())
    )
    out = pd.concat([population, copies], ignore_index=True).merge(defects, on="obsid", how="left")
    out["defect"] = out["defect"].fillna("")
    return out


def mock_rotation_curve(eilers: pd.DataFrame, mock: dict, frame: dict, cosmology: dict) -> pd.DataFrame:
    """Mock circular-speed curve at the published radii with the published error sizes.

    Same columns as the Eilers et al. (2019) file: R, v_c, err+, err- (kpc, km/s).
    """
    galaxy = _galaxy(mock, frame, cosmology)
    rng = np.random.default_rng(mock["seed"] + 20)
    sigma = 0.5 * (eilers["err+"] + eilers["err-"])
    return eilers.assign(v_c=galaxy.vcirc(eilers["R"].to_numpy()) + sigma.to_numpy() * rng.standard_normal(len(eilers)))


def mock_kz(bovy_rix: pd.DataFrame, mock: dict, frame: dict, cosmology: dict) -> pd.DataFrame:
    """Mock K_z(R, |z| = 1.1 kpc) at the published radii with the published errors.

    Same 8 unnamed columns as the Bovy & Rix (2013) file; column 2 is R [kpc],
    column 6 K_z in units of 2πG Msun/pc², column 7 its error (both replaced).
    """
    galaxy = _galaxy(mock, frame, cosmology)
    rng = np.random.default_rng(mock["seed"] + 21)
    kz = galaxy.kz(bovy_rix.iloc[:, 2].to_numpy(), mock["kz_height_kpc"]) / KZ_2PIG_MSUN_PC2_IN_KMS2_KPC
    out = bovy_rix.copy()
    out.iloc[:, 6] = kz + bovy_rix.iloc[:, 7].to_numpy() * rng.standard_normal(len(out))
    return out


def mock_globular_clusters(reference: pd.DataFrame, mock: dict, frame: dict, cosmology: dict) -> pd.DataFrame:
    """The mock's globular-cluster catalogue in the columns of the Vasiliev & Baumgardt (2021)
    table: ``globular_clusters.n_clusters`` clusters drawn in the truth potential from the DF
    named by ``globular_clusters.df`` (``double_power_law``: the action DF the
    globular-cluster constraint fits, ``galaxy.mock.sample_clusters_from_actions``;
    ``osipkov_merritt``: galpy's Osipkov–Merritt DF, ``galaxy.mock.cluster_df``), observed
    with the errors of randomly paired clusters of the real catalogue ``reference`` (after
    its selection)."""
    cfg = mock["globular_clusters"]
    galaxy = _galaxy(mock, frame, cosmology)
    n, seed = int(cfg["n_clusters"]), mock["seed"] + 30
    if cfg["df"] == "double_power_law":
        dpl = dict(cfg["double_power_law"])
        settings = {k: dpl.pop(k) for k in ("rotation_scale", "n_proposals")}
        df = DoublePowerLawDF.from_parameters(dpl, rotation_scale=float(settings["rotation_scale"]))
        clusters = sample_clusters_from_actions(galaxy, df, n, seed, n_proposals=int(settings["n_proposals"]))
    elif cfg["df"] == "osipkov_merritt":
        clusters = sample_clusters(galaxy, cluster_df(galaxy, cfg["osipkov_merritt"]), n, seed)
    else:
        raise ValueError(
            f"mock_survey.globular_clusters.df must be double_power_law or osipkov_merritt, got {cfg['df']!r}"
        )
    kept, _ = select_clusters(reference, source="globular-cluster catalogue (error reference of the mock)")
    catalogue = observe_clusters(clusters, kept, frame, mock["seed"] + 31)
    r = np.sqrt(clusters["x"] ** 2 + clusters["y"] ** 2 + clusters["z"] ** 2)
    logger.info(
        "Mock globular clusters: %d, r_GC median %.1f kpc (5-95 %%: %.1f-%.1f kpc)",
        len(catalogue),
        float(np.median(r)),
        *np.percentile(r, [5, 95]),
    )
    return catalogue
