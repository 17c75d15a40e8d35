"""Declarative schemas of the input tables, checked with pandera.

The project's two rules for bad input, as two kinds of schema:

- **Column rules** (:func:`check_columns`): a column that is missing, not numeric, holds
  Gaia ids that are not integers, or holds a value that a constraint table cannot have
  stops the run with :class:`InputSchemaError`, naming the file, the column, an example
  value and its row.
- **Row rules** (:func:`row_failures`): a row of a survey table with a value outside its
  physical range or without a usable measurement is removed, and counted by reason
  (each rule's ``error`` text is its reason in the cut flow).

Each schema is built from the settings that describe the table (column names, ranges),
so that other surveys are described by configuration, not code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

__all__ = [
    "NUMERIC",
    "InputSchemaError",
    "check_columns",
    "constraint_table_schema",
    "first_failure_counts",
    "range_schema",
    "row_failures",
    "row_rules_schema",
    "survey_table_schema",
]


class InputSchemaError(ValueError):
    """An input table cannot be used; the message names the file, the column and an example value."""


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


_NUMERIC_TEXT = "must be numeric (not text or boolean)"
_INTEGER_IDS_TEXT = (
    "must be an integer column (Gaia source ids have 19 digits and float64 keeps ~16, so ids would "
    "match the wrong star; write it as int64)"
)
#: A column check: numeric, not boolean (missing values allowed).
NUMERIC = pa.Check(_is_numeric, error=_NUMERIC_TEXT)
_FINITE = pa.Check(lambda s: pd.Series(np.isfinite(s.to_numpy(dtype=float)), index=s.index), error="must be finite")
_POSITIVE = pa.Check.gt(0, error="must be positive")
_CORRELATION = pa.Check.in_range(-1, 1, include_min=False, include_max=False, error="must lie strictly in (-1, 1)")

#: What pandera's built-in checks mean, in the words of the error messages.
_BUILT_IN = {
    "not_nullable": "must not be missing (NaN)",
    "field_uniqueness": "must hold unique values",
}


def _whole_column_rule(column: str, test, text: str) -> pa.Check:
    """``test`` (column → bool) applied to ``column`` as a table-level check, which pandera runs
    several times faster than a column's own checks on small tables; ``text`` says what it must be."""
    return pa.Check(lambda t: test(t[column]), error=f"column '{column}' {text}")


def survey_table_schema(columns: Mapping[str, str], integer_ids: Iterable[str] = ()) -> pa.DataFrameSchema:
    """Column rules of a survey table: every file column of ``columns`` (canonical → file
    column) present and numeric; the canonical columns ``integer_ids`` of integer dtype.
    Missing values are allowed (the rows are judged later and counted)."""
    ids = set(integer_ids)
    rules = [(_is_numeric, _NUMERIC_TEXT)]
    id_rules = [*rules, (pd.api.types.is_integer_dtype, _INTEGER_IDS_TEXT)]
    pairs = [(col, rule) for canon, col in columns.items() for rule in (id_rules if canon in ids else rules)]
    checks = [_whole_column_rule(col, *rule) for col, rule in pairs]
    return pa.DataFrameSchema(
        {col: pa.Column(nullable=True) for col in columns.values()},
        checks=checks,
        strict=False,
        metadata={"rule_columns": {check.error: col for check, (col, _) in zip(checks, pairs)}},
    )


def range_schema(ranges: Mapping[str, Iterable[float]]) -> pa.DataFrameSchema:
    """Row rules: the finite values of each column (canonical names) within ``[lo, hi]``;
    an infinite value fails, a missing one (NaN) passes (the full-6D cut judges it)."""

    def within(col, lo, hi):
        def rule(table: pd.DataFrame) -> pd.Series:
            values = table[col].astype(float)
            return ~((values < float(lo)) | (values > float(hi)))

        return rule

    return row_rules_schema({f"{col} outside [{lo}, {hi}]": within(col, lo, hi) for col, (lo, hi) in ranges.items()})


def row_rules_schema(rules: Mapping[str, callable]) -> pa.DataFrameSchema:
    """Row rules across columns: ``rules`` maps the reason a row is removed to a function
    (table → boolean Series, True where the row is usable; it sees the missing values too)."""
    checks = [pa.Check(fn, error=reason, ignore_na=False) for reason, fn in rules.items()]
    return pa.DataFrameSchema(checks=checks, strict=False)


