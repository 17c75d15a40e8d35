"""Input schemas: column rules stop naming file, column and value; row rules count by first reason."""

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.input_schemas import (
    InputSchemaError,
    check_columns,
    constraint_table_schema,
    first_failure_counts,
    range_schema,
    row_failures,
    row_rules_schema,
    survey_table_schema,
)

TABLE = pd.DataFrame({"speed": [1.0, np.nan, 11.0, -3.0, np.inf], "sid": [1, 2, 3, 4, 5]})
SURVEY = survey_table_schema({"speed": "speed", "source_id": "sid"}, integer_ids=["source_id"])


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (TABLE.drop(columns="speed"), r"f\.fits: column 'speed' is missing; found columns \['sid'\]"),
        (TABLE.assign(speed=list("abcde")), r"column 'speed' must be numeric \(not text or boolean\): dtype .*'a'"),
        (TABLE.assign(speed=[True] * 5), r"column 'speed' must be numeric.*dtype bool"),
        (TABLE.assign(sid=TABLE.sid * 1.0), r"column 'sid' must be an integer column .*: dtype float64, e\.g\. 1\.0"),
    ],
)
def test_column_problems_stop_naming_file_column_and_value(table, message):
    with pytest.raises(InputSchemaError, match=message):
        check_columns(table, SURVEY, "f.fits")


def test_valid_survey_table_passes_with_missing_values_and_nullable_ids():
    table = TABLE.assign(sid=pd.array([1, None, 3, 4, 5], dtype="Int64"))
    assert check_columns(table, SURVEY, "f.fits") is not None


def test_constraint_tables_convert_text_and_stop_on_bad_values_naming_the_row():
    schema = constraint_table_schema(["R", "corr"], positive=["R"], correlations=["corr"])
    good = check_columns(pd.DataFrame({"R": ["1.5", "2"], "corr": [0.1, -0.2]}), schema, "t.txt")
    assert good.R.tolist() == [1.5, 2.0]
    with pytest.raises(InputSchemaError, match=r"t\.txt: column 'R' must hold numbers: e\.g\. 'far' \(row 1;"):
        check_columns(pd.DataFrame({"R": ["1.5", "far"], "corr": [0.1, 0.2]}), schema, "t.txt")
    bad = pd.DataFrame({"R": [1.0, -2.0, np.nan], "corr": [0.1, 1.0, 0.0]}, index=["A", "B", "C"])
    with pytest.raises(InputSchemaError) as err:
        check_columns(bad, schema, "t.txt", row="cluster")
    text = str(err.value)
    assert "column 'R' must not be missing (NaN): e.g. nan (cluster C; 1 cluster(s) in all)" in text
    assert "column 'R' must be positive: e.g. -2.0 (cluster B" in text
    assert "column 'corr' must lie strictly in (-1, 1): e.g. 1.0 (cluster B" in text


def test_range_rules_judge_finite_values_only_and_count_each_row_once():
    failures = row_failures(TABLE, range_schema({"speed": [0, 10], "sid": [0, 3]}))
    assert failures.columns.tolist() == ["speed outside [0, 10]", "sid outside [0, 3]"]
    bad, counts = first_failure_counts(failures)
    assert bad.tolist() == [False, False, True, True, True]  # NaN passes, inf fails
    assert counts == {"speed outside [0, 10]": 3, "sid outside [0, 3]": 0}


def test_row_rules_see_missing_values():
    rules = {"no speed": lambda t: t.speed.notna(), "late": lambda t: t.sid < 5}
    bad, counts = first_failure_counts(row_failures(TABLE, row_rules_schema(rules)))
    assert bad.tolist() == [False, True, False, False, True]
    assert counts == {"no speed": 1, "late": 1}


def test_an_empty_table_fails_no_rule():
    bad, counts = first_failure_counts(row_failures(TABLE.iloc[:0], range_schema({"speed": [0, 10]})))
    assert len(bad) == 0 and counts == {"speed outside [0, 10]": 0}


def test_a_row_rule_that_cannot_be_evaluated_stops_instead_of_passing_rows():
    with pytest.raises(ValueError, match="row rule 'broken' could not be evaluated"):
        row_failures(TABLE, row_rules_schema({"broken": lambda t: t["no such column"] > 0}))
