"""The LLM validator through the real litellm against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import threading
import time

import pytest

from ocapistaine_pipelines.contributions.llm import (
    ReplyError,
    parse_category_reply,
    parse_charter_reply,
    parse_verdict_reply,
)
from ocapistaine_pipelines.contributions.model import Contribution

from .conftest import llm_resource


def contributions(n: int = 2) -> list[Contribution]:
    texts = ["La plage de Trescadec est sale après les week-ends.", "Vous êtes des IDIOTS à la mairie."]
    return [
        Contribution.from_record(
            {"id": f"c{i}", "constat_factuel": texts[i % 2] + f" ({i})", "idees_ameliorations": "Agir."}
        )
        for i in range(n)
    ]


@pytest.mark.slow
def test_one_call_per_contribution_gives_verdict_and_category(fake_llm):
    validator = llm_resource(fake_llm).get_validator()
    verdicts = validator.validate_many(contributions(2))
    assert [v.is_valid for v in verdicts] == [True, False]
    assert verdicts[1].violations == ["aggressive"] and verdicts[0].category == "ecologie"
    assert verdicts[0].encouraged_aspects == ["concrete_proposal"]
    assert [r["kind"] for r in fake_llm.requests] == ["verdict", "verdict"]
    assert {r["temperature"] for r in fake_llm.requests} == {0.3}
    assert all(r["response_format"] == {"type": "json_object"} for r in fake_llm.requests)
    assert validator.calls == 2 and validator.prompt_tokens > 0 and validator.completion_tokens > 0


def test_one_call_costs_half_the_calls_and_fewer_tokens_than_two(fake_llm):
    """The same contributions and answers both ways: the provider's usage counts are what is compared."""
    items = contributions(4)
    one = llm_resource(fake_llm).get_validator()
    one_verdicts = one.validate_many(items)
    two = llm_resource(fake_llm, llm_calls="two").get_validator()
    two_verdicts = two.validate_many(items)
    assert [(v.is_valid, v.violations, v.category) for v in one_verdicts] == [
        (v.is_valid, v.violations, v.category) for v in two_verdicts
    ]
    assert (one.calls, two.calls) == (4, 8)
    assert one.prompt_tokens + one.completion_tokens < two.prompt_tokens + two.completion_tokens
    assert one.prompt_tokens < two.prompt_tokens


def test_charter_then_category_in_json_mode_at_temperature_0_3(fake_llm):
    validator = llm_resource(fake_llm, llm_calls="two").get_validator()
    verdicts = validator.validate_many(contributions(2))
    assert [v.is_valid for v in verdicts] == [True, False]
    assert verdicts[1].violations == ["aggressive"] and verdicts[0].category == "ecologie"
    assert all(v.validator == "llm:openai/primary" for v in verdicts)
    kinds = sorted(r["kind"] for r in fake_llm.requests)
    assert kinds == ["category", "category", "charter", "charter"]
    assert {r["temperature"] for r in fake_llm.requests} == {0.3}
    assert all(r["response_format"] == {"type": "json_object"} for r in fake_llm.requests)
    assert all(r["authorization"] == "Bearer sk-loopback-secret" for r in fake_llm.requests)


@pytest.mark.parametrize("mode", ["rate_limit", "quota"])
def test_failover_to_the_next_model_on_rate_limit_or_quota(fake_llm, mode):
    fake_llm.modes["primary"] = mode
    validator = llm_resource(fake_llm, concurrency=1).get_validator()
    verdicts = validator.validate_many(contributions(3))
    assert all(v.validator == "llm:openai/backup" and not v.pending for v in verdicts)
    # the limited model is parked for its cool-down: one 429, then every call goes to the backup
    assert [r["model"] for r in fake_llm.requests].count("primary") == 1
    assert [r["model"] for r in fake_llm.requests].count("backup") == 3


def test_every_model_limited_leaves_contributions_pending_never_valid(fake_llm):
    fake_llm.modes.update(primary="rate_limit", backup="quota")
    verdicts = llm_resource(fake_llm).get_validator().validate_many(contributions(2))
    assert all(v.is_valid is None and v.confidence == 0.0 for v in verdicts)
    assert all("rate-limited or over quota" in v.error for v in verdicts)


