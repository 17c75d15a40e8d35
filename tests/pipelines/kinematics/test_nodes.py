"""Tests of the `kinematics` node."""

import numpy as np
import pytest

from milkyway_mass.pipelines.kinematics.nodes import compute_galactocentric
from milkyway_mass.schemas import GALACTOCENTRIC_COLUMNS, STARS_6D_COLUMNS
from tests.galaxy.test_coordinates import FRAME, make_stars_6d

KINEMATICS = {"mc_draws": 20, "seed": 3, "chunk_size": 16, "progress": False}


def test_output_has_the_contract_columns_and_keeps_every_star():
    stars = make_stars_6d(40, seed=2)
    shuffled = stars[list(reversed(STARS_6D_COLUMNS))].set_index(np.arange(100, 140))
    out = compute_galactocentric(shuffled, FRAME, KINEMATICS)
    assert list(out.columns) == list(STARS_6D_COLUMNS) + list(GALACTOCENTRIC_COLUMNS)
    assert len(out) == 40 and out.index.tolist() == list(range(40))
    np.testing.assert_array_equal(out["obsid"], stars["obsid"])
    assert np.isfinite(out[list(GALACTOCENTRIC_COLUMNS)].to_numpy()).all()
    np.testing.assert_allclose(out["r_gc"] ** 2, out["R_gc"] ** 2 + out["z_gc"] ** 2)
    np.testing.assert_allclose(out["v_gc"] ** 2, out["v_R"] ** 2 + out["v_phi"] ** 2 + out["v_z"] ** 2)


def test_missing_schema_column_is_named():
    with pytest.raises(ValueError, match="teff"):
        compute_galactocentric(make_stars_6d(3).drop(columns="teff"), FRAME, KINEMATICS)
