"""Wiring of the `validation` pipeline (mock only)."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.halo_cut_vs_truth,
                {
                    "truth_stars": "mock_truth_stars",
                    "bin1": "high_velocity_stars_bin1",
                    "bin2": "high_velocity_stars_bin2",
                },
                "validation_halo_cut",
                name="halo_cut_vs_truth",
            ),
            node(
                nodes.vesc_recovery,
                ["mock_truth", "vesc_table_bin1", "vesc_table_bin2"],
                "validation_vesc_recovery",
                name="vesc_recovery",
            ),
            node(
                nodes.summarise_vesc_recovery,
                "validation_vesc_recovery",
                "validation_vesc_summary",
                name="summarise_vesc_recovery",
            ),
            node(
                nodes.plot_vesc_recovery,
                ["validation_vesc_recovery", "mock_truth"],
                "fig_vesc_recovery",
                name="plot_vesc_recovery",
            ),
            node(
                nodes.mass_recovery,
                ["halo_mass_summary", "mock_truth"],
                "validation_mass_recovery",
                name="mass_recovery",
            ),
            node(
                nodes.analysis_b_recovery,
                ["halo_mass_b_summary", "mock_truth"],
                "validation_mass_recovery_b",
                name="analysis_b_recovery",
            ),
            node(
                nodes.validation_report,
                [
                    "validation_halo_cut",
                    "validation_vesc_recovery",
                    "validation_vesc_summary",
                    "validation_mass_recovery",
                    "validation_mass_recovery_b",
                ],
                "validation_report",
                name="validation_report",
            ),
        ]
    )
