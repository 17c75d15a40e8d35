"""Benchmark of the Analysis-B science modules (plain script).

    python benchmarks/analysis_b_models_benchmark.py

Reports the McMillan (2017)-type baryon tables' build time, the cost of one
evaluation for 100 walkers (vc at the 38 Eilers radii, K_z at the 43 Bovy & Rix
radii, Phi at 13 escape-velocity radii) of the McMillan baryons and of each halo
family (including building the halo and its r200), and the accuracy of the
baryon model against galpy's McMillan17 (disk + bulge) over R = 4-25 kpc.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from timing import best_of

from milkyway_mass.galaxy.potentials.baryons import McMillanBaryons
from milkyway_mass.galaxy.potentials.composite import circular_speed, dphi_dz, potential
from milkyway_mass.galaxy.potentials.halos import EinastoHalo, NFWHalo, ZhaoHalo

W = 100
R_VC, R_KZ, R_ESC = np.linspace(5.27, 24.82, 38), np.linspace(4.59, 8.55, 43), np.linspace(4.0, 48.0, 13)
BEST = {
    "rho0_bulge_msun_pc3": 98.4,
    "sigma0_thin_msun_pc2": 896.0,
    "rd_thin_kpc": 2.5,
    "sigma0_thick_msun_pc2": 183.0,
    "rd_thick_kpc": 3.02,
}


def _report(label: str, seconds: float) -> None:
    print(f"{label:<48s} {seconds * 1e3:8.2f} ms per call = {W / seconds:9.0f} walker-evaluations/s")  # noqa: T201


def main() -> None:
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    model = McMillanBaryons().build_tables()
    print(f"McMillan tables built in {time.perf_counter() - t:.1f} s")  # noqa: T201
    params = {k: v * rng.uniform(0.8, 1.2, (W, 1)) for k, v in BEST.items()}

    def baryons():
        parts = list(model.components(params).values())
        return circular_speed(parts, R_VC), dphi_dz(parts, R_KZ, 1.1), potential(parts, R_ESC, 0.0)

    _report("McMillan baryons (vc, K_z, Phi)", best_of(baryons, repeat=5, number=20))
    column = lambda lo, hi: rng.uniform(lo, hi, (W, 1))  # noqa: E731
    halos = {
        "NFW": lambda: NFWHalo(column(1e6, 3e7), column(5, 30)),
        "Zhao": lambda: ZhaoHalo(column(1e6, 3e7), column(5, 30), column(0.5, 3), column(2.5, 5), column(0, 1.5)),
        "Einasto": lambda: EinastoHalo(column(1e6, 3e7), column(5, 30), column(2, 8)),
    }
    for name, build in halos.items():

        def evaluate(build=build):
            halo = build()
            return halo.circular_speed(R_VC), halo.vertical_force(R_KZ, 1.1), halo.escape_speed(R_ESC)

        _report(f"{name} halo (build + r200 + vc, K_z, v_esc)", best_of(evaluate, repeat=5, number=20))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from galpy.potential.McMillan17 import McMillan_bulge, McMillan_disk, ro, vo  # noqa: PLC0415 - builds SCF expansions (~8 s)
    R = np.linspace(4.0, 25.0, 85)
    x, zeros = R / ro, np.zeros_like(R)
    pots = (McMillan_disk, McMillan_bulge)
    ref = {
        "vc": np.sqrt(-x * sum(p.Rforce(x, zeros, use_physical=False) for p in pots)) * vo,
        "K_z(1.1 kpc)": -sum(p.zforce(x, zeros + 1.1 / ro, use_physical=False) for p in pots) * vo**2 / ro,
        "Phi(z=0)": sum(p(x, zeros, use_physical=False) for p in pots) * vo**2,
    }
    parts = list(model.components(BEST).values())
    ours = {
        "vc": circular_speed(parts, R),
        "K_z(1.1 kpc)": dphi_dz(parts, R, 1.1),
        "Phi(z=0)": potential(parts, R, 0.0),
    }
    for key, value in ref.items():
        print(  # noqa: T201
            f"max |ours / galpy McMillan17 - 1| over R = 4-25 kpc, {key:<13s}: {np.max(np.abs(ours[key] / value - 1)):.1e}"
        )


if __name__ == "__main__":
    main()
