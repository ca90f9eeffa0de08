"""Hostile exports: every item is analysed, quarantined with a reason or left to its own day; never lost,
never the cause of a failed day; and what reaches storage stays bounded.

The property test builds arbitrary exports as JSON *text* (so it can hold what ``json.dumps`` refuses to
write: integers of thousands of digits, invalid UTF-8 bytes, 100,000 levels of nesting) and checks the
accounting invariant ``fetched = kept + quarantined + other days`` on each, plus that the day's tables
can be written and that known-good and out-of-range items land where they must.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.contributions.model import Contribution
from ocapistaine_pipelines.contributions.sources import COLUMNS, read_export, run_horizon, split_by_day
from ocapistaine_pipelines.io_utils import atomic_write_parquet

from ..budget import examples

DAY = "2026-03-02"
NOW = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)
GOOD = "Le parking du port d'Audierne est saturé tous les samedis matin pendant le marché."
#: Examples of the property test: 200 in CI (~25 s); ``benchmarks/hostile_exports.py`` runs thousands.
EXAMPLES = int(os.environ.get("OCAPISTAINE_HYPOTHESIS_EXAMPLES", "200"))


# -- building JSON text that json.dumps cannot write --------------------------------------------------
class Raw:
    """A piece of JSON text written as is (huge integers, deep nesting, invalid bytes in a string)."""

    def __init__(self, text: bytes):
        self.text = text


def to_json(value) -> bytes:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return b"{" + b",".join(to_json(str(k)) + b":" + to_json(v) for k, v in value.items()) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(to_json(v) for v in value) + b"]"
    return json.dumps(value).encode("ascii")  # surrogates and control characters come out \\u-escaped


def deep(levels: int) -> Raw:
    return Raw(b"[" * levels + b"]" * levels)


huge_ints = st.integers(4301, 6000).map(lambda n: Raw(b"-" * (n % 2) + b"9" * n))
weird_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=30)  # surrogates included
invalid_utf8 = st.binary(min_size=1, max_size=6).map(
    lambda b: Raw(b'"caf' + b.replace(b'"', b"").replace(b"\\", b"") + b'"')
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    weird_text,
    huge_ints,
    invalid_utf8,
    st.sampled_from([deep(10), deep(1500), deep(100_000)]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(weird_text, inner, max_size=4)),
    max_leaves=12,
)
dates = st.one_of(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.one_of(st.none(), st.timezones()),
    ).map(lambda d: d.isoformat()),
    st.datetimes(
        min_value=dt.datetime(2026, 2, 28), max_value=dt.datetime(2026, 3, 4), timezones=st.timezones()
    ).map(lambda d: d.isoformat()),
    st.integers(-(10**20), 10**20),
    st.floats(),
    st.sampled_from(["1970-01-01", "0001-01-01T00:00:00", "2099-06-01", "not a date", "", "2026-02-30"]),
    json_values,
)
ids = st.one_of(
    st.integers(-5, 5),
    st.sampled_from(["a", "a ", " ", "", "\udcff", "x" * 201]),
    weird_text,
    huge_ints,
    json_values,
)
fields = st.sampled_from([*COLUMNS, "date", "labels", "junk"])  # every column a source reads, and others
records = st.one_of(
    st.dictionaries(fields, st.one_of(json_values, dates, ids), max_size=8),
    st.fixed_dictionaries(
        {"id": ids, "constat_factuel": st.one_of(st.just(GOOD), weird_text, invalid_utf8)},
        optional={"created_at": dates, "category": json_values, "source": json_values, "junk": json_values},
    ),
    json_values,
)


@st.composite
def exports(draw):
    items = draw(st.lists(records, max_size=12))
    good = draw(st.integers(0, 3))
    out_of_range = draw(st.integers(0, 2))
    known: list[tuple[str, str]] = []
    for n in range(good):  # valid, dated in the run's day: must be kept
        items.append({"id": f"good-{n}", "constat_factuel": GOOD, "created_at": f"{DAY}T10:00:00+01:00"})
        known.append((f"good-{n}", "kept"))
    for n in range(out_of_range):  # valid but on a day no run will ever process: must be quarantined
        when = draw(
            st.sampled_from(["1970-01-01T00:00:00Z", "0001-01-01T12:00:00+00:00", "2099-01-01T00:00:00Z"])
        )
        items.append({"id": f"far-{n}", "constat_factuel": GOOD, "created_at": when})
        known.append((f"far-{n}", "date out of range"))
    random.Random(draw(st.integers())).shuffle(items)
    shape = draw(st.sampled_from(["object", "list"]))
    generated_at = draw(st.one_of(st.none(), dates))
    if shape == "list":
        return b"[" + b",".join(to_json(i) for i in items) + b"]", len(items), known
    header = (
        {"generated_at": generated_at, "count": len(items)}
        if generated_at is not None
        else {"count": len(items)}
    )
    body = to_json(header)[:-1] + b',"contributions":[' + b",".join(to_json(i) for i in items) + b"]}"
    return body, len(items), known


@settings(
    max_examples=examples(EXAMPLES),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@pytest.mark.slow
@given(export=exports(), days=st.sampled_from([[DAY], ["2026-03-01", DAY, "2026-03-03"]]))
def test_every_item_of_any_export_is_accounted_for(tmp_path_factory, export, days):
    text, count, known = export
    folder = tmp_path_factory.mktemp("export")
    path = folder / "export.json"
    path.write_bytes(text)
    items = read_export(path)
    assert len(items) == count  # nothing lost while reading, whatever one item holds

    split = split_by_day(items, days, now=NOW)
    accounting = split.accounting
    assert accounting.fetched == count
    assert accounting.fetched == accounting.kept + accounting.quarantined + accounting.other_days
    placed = sum(len(b.contributions) + len(b.quarantine) for b in split.values())
    assert placed >= accounting.kept + accounting.quarantined  # undated items go to every day of a range
    if len(days) == 1:
        assert placed == accounting.kept + accounting.quarantined

    batch = split[DAY]  # what was kept and quarantined can be stored (the run's day; others alike)
    atomic_write_parquet(batch.frame(), folder / "day.parquet")
    atomic_write_parquet(batch.quarantine_frame(), folder / "quarantine.parquet")
    for row in (r for b in split.values() for r in b.quarantine):
        assert row["reason"] and all(len(str(v)) <= 600 for v in row.values())
    kept = {c.id for b in split.values() for c in b.contributions}
    quarantined = {r["id"]: r["reason"] for b in split.values() for r in b.quarantine}
    for item_id, fate in known:
        if fate == "kept":
            assert item_id in kept or quarantined.get(item_id, "").startswith("duplicate id")
        else:
            assert quarantined[item_id].startswith("date out of range")


# -- the findings, one by one -------------------------------------------------------------------------
def _export(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "export.json"
    path.write_bytes(b'{"generated_at": "2026-03-02T08:00:00Z", "contributions": [' + body + b"]}")
    return path


def _good(i: str, **extra) -> bytes:
    record = {"id": i, "constat_factuel": GOOD, "created_at": "2026-03-02T10:00:00Z", **extra}
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    "name",
    ["source", "category", "title", "body", "constat_factuel", "idees_ameliorations", "id", "created_at"],
)
def test_a_lone_surrogate_in_any_string_field_costs_only_its_item(tmp_path, name):
    bad = {"id": "bad", "constat_factuel": GOOD, "created_at": "2026-03-02T10:00:00Z"}
    bad[name] = bad.get(name, "x") + "\udcff"
    items = read_export(_export(tmp_path, _good("ok") + b"," + json.dumps(bad).encode()))
    [batch] = split_by_day(items, [DAY], now=NOW).values()
    assert [c.id for c in batch.contributions] == ["ok"]
    [row] = batch.quarantine
    assert "not valid UTF-8" in row["reason"] or "not a date" in row["reason"]
    atomic_write_parquet(batch.quarantine_frame(), tmp_path / "q.parquet")  # storable


def test_a_junk_field_nested_100000_levels_costs_only_its_item(tmp_path):
    body = (
        _good("ok")
        + b',{"id": "deep", "constat_factuel": "x", "junk": '
        + deep(100_000).text
        + b"},"
        + _good("ok2")
    )
    items = read_export(_export(tmp_path, body))
    [batch] = split_by_day(items, [DAY], now=NOW).values()
    assert [c.id for c in batch.contributions] == ["ok", "ok2"]
    [row] = batch.quarantine
    assert "nested deeper" in row["reason"] and len(row["raw"]) < 600


def test_an_id_of_5000_digits_costs_only_its_item(tmp_path):
    body = _good("ok") + b',{"id": ' + b"7" * 5000 + b', "constat_factuel": "x"}'
    items = read_export(_export(tmp_path, body))
    [batch] = split_by_day(items, [DAY], now=NOW).values()
    assert [c.id for c in batch.contributions] == ["ok"]
    [row] = batch.quarantine
    assert row["reason"] == "id is an integer of 5,000 digits (limit 200 characters)"
    assert len(row["id"]) < 260 and "sha256" in row["id"]  # a prefix and a hash of what was cut


@pytest.mark.parametrize(
    "when", ["1970-01-01T00:00:00Z", "0001-01-01T12:00:00+00:00", "2099-01-01T00:00:00Z", 0]
)
def test_items_on_days_no_run_will_process_are_quarantined_on_the_day_they_were_read(tmp_path, when):
    items = read_export(
        _export(
            tmp_path,
            _good("ok")
            + b","
            + json.dumps({"id": "far", "constat_factuel": GOOD, "created_at": when}).encode(),
        )
    )
    split = split_by_day(items, ["2026-03-01", DAY], now=NOW)
    assert split.accounting.quarantined == 1 and split.accounting.kept == 1
    [row] = split[DAY].quarantine  # the run's last day
    assert (
        row["reason"].startswith("date out of range:")
        and "runs cover 2026-01-01 to 2026-03-03" in row["reason"]
    )
    assert not split["2026-03-01"].quarantine
    assert run_horizon(NOW) == ("2026-01-01", "2026-03-03")


def test_a_huge_category_keeps_the_item_with_a_capped_category():
    c = Contribution.from_record({"id": "x", "constat_factuel": GOOD, "category": "é" * 10_000_000})
    assert c.category is None and len(c.category_raw) < 160 and "sha256" in c.category_raw


# -- through the asset: metadata, and the Dagster home stays small ------------------------------------
def _home_bytes(home: Path) -> int:
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_hostile_export_keeps_the_event_log_small_and_the_metadata_balanced(
    tmp_path, domain_resources, data_dir
):
    big = "é" * 10_000_000
    records = [{"id": "ok-0", "constat_factuel": GOOD, "created_at": "2026-03-02T10:00:00Z", "category": big}]
    records += [
        {
            "id": f"ok-{i}",
            "constat_factuel": GOOD,
            "created_at": "2026-03-02T10:00:00Z",
            "category": "c" * 20_000 + str(i),
        }
        for i in range(1, 3)
    ]
    records += [
        {"id": "x" * 100_000, "constat_factuel": GOOD},
        {"id": "dup", "source": big},
        {"id": "r", "constat_factuel": GOOD, "created_at": "9" * 20_000},
    ]
    records += [
        {"id": f"q-{i}-" + "y" * 5_000, "constat_factuel": 5, "source": "s" * 20_000} for i in range(200)
    ]
    path = tmp_path / "export.json"
    path.write_text(
        json.dumps({"generated_at": "2026-03-02T08:00:00Z", "contributions": records}), encoding="utf-8"
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        before = _home_bytes(home)
        result = dg.materialize(
            [A.contributions, A.contributions_analysis],
            partition_key=DAY,
            resources=domain_resources(str(path)),
            instance=instance,
        )
        assert result.success
        grown = _home_bytes(home) - before
    assert grown < 2_000_000, f"the Dagster home grew by {grown:,} bytes"
    meta = next(
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("contributions")
    ).materialization.metadata
    assert (
        meta["fetched"].value,
        meta["to_analyse"].value,
        meta["quarantined"].value,
        meta["other_days"].value,
    ) == (206, 3, 203, 0)
    assert meta["accounting"].value == "fetched 206 = 3 to analyse + 203 quarantined + 0 of other days"
    quarantine = pd.read_parquet(A.quarantine_path(data_dir, DAY))
    assert quarantine.map(lambda v: len(str(v))).to_numpy().max() < 600