def test_malformed_reply_is_retried_once_then_pending(fake_llm):
    fake_llm.malformed_left["primary"] = 1  # first reply broken, second fine
    ok = llm_resource(fake_llm, models="openai/primary").get_validator().validate_many(contributions(1))
    assert ok[0].is_valid is True
    fake_llm.modes["primary"] = "malformed"
    verdicts = llm_resource(fake_llm, models="openai/primary").get_validator().validate_many(contributions(1))
    assert verdicts[0].is_valid is None
    assert "malformed reply after 2 attempt(s)" in verdicts[0].error and "not JSON" in verdicts[0].error


def test_timeout_leaves_the_contribution_pending_with_the_error(fake_llm):
    fake_llm.modes["primary"] = "slow"
    fake_llm.slow_seconds = 2.0
    started = time.monotonic()
    verdicts = (
        llm_resource(fake_llm, models="openai/primary", timeout_seconds=0.5)
        .get_validator()
        .validate_many(contributions(1))
    )
    assert time.monotonic() - started < 1.9
    assert verdicts[0].is_valid is None and "timeout" in verdicts[0].error.lower()


@pytest.mark.parametrize("key", ["sk-loopback-secret", "sk-long-" + "0123456789abcdef" * 25])
def test_a_provider_error_does_not_leak_the_api_key(fake_llm, key):
    """The fake provider echoes the Authorization header; the long key would straddle the 300-char cut."""
    fake_llm.modes["primary"] = "error"
    verdicts = (
        llm_resource(fake_llm, models="openai/primary", api_key=key)
        .get_validator()
        .validate_many(contributions(1))
    )
    assert verdicts[0].is_valid is None and "Authorization: Bearer ***" in verdicts[0].error
    assert key[:12] not in verdicts[0].error


def test_a_pending_verdict_keeps_the_sources_category_or_none(fake_llm):
    fake_llm.modes["primary"] = "error"
    items = contributions(2)
    items[1].category = "culture"
    verdicts = llm_resource(fake_llm, models="openai/primary").get_validator().validate_many(items)
    assert [v.pending for v in verdicts] == [True, True]
    assert [v.category for v in verdicts] == [None, "culture"]  # never a made-up category
    assert [v.validation_result()["category"] for v in verdicts] == [None, "culture"]


def test_an_answered_charter_prompt_is_not_sent_again_when_the_category_failed(fake_llm, tmp_path):
    judge = fake_llm.judge

    def category_broken(kind, user):
        if kind == "category" and category_broken.broken:
            return {"category": "sport"}  # not one of the 7: a malformed reply
        return judge(kind, user)

    category_broken.broken = True
    fake_llm.judge = category_broken
    items = contributions(2)
    first = (
        llm_resource(fake_llm, malformed_retries=0, llm_calls="two")
        .get_validator(cache_dir=tmp_path)
        .validate_many(items)
    )
    assert all(v.pending and "not one of" in v.error for v in first)
    assert sorted(r["kind"] for r in fake_llm.requests) == ["category", "category", "charter", "charter"]

    category_broken.broken = False
    sent = len(fake_llm.requests)
    # another model list: the cache does not depend on the model that answered
    second = (
        llm_resource(fake_llm, models="openai/backup", llm_calls="two")
        .get_validator(cache_dir=tmp_path)
        .validate_many(items)
    )
    assert [r["kind"] for r in fake_llm.requests[sent:]] == ["category", "category"]
    assert [r["model"] for r in fake_llm.requests[sent:]] == ["backup", "backup"]
    assert [v.is_valid for v in second] == [True, False] and second[0].category == "ecologie"
    assert all(v.validator == "llm:openai/primary" for v in second)  # the model that judged the charter

    sent = len(fake_llm.requests)
    third = llm_resource(fake_llm, llm_calls="two").get_validator(cache_dir=tmp_path).validate_many(items)
    assert len(fake_llm.requests) == sent and third == second  # nothing is ever asked twice


def test_verdicts_are_cached_by_content_hash(fake_llm, tmp_path):
    resource = llm_resource(fake_llm)
    items = contributions(3)
    first = resource.get_validator(cache_dir=tmp_path).validate_many(items)
    sent = len(fake_llm.requests)
    assert sent == 3
    again = resource.get_validator(cache_dir=tmp_path).validate_many(items + contributions(4)[3:])
    assert again[:3] == first
    assert len(fake_llm.requests) == sent + 1  # only the new contribution went out