def constraint_table_schema(
    finite: Iterable[str], positive: Iterable[str] = (), correlations: Iterable[str] = ()
) -> pa.DataFrameSchema:
    """Column rules of a small constraint table (rotation curve, K_z, globular clusters): the
    ``finite`` columns numbers (text is converted, or stops), never missing, finite; the
    ``positive`` ones also > 0; the ``correlations`` strictly between -1 and 1."""
    positive, correlations = set(positive), set(correlations)

    def rules(column: str) -> list[pa.Check]:
        return (
            [_FINITE] + ([_POSITIVE] if column in positive else []) + ([_CORRELATION] if column in correlations else [])
        )

    return pa.DataFrameSchema({c: pa.Column(float, checks=rules(c), coerce=True) for c in finite}, strict=False)


def _show(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_columns(table: pd.DataFrame, schema: pa.DataFrameSchema, source: str, row: str = "row") -> pd.DataFrame:
    """``table`` validated against the column rules of ``schema`` (coerced where the schema
    says so); otherwise :class:`InputSchemaError` naming ``source``, every failing column,
    what it must be, an example value and its ``row`` (the index label: a 0-based data row,
    or e.g. a cluster name with ``row="cluster"``)."""
    try:
        return schema.validate(table, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases.astype({"check": str})
        rule_columns = (schema.metadata or {}).get("rule_columns", {})
        cases["column"] = cases.check.map(rule_columns).fillna(cases.column)
        missing = cases.check == "column_in_dataframe"
        unconvertible = cases.check.str.startswith("coerce_dtype(")
        if missing.any():  # the other rules could not run
            cases = cases[missing]
        elif unconvertible.any():  # the other rules ran on text: report what could not be read as a number
            cases = cases[unconvertible]
        problems = []
        for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
            if check == "column_in_dataframe":
                problems.append(f"column '{group.failure_case.iloc[0]}' is missing")
                continue
            what = "must hold numbers" if check.startswith("coerce_dtype(") else _BUILT_IN.get(check, check)
            what = what.removeprefix(f"column '{column}' ")
            rows = group["index"].dropna()
            if len(rows):
                example = (
                    f"e.g. {_show(group.failure_case.iloc[0])} ({row} {rows.iloc[0]}; {len(rows)} {row}(s) in all)"
                )
            else:  # a rule on the whole column
                values = table[column].dropna()
                example = f"dtype {table[column].dtype}" + (f", e.g. {_show(values.iloc[0])}" if len(values) else "")
            problems.append(f"column '{column}' {what}: {example}")
        found = f"; found columns {list(table.columns)}" if any(p.endswith("is missing") for p in problems) else ""
        raise InputSchemaError(f"{source}: " + "; ".join(problems) + found) from None


def row_failures(table: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Which rule each row of ``table`` fails: a boolean table (index of ``table``, one column
    per rule of ``schema``, named by its ``error`` text, in the schema's order: column rules,
    then rules across columns)."""
    reasons = [c.error for col in schema.columns.values() for c in col.checks] + [c.error for c in schema.checks]
    failures = pd.DataFrame(False, index=table.index, columns=list(dict.fromkeys(reasons)))
    try:
        schema.validate(table, lazy=True)
    except SchemaErrors as err:
        broken = err.failure_cases[err.failure_cases["index"].isna()]
        if len(broken):  # a rule that raised instead of judging rows must not pass them silently
            raise ValueError(
                f"row rule '{broken.check.iloc[0]}' could not be evaluated: {broken.failure_case.iloc[0]}"
            ) from None
        cases = err.failure_cases
        for reason, group in cases.groupby("check", sort=False):
            failures.loc[group["index"].astype(table.index.dtype).unique(), str(reason)] = True
    return failures


def first_failure_counts(failures: pd.DataFrame) -> tuple[pd.Series, dict[str, int]]:
    """(rows failing any rule, count per rule); a row failing several is counted under the first."""
    first = failures.to_numpy().argmax(axis=1)
    bad = failures.any(axis=1)
    counts = {reason: int((bad & (first == i)).sum()) for i, reason in enumerate(failures.columns)}
    return bad, counts
