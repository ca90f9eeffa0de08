"""Contribution records, categories, export files and the day each contribution belongs to."""

from __future__ import annotations

import json

import pytest

from ocapistaine_pipelines.contributions.model import (
    CATEGORIES,
    MAX_TEXT_CHARS,
    Contribution,
    build_body,
    normalize_category,
    split_body,
)
from ocapistaine_pipelines.contributions.sources import (
    SAMPLE_EXPORT,
    SourceUnavailable,
    issue_category,
    issue_to_record,
    read_export,
    split_by_day,
)

CONSTAT = "Le parking du port d'Audierne est saturé tous les samedis matin pendant le marché, même en hiver."


def test_categories_are_the_seven_ids():
    assert CATEGORIES == (
        "economie",
        "logement",
        "culture",
        "ecologie",
        "associations",
        "jeunesse",
        "alimentation-bien-etre-soins",
    )
    assert normalize_category("Environnement") == "ecologie"
    assert normalize_category("ÉCONOMIE") == "economie"
    assert normalize_category("sport") is None


def test_title_and_body_built_as_the_legacy_code_did():
    c = Contribution.from_record({"id": 7, "constat_factuel": CONSTAT, "idees_ameliorations": "Une navette."})
    assert c.id == "7"
    assert c.body == f"**Constat factuel:**\n{CONSTAT}\n\n**Idées d'améliorations:**\nUne navette."
    assert c.title == CONSTAT[:80].rstrip() + "..."
    short = Contribution.from_record(
        {"id": "x", "constat_factuel": "Trop de bruit au port.", "idees_ameliorations": ""}
    )
    assert short.title == "Trop de bruit au port."


def test_form_fields_are_recovered_from_a_legacy_body():
    body = build_body("Constat ici.", "Idée là.")
    assert split_body(body) == ("Constat ici.", "Idée là.")
    c = Contribution.from_record({"id": "gh-1", "title": "[logement] Loyers", "body": body})
    assert (c.constat_factuel, c.idees_ameliorations) == ("Constat ici.", "Idée là.")


@pytest.mark.parametrize(
    "record, reason",
    [
        ({"id": "a"}, "no text at all"),
        ({"id": "a", "title": "", "body": "  ", "constat_factuel": None}, "no text at all"),
        ({"id": "a", "constat_factuel": 42}, "constat_factuel is int"),
        ({"id": "a", "body": ["list"]}, "body is list"),
        ({"id": 1.5, "constat_factuel": "x"}, "id is float"),
        ({"id": "a", "constat_factuel": "x" * (MAX_TEXT_CHARS + 1)}, "20,001 characters"),
        ({"id": "a", "constat_factuel": "caf\udce9"}, "not valid UTF-8"),
        ({"id": "a", "constat_factuel": "x", "category": 3}, "category is int"),
        ({"id": "a", "constat_factuel": "x", "created_at": "hier soir"}, "not a date"),
        # epochs the datetime module refuses with OSError/OverflowError, not ValueError
        ({"id": "a", "constat_factuel": "x", "created_at": 1e20}, "not a date: 1e\\+20"),
        ({"id": "a", "constat_factuel": "x", "created_at": -1e18}, "not a date"),
        ({"id": "a", "constat_factuel": "x", "created_at": float("inf")}, "not a date: inf"),
        ({"id": "a", "constat_factuel": "x", "date": float("nan")}, "not a date: nan"),
        ({"id": "a", "constat_factuel": "x", "created_at": 10**400}, "not a date"),
        (
            {"id": "a", "constat_factuel": "x", "created_at": "9999-12-31T23:59:59Z"},
            "out of range",
        ),  # no Paris day
        ("just a string", "record is str"),
    ],
)
def test_bad_records_raise_a_clear_reason(record, reason):
    with pytest.raises(ValueError, match=reason):
        Contribution.from_record(record)


def test_labels_that_are_not_a_list_name_no_category():
    for labels in (7, True, 1.5, "culture", {"name": "culture"}):
        record = issue_to_record({"number": 3, "title": "Dunes", "body": "Texte", "labels": labels})
        assert record["category"] is None and record["id"] == 3
        assert issue_category("Dunes", "Texte", labels) == (None, None)


def test_unknown_category_is_kept_for_reclassification():
    c = Contribution.from_record({"id": "a", "constat_factuel": CONSTAT, "category": "Sport"})
    assert c.category is None and c.category_raw == "Sport"


def test_issue_category_precedence_title_then_line_then_labels():
    labels = [{"name": "bug"}, {"name": "culture"}]
    assert issue_category("[Écologie] Dunes", "Category: logement", labels) == ("ecologie", "Écologie")
    assert issue_category("Dunes", "Texte\n**Category:** logement\n", labels)[0] == "logement"
    assert issue_category("Dunes", "Texte", labels)[0] == "culture"
    assert issue_category("[sport] Stade", "", [{"name": "bug"}]) == (None, "sport")
    record = issue_to_record(
        {"number": 12, "title": "[jeunesse] Aire de jeux", "body": "Texte", "labels": []}
    )
    assert record["title"] == "Aire de jeux" and record["category"] == "jeunesse" and record["id"] == 12


def test_day_comes_from_created_at_in_paris_then_generated_at_then_the_partition(tmp_path):
    export = {
        "generated_at": "2026-03-05T10:00:00+01:00",
        "count": 3,
        "contributions": [
            # 23:30 UTC on 1 March is 00:30 on 2 March in Paris
            {"id": "late", "constat_factuel": CONSTAT, "created_at": "2026-03-01T23:30:00Z"},
            {"id": "ms", "constat_factuel": CONSTAT, "date": 1772406000000},  # 2026-03-01T23:00:00Z in ms
            {"id": "undated", "constat_factuel": CONSTAT},
        ],
    }
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    items = read_export(path)
    days = ["2026-03-01", "2026-03-02", "2026-03-05"]
    batches = split_by_day(items, days)
    assert [c.id for c in batches["2026-03-02"].contributions] == ["late", "ms"]
    assert [c.id for c in batches["2026-03-05"].contributions] == ["undated"]
    assert batches["2026-03-01"].contributions == []
    # the same export gives the same rows again
    again = split_by_day(read_export(path), days)
    assert again["2026-03-02"].frame().equals(batches["2026-03-02"].frame())


def test_without_any_date_items_go_to_the_partition_being_run():
    batches = split_by_day(read_export(SAMPLE_EXPORT), ["2026-04-10"])
    frame = batches["2026-04-10"].frame()
    assert len(frame) >= 14 and set(frame["category"].dropna()) == set(CATEGORIES)
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert str(frame["category"].dtype) == "category"


def test_duplicates_are_quarantined_after_the_first(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("a.json", "b.json"):
        (folder / name).write_text(
            json.dumps(
                {
                    "generated_at": "2026-03-05T08:00:00Z",
                    "count": 1,
                    "contributions": [{"id": "dup", "constat_factuel": CONSTAT}],
                }
            )
        )
    batch = split_by_day(read_export(folder), ["2026-03-05"])["2026-03-05"]
    assert [c.id for c in batch.contributions] == ["dup"]
    assert batch.quarantine[0]["reason"] == "duplicate id dup (first seen in a.json)"
    assert batch.quarantine[0]["origin"] == "b.json"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"{not json", "cannot read export"),
        (b'{"items": []}', "is not an export"),
    ],
)
def test_an_unreadable_export_fails_as_a_whole(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SourceUnavailable, match=message):
        read_export(path)
    with pytest.raises(SourceUnavailable, match="does not exist"):
        read_export(tmp_path / "missing.json")