def test_pending_verdicts_are_not_cached(fake_llm, tmp_path):
    fake_llm.modes["primary"] = "malformed"
    resource = llm_resource(fake_llm, models="openai/primary")
    assert resource.get_validator(cache_dir=tmp_path).validate_many(contributions(1))[0].pending
    fake_llm.modes["primary"] = "ok"
    assert resource.get_validator(cache_dir=tmp_path).validate_many(contributions(1))[0].is_valid is True


def test_concurrency_is_bounded(fake_llm):
    in_flight, peak, lock = [0], [0], threading.Lock()
    original = fake_llm.handle

    def counting(*args):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(0.05)
            return original(*args)
        finally:
            with lock:
                in_flight[0] -= 1

    fake_llm.handle = counting
    llm_resource(fake_llm, concurrency=3).get_validator().validate_many(contributions(12))
    assert peak[0] == 3


@pytest.mark.parametrize(
    "reply, message",
    [
        ('{"is_valid": "yes", "violations": [], "reasoning": "r", "confidence": 0.5}', "is_valid is 'yes'"),
        (
            '{"is_valid": true, "violations": ["spam"], "reasoning": "r", "confidence": 0.5}',
            "violations are listed",
        ),
        (
            '{"is_valid": false, "violations": [], "reasoning": "r", "confidence": 0.5}',
            "no violation is named",
        ),
        ('{"is_valid": false, "violations": ["rude"], "reasoning": "r", "confidence": 0.5}', "not one of"),
        ('{"is_valid": true, "violations": [], "reasoning": "r", "confidence": 1.5}', "between 0 and 1"),
        ('{"is_valid": true, "violations": [], "confidence": 0.5}', "lacks reasoning"),
        ("[1, 2]", "JSON list"),
        ("", "empty reply"),
    ],
)
def test_charter_replies_are_checked_strictly(reply, message):
    with pytest.raises(ReplyError, match=message):
        parse_charter_reply(reply)


def test_accepted_replies():
    fenced = (
        "```json\n"
        + json.dumps({"is_valid": False, "violations": ["Off-Topic"], "reasoning": "r", "confidence": 0.7})
        + "\n```"
    )
    assert parse_charter_reply(fenced)["violations"] == ["off_topic"]
    assert parse_category_reply('{"category": "Environnement"}') == "ecologie"
    with pytest.raises(ReplyError, match="not one of"):
        parse_category_reply('{"category": "sport"}')


VERDICT = {
    "is_valid": True,
    "violations": [],
    "encouraged_aspects": [],
    "reasoning": "r",
    "confidence": 0.6,
    "category": "culture",
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"category": "sport"}, "not one of"),
        ({"category": None}, "category missing"),
        ({"is_valid": False}, "no violation is named"),
        ({"violations": ["spam"]}, "violations are listed"),
        ({"confidence": -0.1}, "between 0 and 1"),
        ({"reasoning": " "}, "non-empty"),
    ],
)
def test_one_call_replies_are_checked_as_strictly_as_each_prompt(change, message):
    with pytest.raises(ReplyError, match=message):
        parse_verdict_reply(json.dumps({**VERDICT, **change}))


def test_one_call_reply_lacking_the_category_is_retried_then_pending(fake_llm):
    def no_category(kind, user):
        return {k: v for k, v in VERDICT.items() if k != "category"}

    fake_llm.judge = no_category
    verdicts = llm_resource(fake_llm, models="openai/primary").get_validator().validate_many(contributions(1))
    assert verdicts[0].pending and "category missing" in verdicts[0].error
    assert len(fake_llm.requests) == 2  # asked again once (malformed_retries=1)
    assert parse_verdict_reply(json.dumps({**VERDICT, "category": "Patrimoine"}))[1] == "culture"


def test_an_unknown_call_mode_is_named():
    from ocapistaine_pipelines.contributions.validators import ValidatorResource

    with pytest.raises(ValueError, match="OCAPISTAINE_LLM_CALLS='three'"):
        ValidatorResource(backend="llm", models="openai/x", llm_calls="three").get_validator()
