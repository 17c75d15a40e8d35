"""`escape_velocity`: selected halo stars in radial bins → v_esc per bin, the curve and v_esc at the Sun (METHOD.md §4)."""

from kedro.pipeline import Pipeline, node

from milkyway_mass.schemas import BINNINGS

from .figures import plot_corner, plot_tail_fits, plot_vesc_curve
from .nodes import (
    escape_velocity_at_sun,
    fit_escape_velocity,
    summarise_escape_velocity,
)

PARAMS = "params:escape_velocity"


def create_pipeline(**kwargs) -> Pipeline:
    per_binning = []
    for name in BINNINGS:
        per_binning += [
            node(
                summarise_escape_velocity,
                inputs=[f"vesc_chains_{name}", PARAMS],
                outputs=[f"vesc_samples_{name}", f"vesc_table_{name}"],
                name=f"summarise_vesc_{name}",
            ),
            node(
                plot_tail_fits,
                inputs=[f"selected_stars_{name}", f"vesc_chains_{name}", f"vesc_table_{name}", PARAMS],
                outputs=f"fig_vesc_fits_{name}",
                name=f"plot_vesc_fits_{name}",
            ),
            node(
                plot_corner,
                inputs=[f"vesc_chains_{name}", PARAMS],
                outputs=f"fig_vesc_corner_{name}",
                name=f"plot_vesc_corner_{name}",
            ),
        ]
    return Pipeline(
        [
            node(
                fit_escape_velocity,
                inputs=[*(f"selected_stars_{name}" for name in BINNINGS), "radial_bins", PARAMS],
                outputs=[f"vesc_chains_{name}" for name in BINNINGS],
                name="fit_escape_velocity",
            ),
            *per_binning,
            node(
                escape_velocity_at_sun,
                inputs=[
                    *(f"vesc_samples_{name}" for name in BINNINGS),
                    *(f"vesc_table_{name}" for name in BINNINGS),
                    "params:galaxy_frame",
                    PARAMS,
                ],
                outputs="vesc_at_sun",
                name="escape_velocity_at_sun",
            ),
            node(
                plot_vesc_curve,
                inputs=[
                    *(f"vesc_table_{name}" for name in BINNINGS),
                    "vesc_at_sun",
                    "published_vesc_bin1",
                    "params:galaxy_frame",
                    PARAMS,
                ],
                outputs="fig_vesc_curve",
                name="plot_vesc_curve",
            ),
        ]
    )
