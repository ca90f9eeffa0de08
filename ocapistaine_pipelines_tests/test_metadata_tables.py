"""The one table helper: typed columns, every row accounted for, text cells safe to show."""

from __future__ import annotations

import math

import dagster as dg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.metadata_tables import CELL_CHARS, confusion_table, schema, table
from ocapistaine_pipelines.redaction import register_secret

from .budget import examples

SCHEMA = schema(("id", "string"), ("count", "int", "how many"), ("score", "float"))

cells = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text(max_size=200), st.booleans())


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries({}, optional={"id": cells, "count": cells, "score": cells}), max_size=15
    ),
    limit=st.one_of(st.none(), st.integers(min_value=0, max_value=25)),
)
def test_every_row_is_shown_or_counted_with_every_column(rows, limit):
    value = table(SCHEMA, rows, limit=limit)
    assert isinstance(value, dg.TableMetadataValue) and value.schema == SCHEMA
    records = [record.data for record in value.records]
    assert all(list(record) == ["id", "count", "score"] for record in records)
    shown = len(rows) if limit is None else min(limit, len(rows))
    if shown < len(rows):
        assert records[-1] == {"id": f"… {len(rows) - shown} more", "count": None, "score": None}
        records = records[:-1]
    assert len(records) == shown
    for record in records:
        for cell in record.values():
            assert not (isinstance(cell, float) and math.isnan(cell))  # NaN becomes an empty cell
            if isinstance(cell, str):
                assert "\n" not in cell and len(cell) <= CELL_CHARS + 40  # clipped (with its hash)


def test_a_secret_in_a_cell_is_redacted():
    register_secret("tok-1234567890")
    value = table(SCHEMA, [{"id": "x", "count": 1, "score": 0.5}, {"id": "Bearer tok-1234567890 refused"}])
    assert value.records[1].data["id"] == "Bearer *** refused"


def test_a_confusion_table_has_one_row_per_true_class_and_a_count_column_per_judged_class():
    value = confusion_table(
        {"valid": {"valid": 4, "invalid": 1}, "invalid": {"valid": 2, "invalid": 3}},
        truth="truth",
        judged="judged",
    )
    assert [column.name for column in value.schema.columns] == ["truth", "valid", "invalid"]
    assert [record.data for record in value.records] == [
        {"truth": "valid", "valid": 4, "invalid": 1},
        {"truth": "invalid", "valid": 2, "invalid": 3},
    ]
