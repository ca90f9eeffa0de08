"""The two assets end to end: real Redis, temporary data dir, the guard, bad input, both validators."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.guard import TASK_CONTRIBUTIONS_ANALYSIS, success_key

from ..dagster_instances import ephemeral
from .conftest import llm_resource

DAY = "2026-03-02"
GOOD = "Le parking du port d'Audierne est saturé pendant le marché du samedi."
IDEA = "Je propose une navette depuis Esquibien le samedi matin."
ALL = [
    A.contributions,
    A.contributions_analysis,
    A.every_row_judged_or_pending_with_error,
    A.categories_are_known,
]


def export(tmp_path, records, name="export.json", generated_at="2026-03-02T08:00:00+01:00"):
    path = tmp_path / name
    path.write_text(
        json.dumps(
            {"generated_at": generated_at, "count": len(records), "contributions": records},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    return path


def materialize(resources, selection=ALL, day=DAY, tags=None, raise_on_error=True):
    return dg.materialize(
        selection,
        partition_key=day,
        resources=resources,
        tags=tags or {},
        raise_on_error=raise_on_error,
        instance=ephemeral(),
    )


def materializations(result, key):
    return [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.event_specific_data.materialization.asset_key.path == [key]
    ]


def test_bad_input_corpus_is_quarantined_and_the_day_still_runs(
    tmp_path, domain_resources, data_dir, app_db, scheduler_db
):
    records = [
        {"id": "ok-1", "constat_factuel": GOOD, "idees_ameliorations": IDEA, "category": "economie"},
        {
            "id": "ok-2",
            "constat_factuel": "Les dunes de Trescadec s'abîment.",
            "idees_ameliorations": "Poser des ganivelles.",
            "category": "Sport",
        },  # unknown category: kept and re-classified
        {"id": "empty", "title": "", "body": "", "constat_factuel": "", "idees_ameliorations": ""},
        {"id": "typed", "constat_factuel": 12345},
        {"id": "long", "constat_factuel": "a" * 20_001},
        {"id": "ok-1", "constat_factuel": "Doublon", "idees_ameliorations": "x"},
        {
            "id": "spam-1",
            "constat_factuel": "Promo -50 % sur nos fenêtres à Audierne !",
            "idees_ameliorations": "Appelez le 06 12 34 56 78.",
        },
        "not an object",
        # epochs the datetime module refuses with OSError/OverflowError; Infinity is a JSON literal json reads
        {"id": "date-big", "constat_factuel": GOOD, "created_at": 1e20},
        {"id": "date-neg", "constat_factuel": GOOD, "created_at": -1e18},
        {"id": "date-inf", "constat_factuel": GOOD, "created_at": float("inf")},
    ]
    path = export(tmp_path, records)
    assert b"Infinity" in path.read_bytes()
    # an item whose text holds invalid UTF-8 bytes (the file is otherwise fine)
    raw = path.read_bytes().replace(b'"Doublon"', b'"Doublon"').replace(b"Promo -50", b"Promo -50")
    raw = raw.replace(b"]", b', {"id": "utf8", "constat_factuel": "caf\xe9 cr\xe8me"}]', 1)
    path.write_bytes(raw)

    result = materialize(domain_resources(str(path)))
    assert result.success

    frame = pd.read_parquet(A.contributions_path(data_dir, DAY))
    assert list(frame["id"]) == ["ok-1", "ok-2", "spam-1"]
    assert pd.isna(frame.loc[frame["id"] == "ok-2", "category"]).all()
    quarantine = pd.read_parquet(A.quarantine_path(data_dir, DAY)).set_index("id")["reason"].to_dict()
    assert quarantine["empty"].startswith("no text at all")
    assert quarantine["typed"] == "constat_factuel is int, expected text"
    assert "20,001 characters" in quarantine["long"]
    assert quarantine["ok-1"].startswith("duplicate id ok-1")
    assert quarantine["utf8"] == "constat_factuel is not valid UTF-8"
    assert quarantine[""] == "record is str, expected an object"
    assert (quarantine["date-big"], quarantine["date-neg"], quarantine["date-inf"]) == (
        "not a date: 1e+20",
        "not a date: -1e+18",
        "not a date: inf",
    )

    meta = materializations(result, "contributions")[0].metadata
    assert (
        meta["dagster/row_count"].value == 3
        and meta["quarantined"].value == 9
        and meta["reclassified"].value == 1
    )

    analysis = pd.read_parquet(A.analysis_path(data_dir, DAY)).set_index("id")
    assert analysis.loc["ok-1", "is_valid"] and not analysis.loc["spam-1", "is_valid"]
    assert list(analysis.loc["spam-1", "violations"]) == ["spam"]
    assert analysis.loc["ok-2", "category"] == "ecologie" and pd.isna(analysis.loc["ok-2", "category_in"])
    assert set(analysis.reset_index().columns) >= {
        "id",
        "title",
        "category_in",
        "is_valid",
        "violations",
        "encouraged_aspects",
        "reasoning",
        "confidence",
        "category",
        "validator",
    }

    stored = json.loads(app_db.get("contribution:spam-1"))
    assert set(stored) == {"title", "body", "category", "validation_result", "timestamp"}
    assert stored["validation_result"]["is_valid"] is False and 0 < app_db.ttl("contribution:spam-1") <= 86400
    assert app_db.lrange("contributions:validated:20260302", 0, -1) == ["ok-1", "ok-2", "spam-1"]
    assert (
        app_db.ttl("contributions:validated:20260302") == -1
    )  # the contract: only contribution:{id} expires
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) == "completed"

    meta = materializations(result, "contributions_analysis")[0].metadata
    assert (
        meta["fetched"].value,
        meta["validated"].value,
        meta["approved"].value,
        meta["flagged"].value,
        meta["quarantined"].value,
        meta["pending"].value,
    ) == (3, 3, 2, 1, 9, 0)
    flagged = meta["flagged_contributions"]
    assert [row.data["id"] for row in flagged.records] == ["spam-1"] and meta["status"].value == "success"
    # the flagged table gives the reasoning, shortened to one line, next to the violation codes
    assert [c.name for c in flagged.schema.columns] == ["id", "title", "violations", "reason", "confidence"]
    spam_row = flagged.records[0].data
    assert spam_row["violations"] and 0 <= spam_row["confidence"] <= 1
    reason = spam_row["reason"]
    assert reason == A.short_reason(analysis.loc["spam-1", "reasoning"]) and 1 < len(reason) <= A.REASON_CHARS
    # no clutter: empty lists and "nothing to show" rows are left out, counts stay
    assert {
        "pending_contributions",
        "stale_kept_for_other_days",
        "pending_kept_judged_by_other_days",
    }.isdisjoint(meta)
    own = {
        k: v for k, v in meta.items() if k not in ("errors", "warnings")
    }  # the guard's legacy result fields
    assert not any(isinstance(v, dg.JsonMetadataValue) and v.value in ([], {}) for v in own.values())
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in checks.items()} == {
        "every_row_judged_or_pending_with_error": True,
        "categories_are_known": True,
    }
    assert checks["every_row_judged_or_pending_with_error"].metadata["rows"].value == 3
    assert checks["categories_are_known"].metadata["days"].value == [DAY]


def test_an_unreadable_source_fails_the_run_and_writes_nothing(tmp_path, domain_resources, data_dir, app_db):
    path = tmp_path / "broken.json"
    path.write_text("{ nope", encoding="utf-8")
    result = materialize(domain_resources(str(path)), raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert "cannot read contributions from" in failure.event_specific_data.error.message
    assert not A.contributions_path(data_dir, DAY).exists()
    assert app_db.keys("*") == []


def test_the_sample_export_works_out_of_the_box(domain_resources, data_dir, app_db):
    result = materialize(domain_resources(""), day="2026-05-14")
    assert result.success
    analysis = pd.read_parquet(A.analysis_path(data_dir, "2026-05-14"))
    assert set(analysis["category"]) == set(A.CATEGORIES)
    assert (~analysis["is_valid"]).sum() >= 2
    assert app_db.llen("contributions:validated:20260514") == len(analysis)


def test_a_second_run_is_skipped_and_a_forced_run_replaces_the_days_writes(
    tmp_path, domain_resources, data_dir, app_db
):
    path = export(
        tmp_path,
        [
            {"id": "a", "constat_factuel": GOOD, "idees_ameliorations": IDEA},
            {
                "id": "b",
                "constat_factuel": "La médiathèque d'Audierne ferme trop tôt.",
                "idees_ameliorations": "Ouvrir le samedi.",
            },
        ],
    )
    resources = domain_resources(str(path))
    assert materialize(resources).success
    second = materialize(resources)
    assert materializations(second, "contributions_analysis") == []  # skipped: already_completed

    export(tmp_path, [{"id": "a", "constat_factuel": GOOD, "idees_ameliorations": IDEA}])
    forced = materialize(resources, tags={"ocapistaine/force": "true"})
    assert materializations(forced, "contributions_analysis")[0].metadata["fetched"].value == 1
    assert app_db.exists("contribution:a") and not app_db.exists("contribution:b")
    assert app_db.lrange("contributions:validated:20260302", 0, -1) == ["a"]
    assert list(pd.read_parquet(A.analysis_path(data_dir, DAY))["id"]) == ["a"]


def dated(item_id: str, day: str) -> dict:
    """A good contribution created at 10:00 (Paris) on ``day``."""
    return {
        "id": item_id,
        "constat_factuel": GOOD,
        "idees_ameliorations": IDEA,
        "created_at": f"{day}T10:00:00+01:00",
    }


def test_analysis_alone_reads_a_missing_days_table_from_the_source_first(
    tmp_path, domain_resources, data_dir, scheduler_db
):
    """The natural gesture: a backfill of contributions_analysis alone (no contributions table yet)."""
    path = export(
        tmp_path,
        [
            dated("d1", "2026-03-01"),
            dated("d3", "2026-03-03"),
            {"id": "bad", "constat_factuel": 1, "created_at": "2026-03-03T11:00:00+01:00"},
        ],
        generated_at=None,
    )
    result = dg.materialize(
        [A.contributions, A.contributions_analysis],
        selection=[A.contributions_analysis],
        resources=domain_resources(str(path)),
        tags={
            "dagster/asset_partition_range_start": "2026-03-01",
            "dagster/asset_partition_range_end": "2026-03-03",
        },
        instance=ephemeral(),
    )
    assert result.success
    for day, ids in (("2026-03-01", ["d1"]), ("2026-03-02", []), ("2026-03-03", ["d3"])):
        assert list(pd.read_parquet(A.contributions_path(data_dir, day))["id"]) == ids
        assert list(pd.read_parquet(A.analysis_path(data_dir, day))["id"]) == ids
        assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) == "completed"
    assert list(pd.read_parquet(A.quarantine_path(data_dir, "2026-03-03"))["id"]) == ["bad"]
    # the tables it wrote show in the UI as materializations of `contributions`, day by day
    written = materializations(result, "contributions")
    assert sorted(m.partition for m in written) == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert {m.metadata["written_by"].value for m in written} == {
        "contributions_analysis (the day had no table)"
    }


def test_analysis_alone_reads_the_source_once_and_keeps_existing_tables(tmp_path, domain_resources, data_dir):
    path = export(tmp_path, [{"id": "a", "constat_factuel": GOOD, "idees_ameliorations": IDEA}])
    resources = domain_resources(str(path))
    assert materialize(resources, selection=[A.contributions]).success  # the day's table exists
    export(tmp_path, [{"id": "other", "constat_factuel": GOOD, "idees_ameliorations": IDEA}])
    result = materialize(resources, selection=[A.contributions_analysis])
    assert materializations(result, "contributions") == []  # the existing table is the input, as before
    assert list(pd.read_parquet(A.analysis_path(data_dir, DAY))["id"]) == ["a"]


def test_analysis_without_the_days_table_and_an_unreadable_source_fails_clearly(
    tmp_path, domain_resources, scheduler_db
):
    broken = tmp_path / "broken.json"
    broken.write_text("{ nope", encoding="utf-8")
    result = materialize(
        domain_resources(str(broken)), selection=[A.contributions_analysis], raise_on_error=False
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    message = failure.event_specific_data.error.message
    assert f"no contributions table for {DAY} and the source" in message and "cannot be read" in message
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) is None
    assert scheduler_db.keys("lock:*") == []


@pytest.mark.slow  # the LLM path through the asset: litellm's import alone costs ~10 s of CPU
def test_llm_pending_contributions_keep_the_day_open_and_only_they_are_retried(
    tmp_path, domain_resources, data_dir, app_db, scheduler_db, fake_llm
):
    path = export(
        tmp_path,
        [
            {
                "id": "a",
                "constat_factuel": "La plage de Trescadec est sale.",
                "idees_ameliorations": "Plus de poubelles.",
            },
            {"id": "b", "constat_factuel": "Vous êtes des IDIOTS.", "idees_ameliorations": "Démission."},
            {
                "id": "c",
                "constat_factuel": "Le port manque de pontons.",
                "idees_ameliorations": "En ajouter deux.",
            },
        ],
    )
    judge = fake_llm.judge

    def flaky(kind, user):  # contribution c cannot be judged on the first tick
        if "pontons" in user and flaky.broken:
            return {"is_valid": "?"}
        return judge(kind, user)

    flaky.broken = True
    fake_llm.judge = flaky
    resources = domain_resources(
        str(path), validator=llm_resource(fake_llm, models="openai/primary", malformed_retries=0)
    )
    first = materialize(resources)
    assert first.success
    meta = materializations(first, "contributions_analysis")[0].metadata
    assert (meta["validated"].value, meta["pending"].value, meta["status"].value) == (2, 1, "pending")
    # one call per contribution (verdict + category together)
    assert meta["reason"].value == "contributions_pending" and meta["llm_requests"].value == 3
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) is None
    rows = pd.read_parquet(A.analysis_path(data_dir, DAY)).set_index("id")
    assert pd.isna(rows.loc["c", "is_valid"]) and "malformed" in rows.loc["c", "error"]
    # not judged and the source named no category: no made-up category, and the check accepts that
    assert pd.isna(rows.loc["c", "category"]) and pd.isna(rows.loc["c", "category_in"])
    stored = json.loads(app_db.get("contribution:c"))
    assert stored["validation_result"]["status"] == "pending"
    assert stored["category"] is None and stored["validation_result"]["category"] is None
    assert all(e.passed for e in first.get_asset_check_evaluations())
    assert app_db.lrange("contributions:validated:20260302", 0, -1) == ["a", "b"]

    flaky.broken = False
    sent = len(fake_llm.requests)
    second = materialize(resources, selection=[A.contributions_analysis])
    meta = materializations(second, "contributions_analysis")[0].metadata
    assert meta["pending"].value == 0 and meta["llm_requests"].value == 1
    assert {r["user"].split("\n")[0] for r in fake_llm.requests[sent:]} == {
        "Titre : Le port manque de pontons."
    }
    assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, DAY)) == "completed"
    assert app_db.lrange("contributions:validated:20260302", 0, -1) == ["a", "b", "c"]


def test_checks_fail_on_rows_without_verdict_or_with_unknown_category(domain_resources, data_dir):
    frame = pd.DataFrame(
        {
            "id": ["x", "y", "judged-none", "pending-none"],
            "is_valid": pd.array([None, True, False, None], dtype="boolean"),
            "error": pd.array([None, None, None, "timeout"], dtype="string"),
            "category": pd.array(["sport", "culture", None, None], dtype="string"),
            "category_in": pd.Categorical([None, "culture", None, None], categories=list(A.CATEGORIES)),
        }
    )
    frame.to_parquet(A.analysis_path(data_dir, DAY))
    job = dg.define_asset_job(
        "checks_only",
        selection=dg.AssetSelection.checks_for_assets(A.contributions_analysis),
    )
    defs = dg.Definitions(
        assets=[A.contributions, A.contributions_analysis],
        asset_checks=[A.every_row_judged_or_pending_with_error, A.categories_are_known],
        jobs=[job],
        resources=domain_resources(""),
    )
    result = defs.resolve_job_def("checks_only").execute_in_process(tags={"dagster/partition": DAY})
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks["every_row_judged_or_pending_with_error"].passed
    assert not checks["categories_are_known"].passed
    # a judged row needs a category; a pending one whose source named none may have none
    assert checks["categories_are_known"].metadata["unknown"].value == {
        "sport": 1,
        "<missing verdict category>": 1,
    }


def test_a_backfill_range_runs_each_day_under_the_guard(tmp_path, domain_resources, data_dir, scheduler_db):
    path = export(
        tmp_path,
        [
            dated("d1", "2026-03-01"),
            dated("d3", "2026-03-03"),
        ],
        generated_at=None,
    )
    result = dg.materialize(
        [A.contributions, A.contributions_analysis],
        resources=domain_resources(str(path)),
        tags={
            "dagster/asset_partition_range_start": "2026-03-01",
            "dagster/asset_partition_range_end": "2026-03-03",
        },
        instance=ephemeral(),
    )
    assert result.success
    for day, ids in (("2026-03-01", ["d1"]), ("2026-03-02", []), ("2026-03-03", ["d3"])):
        assert list(pd.read_parquet(A.analysis_path(data_dir, day))["id"]) == ids
        assert scheduler_db.get(success_key(TASK_CONTRIBUTIONS_ANALYSIS, day)) == "completed"


def test_a_misconfigured_validator_fails_before_claiming_the_day(domain_resources, scheduler_db):
    from ocapistaine_pipelines.contributions.validators import ValidatorResource

    resources = domain_resources("", validator=ValidatorResource(backend="gpt"))
    result = materialize(
        resources, selection=[A.contributions, A.contributions_analysis], raise_on_error=False
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert (
        "validator not configured: OCAPISTAINE_VALIDATOR='gpt'" in failure.event_specific_data.error.message
    )
    assert scheduler_db.keys("*") == []


def test_a_failed_redis_write_keeps_the_previous_ids_so_stale_keys_go_on_the_next_run(
    tmp_path, domain_resources, data_dir, app_db
):
    """Redis is written before the parquet file: the file keeps the ids of the last run Redis accepted."""
    import socket

    from ocapistaine_pipelines.redis_connection import RedisResource

    both = [
        {"id": "a", "constat_factuel": GOOD, "idees_ameliorations": IDEA},
        {
            "id": "b",
            "constat_factuel": "La médiathèque d'Audierne ferme tôt.",
            "idees_ameliorations": "Ouvrir le samedi.",
        },
    ]
    path = export(tmp_path, both)
    resources = domain_resources(str(path))
    assert materialize(resources).success
    assert app_db.exists("contribution:b")

    export(tmp_path, both[:1])  # b left the day
    with socket.socket() as probe:  # a port nobody listens on: the app db write is refused
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    dead = RedisResource(
        url=f"redis://127.0.0.1:{dead_port}", app_db=5, retries=0, connect_timeout_seconds=0.5
    )
    failed = materialize(
        {**resources, "redis": dead}, tags={"ocapistaine/force": "true"}, raise_on_error=False
    )
    assert not failed.success
    failure = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"][0]
    assert f"Redis unreachable at 127.0.0.1:{dead_port} db 5" in str(
        failure.event_specific_data.error.message
    )
    assert list(pd.read_parquet(A.analysis_path(data_dir, DAY))["id"]) == ["a", "b"]  # untouched

    assert materialize(resources, tags={"ocapistaine/force": "true"}).success
    assert app_db.exists("contribution:a") and not app_db.exists("contribution:b")
    assert list(pd.read_parquet(A.analysis_path(data_dir, DAY))["id"]) == ["a"]


def test_a_failed_table_write_leaves_no_temporary_file(tmp_path, domain_resources, data_dir):
    path = export(tmp_path, [{"id": "a", "constat_factuel": GOOD, "idees_ameliorations": IDEA}])
    target = A.contributions_path(data_dir, DAY)
    target.mkdir(parents=True)  # the rename onto the day's file fails
    result = materialize(domain_resources(str(path)), selection=[A.contributions], raise_on_error=False)
    assert not result.success
    assert [p.name for p in target.parent.iterdir()] == [target.name]


@pytest.mark.slow  # the LLM path through the asset: litellm's import alone costs ~10 s of CPU
def test_an_api_key_echoed_by_the_provider_reaches_no_output(
    tmp_path, domain_resources, data_dir, app_db, fake_llm
):
    """The fake provider repeats the Authorization header in its error, as some gateways do."""
    key = "sk-loopback-secret"
    fake_llm.modes["primary"] = "error"
    path = export(tmp_path, [{"id": "a", "constat_factuel": GOOD, "idees_ameliorations": IDEA}])
    resources = domain_resources(
        str(path), validator=llm_resource(fake_llm, models="openai/primary", api_key=key)
    )
    result = materialize(resources)
    assert fake_llm.requests and all(r["authorization"] == f"Bearer {key}" for r in fake_llm.requests)

    rows = pd.read_parquet(A.analysis_path(data_dir, DAY)).set_index("id")
    error = rows.loc["a", "error"]
    assert "BadRequestError" in error and "Authorization: Bearer ***" in error  # the echo was there, redacted
    assert key.encode() not in A.analysis_path(data_dir, DAY).read_bytes()
    assert key not in app_db.get("contribution:a")
    meta = materializations(result, "contributions_analysis")[0].metadata
    assert any("Bearer ***" in row.data["error"] for row in meta["pending_contributions"].records)
    assert key not in str(meta)
    assert key not in "".join(str(e) for e in result.all_events)  # logs (the day's warning) included
