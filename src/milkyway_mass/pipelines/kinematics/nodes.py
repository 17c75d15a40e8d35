"""Nodes of the `kinematics` pipeline: Galactocentric positions, velocities and their errors.

Frame: astropy's Galactocentric frame from ``params:galaxy_frame`` (see
:mod:`milkyway_mass.galaxy.coordinates`); prograde orbits have v_phi < 0.
Units: kpc, km/s, mas/yr, deg (``phi_gc`` in rad).
"""

from __future__ import annotations

import logging

import pandas as pd

from milkyway_mass.galaxy.coordinates import add_galactocentric_columns
from milkyway_mass.schemas import GALACTOCENTRIC_COLUMNS, STARS_6D_COLUMNS

logger = logging.getLogger(__name__)


def compute_galactocentric(stars_6d: pd.DataFrame, galaxy_frame: dict, kinematics: dict) -> pd.DataFrame:
    """``stars_6d`` plus the ``GALACTOCENTRIC_COLUMNS``, with Monte Carlo velocity errors.

    Every star is kept; input that cannot be transformed (missing column, non-finite
    value, dist <= 0, negative error, |corr| > 1) raises ``ValueError`` naming the column.
    """
    missing = [c for c in STARS_6D_COLUMNS if c not in stars_6d.columns]
    if missing:
        raise ValueError(f"stars_6d lacks column(s) {missing} of schemas.STARS_6D_COLUMNS")
    stars = stars_6d[list(STARS_6D_COLUMNS)].reset_index(drop=True)
    out = add_galactocentric_columns(
        stars,
        galaxy_frame,
        n_draws=kinematics["mc_draws"],
        seed=kinematics["seed"],
        chunk_size=kinematics["chunk_size"],
        progress=kinematics["progress"],
    )
    logger.info(
        "kinematics: %d stars transformed; %d Monte Carlo draws each; median sigma_vGC %.1f km/s",
        len(out),
        kinematics["mc_draws"],
        out["sigma_v_gc"].median() if len(out) else float("nan"),
    )
    return out[list(STARS_6D_COLUMNS) + list(GALACTOCENTRIC_COLUMNS)]
