"""One home for the tables a run shows in the Dagster UI.

Every table of the package's metadata is a ``MetadataValue.table`` with a ``TableSchema``, so Dagster
renders, sorts and types it (the hand-made Markdown tables it replaces could only be read). Each text
cell goes through ``redaction.safe_text`` (encodable, secrets redacted, capped), since cells carry
contributors' titles, model errors and URLs. A list longer than ``limit`` keeps its first rows and ends
with a row whose first cell says how many more there are, so the UI never drops rows silently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from .redaction import safe_text

#: A text cell longer than this is clipped (its full value is in the day's files).
CELL_CHARS = 160


def schema(*columns: tuple[str, str] | tuple[str, str, str]) -> dg.TableSchema:
    """``schema(("id", "string"), ("count", "int", "what it counts"), ...)``: name, type, description."""
    return dg.TableSchema(columns=[dg.TableColumn(*column) for column in columns])


def table(
    table_schema: dg.TableSchema, rows: Sequence[Mapping[str, Any]], *, limit: int | None = 50
) -> dg.TableMetadataValue:
    """The rows (mappings keyed by column name; a missing key is an empty cell) as a typed UI table."""
    names = [column.name for column in table_schema.columns]
    shown = rows if limit is None else rows[:limit]
    records = [dg.TableRecord({name: _cell(row.get(name)) for name in names}) for row in shown]
    if len(shown) < len(rows):
        more = {name: None for name in names}
        more[names[0]] = f"… {len(rows) - len(shown)} more"
        records.append(dg.TableRecord(more))
    return dg.MetadataValue.table(records=records, schema=table_schema)


def _cell(value: Any) -> str | int | float | bool | None:
    if isinstance(value, float) and math.isnan(value):
        return None  # not a number the UI can sort: an empty cell
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return safe_text(value if isinstance(value, str) else str(value), CELL_CHARS).replace("\n", " ")


def confusion_table(
    counts: Mapping[str, Mapping[str, int]], *, truth: str, judged: str
) -> dg.TableMetadataValue:
    """A confusion matrix: one row per true class (column ``truth``), one count column per judged class."""
    classes = list(dict.fromkeys(name for row in counts.values() for name in row))
    table_schema = schema(
        (truth, "string", f"the {truth} class"), *((name, "int", f"{judged} {name}") for name in classes)
    )
    return table(table_schema, [{truth: true_class, **row} for true_class, row in counts.items()], limit=None)
