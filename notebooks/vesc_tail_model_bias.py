"""Large-sample bias of the tail models: what each estimator converges to on exact equilibrium speeds.

Coverage studies (the ``calibration`` pipeline) mix two things: the scatter of a
few hundred stars and the misspecification of the tail model. This study isolates
the second. For each DF and radial bin it draws a large noise-free sample
(``--stars``, default 30,000) with speeds v ≥ v_min from p(v | r) ∝ v² f(E) in the
calibration's reference potential, finds the maximum-likelihood v_esc(r0) of each
tail model (``escape_velocity``'s likelihoods, outlier fraction free, from several
starts of k) and reports median/true − 1. A model whose large-sample bias is not
≈ 0 cannot have calibrated intervals at any star count.

``--top q`` additionally fits only the stars above q × the true v_esc(r0) of the
bin (a diagnostic of how the bias depends on the speed range; it uses the truth to
place the cut, so it is not an estimator).

Run from the project root (a few minutes on one core):

    python notebooks/vesc_tail_model_bias.py [--stars 30000] [--bins 1 7 12] [--top 0.75 0.85]

It writes ``bias.csv`` and ``summary.md`` to a new timestamped folder under
``data/08_reporting/vesc_tail_model_bias/``. Units: km/s, kpc.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from milkyway_mass.config import load_parameters
from milkyway_mass.galaxy.mock import TruthGalaxy
from milkyway_mass.galaxy.tail.calibration import energy_df, sample_speeds
from milkyway_mass.galaxy.tail.fit import maximise_likelihood, tail_prior
from milkyway_mass.galaxy.tail.likelihood import TailData, TailLikelihood
from milkyway_mass.pipelines.selection.nodes import build_radial_bin_limits

PROJECT = Path(__file__).resolve().parents[1]
MODELS = {"published": ((0.1, 3.7),), "df_consistent": ((0.0, 6.0),)}


def max_likelihood_vesc(v, r, v_min: float, model: str, k_range, sigma_out: float) -> tuple[float, float, float]:
    """(v_esc(r0), k, r0) at the maximum likelihood of ``model`` over several starts in k (outlier fraction free)."""
    r0 = float(np.median(r))
    data = TailData(v=v, r=r, sigma=np.full(v.size, 1e-3), v_min=np.full(v.size, v_min), r0=r0)
    like = TailLikelihood(data, sigma_out, model)
    prior = tail_prior(model, v_min, k_range, {"vesc_max_kms": 1000.0, "gamma": (0.0, 1.5), "f": (1e-7, 0.5)})
    best = max(
        (
            maximise_likelihood(like, prior, (1.01 * v.max(), k0, 0.3, 1e-5), 4000)
            for k0 in np.linspace(k_range[0] + 0.3, k_range[1] - 0.3, 3)
        ),
        key=lambda t: t[1],
    )
    return float(best[0][0]), float(best[0][1]), r0


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=30000, help="stars per bin and DF")
    parser.add_argument("--bins", type=int, nargs="+", default=[0, 5, 11], help="Bin-1 bin indices")
    parser.add_argument("--top", type=float, nargs="*", default=[], help="also fit only v >= q * true v_esc(r0)")
    parser.add_argument(
        "--dfs",
        nargs="*",
        default=None,
        help="DF names (default: the calibration family, its held-out DFs and power_2.5)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=PROJECT / "data" / "08_reporting" / "vesc_tail_model_bias")
    args = parser.parse_args(argv)

    params = load_parameters(PROJECT)
    cal, sel = params["calibration"], params["selection"]
    galaxy = TruthGalaxy.from_config(cal["potential"], params["cosmology"], params["galaxy_frame"])
    bins = build_radial_bin_limits(
        sel["binnings"], sel["v_min"], sel["reference_curves"], params["galaxy_frame"], params["cosmology"]
    )["bin1"]
    bins = bins[bins["bin"].isin(args.bins)]
    dfs = {name: cal["dfs"][name] for name in (*cal["family"], *cal["held_out"])} | {
        "power_2.5": {"variant": "power_2.5"}
    }
    if args.dfs is not None:
        dfs = {name: dfs[name] for name in args.dfs}
    rng = np.random.default_rng(args.seed)
    rows = []
    for name, spec in dfs.items():
        f = energy_df(spec["variant"], galaxy, spec.get("tracer"))
        for _, b in bins.iterrows():
            r = np.exp(rng.uniform(np.log(b["r_lo"]), np.log(b["r_hi"]), args.stars))
            v = sample_speeds(galaxy, f, r, float(b["v_min"]), rng)
            for q in [None, *args.top]:
                v_cut = (
                    float(b["v_min"]) if q is None else max(float(b["v_min"]), q * float(galaxy.vesc(np.median(r))[0]))
                )
                keep = v >= v_cut
                for model, k_ranges in MODELS.items():
                    for k_range in k_ranges:
                        vesc, k, r0 = max_likelihood_vesc(
                            v[keep], r[keep], v_cut, model, k_range, params["escape_velocity"]["sigma_out_kms"]
                        )
                        truth = float(galaxy.vesc(r0)[0])
                        rows.append(
                            {
                                "df": name,
                                "bin": int(b["bin"]),
                                "r0_kpc": r0,
                                "speed_range": "all" if q is None else f">= {q:g} v_esc",
                                "n_stars": int(keep.sum()),
                                "model": model,
                                "k_range": f"{k_range[0]:g}-{k_range[1]:g}",
                                "k_ml": k,
                                "vesc_true_kms": truth,
                                "vesc_ml_kms": vesc,
                                "bias": vesc / truth - 1.0,
                            }
                        )
                        print(  # noqa: T201
                            f"{name:14s} bin {int(b['bin']):2d} {rows[-1]['speed_range']:>14s} {model:13s} bias {rows[-1]['bias']:+.4f} k={k:.2f}",
                            flush=True,
                        )
    table = pd.DataFrame(rows)
    summary = table.pivot_table(index=["df", "bin"], columns=["speed_range", "model"], values="bias").round(4)
    out = args.out / dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%S.%fZ")
    out.mkdir(parents=True)
    table.to_csv(out / "bias.csv", index=False)
    (out / "summary.md").write_text(
        f"# Large-sample bias of the tail models ({args.stars} stars per bin and DF)\n\n" + summary.to_markdown() + "\n"
    )
    print(summary.to_markdown())  # noqa: T201
    return out


if __name__ == "__main__":
    main()
