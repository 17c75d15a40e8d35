"""`ingest` end to end on the small session mock: wiring, outputs and the cut flow."""

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from milkyway_mass.pipelines.ingest.pipeline import create_pipeline
from milkyway_mass.schemas import STARS_6D_COLUMNS


class _KeptDataset(MemoryDataset):
    """A MemoryDataset that the runner cannot release, so outputs can be inspected."""

    def _release(self) -> None:
        pass


@pytest.fixture(scope="module")
def run(mock_observed, shared_params):
    lamost, gaia, defects = mock_observed
    pipe = create_pipeline()
    catalog = DataCatalog(
        {
            "lamost_kgiants": MemoryDataset(lamost),
            "gaia_dr3": MemoryDataset(gaia),
            "params:ingest": MemoryDataset(shared_params["ingest"]),
            "params:cut_flow": MemoryDataset(shared_params["cut_flow"]),
            "stars_6d": _KeptDataset(),
            "cut_flow_ingest": _KeptDataset(),
        }
    )
    SequentialRunner().run(pipe, catalog)
    return catalog["stars_6d"].load(), catalog["cut_flow_ingest"].load(), defects


def test_pipeline_inputs_and_outputs_are_the_contract():
    pipe = create_pipeline()
    assert pipe.inputs() == {"lamost_kgiants", "gaia_dr3", "params:ingest", "params:cut_flow"}
    assert pipe.outputs() == {"stars_6d", "cut_flow_ingest"}


def test_stars_6d_has_one_row_per_gaia_source_and_the_cut_flow_ends_with_it(run):
    stars, cut_flow, defects = run
    assert list(stars.columns) == list(STARS_6D_COLUMNS)
    assert not stars.source_id.duplicated().any()
    assert cut_flow.cut.tolist()[-5:] == [
        "cross-matched with Gaia DR3",
        "Gaia values within physical ranges",
        "full 6D phase space",
        "each obsid observes one star",
        "one observation per Gaia source",
    ]
    assert cut_flow.n_stars.iloc[-1] == len(stars)
    assert cut_flow.n_stars.iloc[0] - cut_flow.n_removed.sum() == len(stars)
    assert cut_flow.n_removed.iloc[-1] == (defects.defect == "repeat_observation").sum() > 0
