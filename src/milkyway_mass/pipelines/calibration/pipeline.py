"""`calibration`: realisations of every bin from equilibrium DFs → coverage tables, figure and the calibrated curve."""

from kedro.pipeline import Pipeline, node

from . import figures, nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.run_calibration_fits,
                [
                    "selected_stars_bin1",
                    "selected_stars_bin2",
                    "radial_bins",
                    "params:calibration",
                    "params:escape_velocity",
                    "params:selection",
                    "params:galaxy_frame",
                    "params:cosmology",
                ],
                "vesc_calibration_fits",
                name="run_calibration_fits",
            ),
            node(
                nodes.summarise_calibration,
                ["vesc_calibration_fits", "params:calibration"],
                ["vesc_calibration_coverage", "vesc_calibration_leave_one_out"],
                name="summarise_calibration",
            ),
            node(
                figures.plot_coverage,
                "vesc_calibration_coverage",
                "fig_vesc_calibration",
                name="plot_calibration_coverage",
            ),
            node(
                nodes.calibrate_vesc_curve,
                [
                    "vesc_table_bin1",
                    "vesc_table_bin2",
                    "vesc_calibration_fits",
                    "params:calibration",
                    "params:escape_velocity",
                ],
                ["vesc_table_calibrated_bin1", "vesc_table_calibrated_bin2"],
                name="calibrate_vesc_curve",
            ),
        ]
    )
