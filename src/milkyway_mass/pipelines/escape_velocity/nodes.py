"""Nodes of the `escape_velocity` pipeline (METHOD.md §4).

Every radial bin of both binnings is fitted with the power-law tail model for
each configured k range (emcee, in a process pool); the range with the larger
L_max is kept. Units: kpc, km/s. Parameters θ = (v_esc(r0), k, γ, f), plus b for the
``df_power_exp`` likelihood.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.fitting import convergence_warning, parameters_at_prior_edge, prior_edge_warning
from milkyway_mass.galaxy.tail.fit import (
    FitTask,
    SamplerSettings,
    choose_k_range,
    k_range_label,
    kept_samples,
    prior_and_start,
    run_fits,
    task_seed,
)
from milkyway_mass.galaxy.tail.likelihood import (
    PARAMETER_NAMES,
    TailData,
    local_vesc,
    parameter_names,
)
from milkyway_mass.schemas import BINNINGS, RADIAL_BIN_COLUMNS, require_columns

logger = logging.getLogger(__name__)

STAR_COLUMNS = ("r_gc", "v_gc", "sigma_v_gc", "binning", "bin", "v_min")
SAMPLE_COLUMNS = ("binning", "bin", "r0", *PARAMETER_NAMES)
SUMMARY_PARAMS = ("k", "gamma", "f")
VESC_AT_SUN_METHOD = (
    "interpolated: linear interpolation in r between the two fitted bins whose r0 bracket R0, applied to "
    "independent draws from the two posteriors; in_bin_model: v_esc(r0)*(R0/r0)^(-gamma/2) of the bin "
    "containing R0, per posterior sample. Values: median and 16th/84th percentiles [km/s]."
)


def _bin_rows(radial_bins: pd.DataFrame, binning: str) -> pd.DataFrame:
    require_columns(radial_bins, RADIAL_BIN_COLUMNS, "radial_bins")
    rows = radial_bins[radial_bins["binning"] == binning].sort_values("bin").reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"radial_bins has no rows for binning '{binning}'")
    if rows["bin"].duplicated().any():
        raise ValueError(
            f"radial_bins lists bin(s) {rows['bin'][rows['bin'].duplicated()].tolist()} of '{binning}' twice"
        )
    return rows


def _check_stars(stars: pd.DataFrame, binning: str, bins: pd.DataFrame) -> None:
    name = f"selected_stars_{binning}"
    require_columns(stars, STAR_COLUMNS, name)
    wrong = stars["binning"] != binning
    if wrong.any():
        raise ValueError(
            f"{name}: {int(wrong.sum())} star(s) have binning other than '{binning}': "
            f"{sorted(stars.loc[wrong, 'binning'].astype(str).unique())}"
        )
    unknown = ~stars["bin"].isin(bins["bin"])
    if unknown.any():
        raise ValueError(
            f"{name}: {int(unknown.sum())} star(s) in bin(s) {sorted(stars.loc[unknown, 'bin'].unique())} "
            f"that radial_bins does not list for '{binning}'"
        )


def bin_data(stars: pd.DataFrame, row, name: str = "selected_stars") -> TailData:
    """The stars of one radial-bin row as :class:`TailData` (checks v_min against the bin's)."""
    sel = stars[stars["bin"] == row["bin"]]
    vmin = sel["v_min"].to_numpy(dtype=float)
    if not np.allclose(vmin, row["v_min"], rtol=0, atol=1e-6):
        raise ValueError(f"{name}, bin {row['bin']}: column 'v_min' differs from radial_bins v_min={row['v_min']}")
    if not (np.isfinite(row["r0"]) and row["r0"] > 0):
        raise ValueError(f"radial_bins: bin {row['bin']} of '{row['binning']}' has r0={row['r0']} but {len(sel)} stars")
    try:
        return TailData(
            v=sel["v_gc"].to_numpy(dtype=float),
            r=sel["r_gc"].to_numpy(dtype=float),
            sigma=sel["sigma_v_gc"].to_numpy(dtype=float),
            v_min=vmin,
            r0=float(row["r0"]),
        )
    except ValueError as exc:
        raise ValueError(f"{name}, bin {row['bin']}: {exc}") from exc


def _fit_tasks(stars: pd.DataFrame, bins: pd.DataFrame, binning: str, params: dict) -> tuple[list, dict]:
    """Fit tasks of one binning and the status of every bin ('ok' or the reason it is skipped)."""
    pri, ini, sca, smp = params["priors"], params["init"], params["init_scatter"], params["sampler"]
    if len(ini["k"]) != len(pri["k_ranges"]):
        raise ValueError(f"escape_velocity.init.k has {len(ini['k'])} values for {len(pri['k_ranges'])} k_ranges")
    settings = SamplerSettings.from_config(smp, store_every=params["chain_store_every"])
    counts = stars["bin"].value_counts()
    tasks, status = [], {}
    for _, row in bins.iterrows():
        b = int(row["bin"])
        n = int(counts.get(row["bin"], 0))
        if n < max(params["min_stars"], 1):
            status[b] = f"skipped: {n} stars < min_stars={params['min_stars']}"
            logger.warning(
                "escape_velocity %s bin %d (%.1f-%.1f kpc): %s", binning, b, row["r_lo"], row["r_hi"], status[b]
            )
            continue
        status[b] = "ok"
        data = bin_data(stars, row, f"selected_stars_{binning}")
        for i, (k_range, k0) in enumerate(zip(pri["k_ranges"], ini["k"])):
            prior, theta0, scatter = prior_and_start(params["likelihood"], row["v_min"], k_range, k0, pri, ini, sca)
            tasks.append(
                FitTask(
                    key=(binning, b, k_range_label(k_range)),
                    data=data,
                    prior=prior,
                    theta0=theta0,
                    scatter=scatter,
                    likelihood=params["likelihood"],
                    sigma_out=params["sigma_out_kms"],
                    sampler=settings,
                    seed=task_seed(smp["seed"], BINNINGS.index(binning), b, i),
                )
            )
    return tasks, status


def fit_escape_velocity(
    stars_bin1: pd.DataFrame, stars_bin2: pd.DataFrame, radial_bins: pd.DataFrame, params: dict
) -> tuple[dict, dict]:
    """Fit every bin of both binnings with every k range (one process pool); returns the chains of each binning.

    Each output: ``{"binning", "likelihood", "k_ranges" (labels), "bins" (list of
    row dicts: bin, r_lo, r_hi, r0, v_min, n_stars, status), "fits" ({(bin, label):
    fit result, see galaxy.tail.fit.fit_bin}), "chosen" ({bin: label})}``.
    """
    labels = [k_range_label(k) for k in params["priors"]["k_ranges"]]
    tasks, meta = [], {}
    for binning, stars in zip(BINNINGS, (stars_bin1, stars_bin2)):
        bins = _bin_rows(radial_bins, binning)
        _check_stars(stars, binning, bins)
        binning_tasks, status = _fit_tasks(stars, bins, binning, params)
        tasks += binning_tasks
        counts = stars["bin"].value_counts()
        meta[binning] = [
            {
                "bin": int(r["bin"]),
                "r_lo": float(r["r_lo"]),
                "r_hi": float(r["r_hi"]),
                "r0": float(r["r0"]),
                "v_min": float(r["v_min"]),
                "n_stars": int(counts.get(r["bin"], 0)),
                "status": status[int(r["bin"])],
            }
            for _, r in bins.iterrows()
        ]
    results = run_fits(
        tasks, n_workers=params["n_workers"], progress=params["progress"], batch_size=params["batch_size"]
    )
    out = []
    for binning in BINNINGS:
        fits = {(b, label): res for (name, b, label), res in results.items() if name == binning}
        chosen = {}
        for row in meta[binning]:
            if row["status"] == "ok":
                per_range = {label: fits[(row["bin"], label)] for label in labels}
                chosen[row["bin"]] = choose_k_range(per_range, params["model_choice_tie_lnL"])
        out.append(
            {
                "binning": binning,
                "likelihood": params["likelihood"],
                "k_ranges": labels,
                "bins": meta[binning],
                "fits": fits,
                "chosen": chosen,
            }
        )
    return out[0], out[1]


def summarise_escape_velocity(chains: dict, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Posterior samples of the chosen fit of each bin and the per-bin results table (like Table A1).

    Intervals are the 16th/50th/84th percentiles of the post-burn-in samples;
    ``*_err`` columns are half the 16–84 % width. ``at_prior_edge`` names the
    parameters (v_esc, k, γ and b if fitted) whose posterior piles up against a bound of its
    prior range (``fitting.parameters_at_prior_edge``); such bins, and fits shorter
    than ``n_tau`` autocorrelation times, are logged as warnings. Skipped bins keep their row with
    NaN results and the skip reason in ``status``. Sample columns v_esc, k, gamma, f (and b)
    are float32 (the stored chain's precision); r0 is float64, equal to the table's.
    """
    thin = params["samples_thin"]
    samples, rows = [], []
    for meta in chains["bins"]:
        b = meta["bin"]
        row = {"binning": chains["binning"], **meta, "likelihood": chains["likelihood"]}
        chosen = chains["chosen"].get(b)
        row["k_range"] = chosen
        if chosen is not None:
            fit = chains["fits"][(b, chosen)]
            kept = kept_samples(fit)[::thin]
            p16, p50, p84 = np.percentile(kept, [16, 50, 84], axis=0)
            row.update(vesc_median=p50[0], vesc_err_minus=p50[0] - p16[0], vesc_err_plus=p84[0] - p50[0])
            names = fit["parameter_names"]
            for j, name in enumerate(names[1:], start=1):
                row[f"{name}_median"] = p50[j]
                row[f"{name}_err"] = 0.5 * (p84[j] - p16[j])
            pri = params["priors"]
            shape = [n for n in names if n not in PARAMETER_NAMES]
            edge = parameters_at_prior_edge(
                kept[:, [names.index(n) for n in ("v_esc", "k", "gamma", *shape)]],
                (meta["v_min"], fit["k_range"][0], pri["gamma"][0], *(pri[n][0] for n in shape)),
                (pri["vesc_max_kms"], fit["k_range"][1], pri["gamma"][1], *(pri[n][1] for n in shape)),
                names=("v_esc", "k", "gamma", *shape),
            )
            row.update(
                lnL_max=fit["ln_l_max"],
                aic=fit["aic"],
                acceptance_fraction=fit["acceptance_fraction"],
                tau=float(np.max(fit["tau"])),
                converged=fit["converged"],
                at_prior_edge=" ".join(edge),
            )
            where = f"escape_velocity {chains['binning']} bin {b} ({meta['r_lo']:.1f}-{meta['r_hi']:.1f} kpc, {chosen})"
            if edge:
                logger.warning("%s", prior_edge_warning(where, edge))
            diagnostics = {
                "converged": fit["converged"],
                "n_steps_kept": params["sampler"]["n_keep"],
                "n_tau_required": fit["n_tau_required"],
                "acceptance_mean": fit["acceptance_fraction"],
            }
            warning = convergence_warning(where, diagnostics)
            if warning:
                logger.warning("%s", warning)
            samples.append(
                pd.DataFrame(
                    {
                        "binning": chains["binning"],
                        "bin": b,
                        "r0": meta["r0"],
                        **{name: kept[:, j] for j, name in enumerate(names)},
                    }
                )
            )
        for label in chains["k_ranges"]:
            fit = chains["fits"].get((b, label), {})
            row[f"lnL_max_{label}"] = fit.get("ln_l_max", np.nan)
            row[f"aic_{label}"] = fit.get("aic", np.nan)
            row[f"acceptance_{label}"] = fit.get("acceptance_fraction", np.nan)
            row[f"tau_{label}"] = float(np.max(fit["tau"])) if fit else np.nan
            row[f"converged_{label}"] = fit.get("converged", np.nan)
        rows.append(row)
    table = pd.DataFrame(rows)
    fixed = [
        "binning",
        "bin",
        "r_lo",
        "r_hi",
        "r0",
        "v_min",
        "n_stars",
        "status",
        "likelihood",
        "k_range",
        "vesc_median",
        "vesc_err_minus",
        "vesc_err_plus",
        *(f"{p}_{s}" for p in SUMMARY_PARAMS for s in ("median", "err")),
        "lnL_max",
        "aic",
        "acceptance_fraction",
        "tau",
        "converged",
        "at_prior_edge",
    ]
    table = table.reindex(columns=fixed + [c for c in table.columns if c not in fixed])
    columns = SAMPLE_COLUMNS + tuple(c for c in parameter_names(chains["likelihood"]) if c not in SAMPLE_COLUMNS)
    sample_df = (
        pd.concat(samples, ignore_index=True) if samples else pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
    )
    return sample_df[list(columns)], table


def _interval(x: np.ndarray) -> dict:
    p16, p50, p84 = np.percentile(x, [16, 50, 84])
    return {"median": float(p50), "err_minus": float(p50 - p16), "err_plus": float(p84 - p50)}


def _vesc_at_sun_one(
    samples: pd.DataFrame, table: pd.DataFrame, r_sun: float, n_draws: int, rng: np.random.Generator
) -> dict:
    ok = table[table["status"] == "ok"].sort_values("r0")
    result = {"R0_kpc": r_sun}
    r0 = ok["r0"].to_numpy(dtype=float)
    below, above = ok[r0 <= r_sun], ok[r0 > r_sun]
    if below.empty or above.empty:
        result["interpolated"] = {
            "status": f"R0={r_sun} kpc is not bracketed by fitted bins (r0 = {r0.round(2).tolist()})"
        }
    else:
        lo, hi = below.iloc[-1], above.iloc[0]
        draws = [
            rng.choice(samples.loc[samples["bin"] == row["bin"], "v_esc"].to_numpy(dtype=float), n_draws)
            for row in (lo, hi)
        ]
        w = (r_sun - lo["r0"]) / (hi["r0"] - lo["r0"])
        result["interpolated"] = {
            "status": "ok",
            **_interval((1 - w) * draws[0] + w * draws[1]),
            "bins": [int(lo["bin"]), int(hi["bin"])],
            "r0_kpc": [float(lo["r0"]), float(hi["r0"])],
            "converged": bool(lo["converged"] and hi["converged"]),
        }
    inside = ok[(ok["r_lo"] <= r_sun) & (r_sun < ok["r_hi"])]
    if inside.empty:
        result["in_bin_model"] = {"status": f"no fitted bin contains R0={r_sun} kpc"}
    else:
        row = inside.iloc[0]
        s = samples[samples["bin"] == row["bin"]]
        v = local_vesc(s["v_esc"].to_numpy(dtype=float), s["gamma"].to_numpy(dtype=float), np.log(r_sun / row["r0"]))
        result["in_bin_model"] = {
            "status": "ok",
            **_interval(v),
            "bin": int(row["bin"]),
            "r0_kpc": float(row["r0"]),
            "converged": bool(row["converged"]),
        }
    return result


def escape_velocity_at_sun(
    samples_bin1: pd.DataFrame,
    samples_bin2: pd.DataFrame,
    table_bin1: pd.DataFrame,
    table_bin2: pd.DataFrame,
    galaxy_frame: dict,
    params: dict,
) -> dict:
    """v_esc at the Sun (R0) with 68 % intervals, for both binnings [km/s].

    ``interpolated``: linear interpolation in r between the two fitted bins whose r0
    bracket R0, evaluated on ``n_draws`` independent draws from each bin's posterior
    (bins are independent), then median and 16/84 percentiles. ``in_bin_model``:
    the in-bin law v_esc(r0)·(R0/r0)^(−γ/2) of the bin containing R0, per posterior sample.
    Each carries ``converged``: whether the chains of the bins it uses met the convergence criteria.
    """
    cfg = params["vesc_at_sun"]
    rng = np.random.default_rng(cfg["seed"])
    r_sun = float(galaxy_frame["R0_kpc"])
    out = {"likelihood": params["likelihood"], "method": VESC_AT_SUN_METHOD}
    for binning, samples, table in zip(BINNINGS, (samples_bin1, samples_bin2), (table_bin1, table_bin2)):
        out[binning] = _vesc_at_sun_one(samples, table, r_sun, cfg["n_draws"], rng)
    return out
