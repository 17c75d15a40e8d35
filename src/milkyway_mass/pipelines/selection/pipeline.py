"""`selection`: ``stars_galactocentric`` → high-velocity halo stars in radial bins (METHOD.md §2-§3)."""

from kedro.pipeline import Pipeline, node

from milkyway_mass.schemas import BINNINGS

from .nodes import (
    apply_quality_cuts,
    assemble_cut_flow,
    build_radial_bin_limits,
    build_reference_vesc_curves,
    combine_radial_bins,
    plot_halo_separation,
    plot_vgc_rgc,
    select_binning,
)

#: The binnings of ``params:selection.binnings``; dataset names carry them.


def create_pipeline(**kwargs) -> Pipeline:
    frame = ["params:galaxy_frame", "params:cosmology"]
    binning_nodes = [
        node(
            select_binning,
            inputs=["quality_stars", f"radial_bin_limits_{name}", "params:selection", "params:galaxy_frame"],
            outputs=[
                f"high_velocity_stars_{name}",
                f"selected_stars_{name}",
                f"radial_bins_{name}",
                f"cut_flow_{name}",
            ],
            name=f"select_{name}",
        )
        for name in BINNINGS
    ]
    return Pipeline(
        [
            node(
                apply_quality_cuts,
                inputs=["stars_galactocentric", "params:selection.quality"],
                outputs=["quality_stars", "cut_flow_quality"],
                name="apply_quality_cuts",
            ),
            node(
                build_reference_vesc_curves,
                inputs=["params:selection.reference_curves", "params:selection.v_min", *frame],
                outputs="reference_vesc_curves",
                name="build_reference_vesc_curves",
            ),
            node(
                build_radial_bin_limits,
                inputs=[
                    "params:selection.binnings",
                    "params:selection.v_min",
                    "params:selection.reference_curves",
                    *frame,
                ],
                outputs={name: f"radial_bin_limits_{name}" for name in BINNINGS},
                name="build_radial_bin_limits",
            ),
            *binning_nodes,
            node(
                combine_radial_bins,
                inputs=[f"radial_bins_{name}" for name in BINNINGS],
                outputs="radial_bins",
                name="combine_radial_bins",
            ),
            node(
                assemble_cut_flow,
                inputs=[
                    "params:cut_flow",
                    "cut_flow_ingest",
                    "cut_flow_quality",
                    *(f"cut_flow_{name}" for name in BINNINGS),
                ],
                outputs="cut_flow",
                name="assemble_cut_flow",
            ),
            node(
                plot_vgc_rgc,
                inputs=[
                    "quality_stars",
                    "reference_vesc_curves",
                    "radial_bins",
                    "selected_stars_bin1",
                    "params:selection",
                ],
                outputs="fig_vgc_rgc",
                name="plot_vgc_rgc",
            ),
            node(
                plot_halo_separation,
                inputs=[
                    "quality_stars",
                    *(f"high_velocity_stars_{name}" for name in BINNINGS),
                    "params:selection",
                    "params:galaxy_frame",
                ],
                outputs="fig_halo_separation",
                name="plot_halo_separation",
            ),
        ]
    )
