"""The app db keys shared by all days: a day's run never deletes or degrades what another day wrote."""

from __future__ import annotations

import json
import threading

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.contributions.model import Contribution, Verdict

from .test_assets import GOOD, IDEA, export, materializations, materialize

D, D1 = "2026-03-02", "2026-03-03"


def item(contribution_id: str) -> Contribution:
    return Contribution(
        contribution_id, f"titre {contribution_id}", "corps", GOOD, IDEA, "economie", "export", None
    )


def judged(valid: bool = True) -> Verdict:
    return Verdict(valid, [] if valid else ["spam"], [], "ok", 0.9, "economie", "rules:rules-v4")


def pending() -> Verdict:
    return Verdict.pending_because("timeout", category="economie", validator="llm:x")


def test_the_day_close_of_yesterday_keeps_an_undated_item_that_moved_to_today(
    tmp_path, domain_resources, data_dir, app_db
):
    """The review's case: D+1 wrote the id, D's forced re-run must not delete it; an id truly gone goes."""
    moved = {"id": "undated", "constat_factuel": GOOD, "idees_ameliorations": IDEA}
    gone = {
        "id": "gone",
        "constat_factuel": "La médiathèque ferme tôt.",
        "idees_ameliorations": "Ouvrir le samedi.",
        "created_at": "2026-03-02T10:00:00+01:00",
    }
    resources = domain_resources(
        str(export(tmp_path, [moved, gone], generated_at="2026-03-02T20:00:00+01:00"))
    )
    assert materialize(resources, day=D).success
    assert app_db.exists("contribution:undated", "contribution:gone") == 2

    # the next export is generated on D+1 (the undated item moves there) and "gone" was withdrawn
    export(tmp_path, [moved], generated_at="2026-03-03T08:00:00+01:00")
    assert materialize(resources, day=D1).success
    written_by_d1 = app_db.get("contribution:undated")
    assert app_db.lrange("contributions:validated:20260303", 0, -1) == ["undated"]

    close = materialize(resources, day=D, tags={"ocapistaine/force": "true"})  # D's day close, at D+1 06:00
    meta = materializations(close, "contributions_analysis")[0].metadata
    assert app_db.get("contribution:undated") == written_by_d1  # D+1 is successful: nobody would rewrite it
    assert 0 < app_db.ttl("contribution:undated") <= 86400
    assert not app_db.exists("contribution:gone")  # the normal case: it left every day, so it goes
    assert app_db.lrange("contributions:validated:20260302", 0, -1) == []
    assert (meta["stale_deleted"].value, meta["stale_kept_for_other_days"].value) == (1, ["undated"])
    assert app_db.smembers("contributions:days:undated") == {"20260303"}
    assert not app_db.exists("contributions:days:gone")

    # once D+1 drops it too (withdrawn), the last day listing it deletes it
    export(tmp_path, [], generated_at="2026-03-03T08:00:00+01:00")
    assert materialize(resources, day=D1, tags={"ocapistaine/force": "true"}).success
    assert not app_db.exists("contribution:undated", "contributions:days:undated")


def test_a_write_by_another_day_between_reading_and_cleaning_is_not_lost(redis_resource, app_db):
    """The decision is taken inside Redis: D's previous ids were read before D+1 wrote; D keeps the key."""
    A.write_app_data(redis_resource, D, [(item("x"), judged()), (item("y"), judged())], previous_ids=set())
    previous_of_d = {"x", "y"}  # what D's run read from its parquet file ...
    A.write_app_data(
        redis_resource, D1, [(item("x"), judged(False))], previous_ids=set()
    )  # ... then D+1 wrote x
    outcome = A.write_app_data(redis_resource, D, [], previous_ids=previous_of_d)
    assert outcome == {"deleted": ["y"], "kept": ["x"], "kept_judged": []}
    assert json.loads(app_db.get("contribution:x"))["validation_result"]["is_valid"] is False  # D+1's value
    assert not app_db.exists("contribution:y")
    assert not app_db.exists("contributions:validated:20260302")  # D's own list is still replaced


def test_concurrent_days_never_lose_a_key_they_list(redis_resource, app_db):
    """D drops its ids in ten runs while D+1 takes them all in one: whatever lands first, none is lost."""
    ids = [f"c{i}" for i in range(40)]
    A.write_app_data(redis_resource, D, [(item(i), judged()) for i in ids], previous_ids=set())
    barrier = threading.Barrier(2)

    def day_d_drops_all():
        barrier.wait()
        for chunk in range(0, 40, 4):
            A.write_app_data(
                redis_resource,
                D,
                [(item(i), judged()) for i in ids[chunk + 4 :]],
                previous_ids=set(ids[chunk:]),
            )

    def day_d1_takes_all():
        barrier.wait()
        A.write_app_data(redis_resource, D1, [(item(i), judged()) for i in ids], previous_ids=set())

    threads = [threading.Thread(target=day_d_drops_all), threading.Thread(target=day_d1_takes_all)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert app_db.exists(*[A.contribution_key(i) for i in ids]) == 40
    assert all(app_db.smembers(A.claims_key(i)) == {"20260303"} for i in ids)
    assert app_db.lrange("contributions:validated:20260303", 0, -1) == ids


def test_a_pending_verdict_does_not_replace_another_days_judgement(redis_resource, app_db):
    A.write_app_data(redis_resource, D1, [(item("x"), judged(False))], previous_ids=set())
    outcome = A.write_app_data(
        redis_resource, D, [(item("x"), pending()), (item("new"), pending())], previous_ids=set()
    )
    assert outcome["kept_judged"] == ["x"]
    assert json.loads(app_db.get("contribution:x"))["validation_result"]["is_valid"] is False
    assert (
        json.loads(app_db.get("contribution:new"))["validation_result"]["status"] == "pending"
    )  # nothing to keep
    assert app_db.smembers(A.claims_key("x")) == {"20260302", "20260303"}
    assert 0 < app_db.ttl("contribution:x") <= 86400
    # a judgement does replace it (the latest judgement wins), and the same day's pending value too
    A.write_app_data(redis_resource, D, [(item("x"), judged(True))], previous_ids=set())
    assert json.loads(app_db.get("contribution:x"))["validation_result"]["is_valid"] is True


def test_a_key_no_day_claims_is_left_to_its_ttl(redis_resource, app_db):
    """Written before the days set existed (or by someone else): never deleted by a day's cleanup."""
    app_db.set("contribution:legacy", json.dumps({"title": "t"}), ex=86400)
    outcome = A.write_app_data(redis_resource, D, [], previous_ids={"legacy"})
    assert outcome == {"deleted": [], "kept": ["legacy"], "kept_judged": []}
    assert app_db.exists("contribution:legacy")
