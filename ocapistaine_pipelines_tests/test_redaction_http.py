"""The one redaction path and the one plain-HTTP policy, against loopback servers."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocapistaine_pipelines import redaction
from ocapistaine_pipelines.http_policy import HttpFailure, HttpPolicy
from ocapistaine_pipelines.io_utils import redact as io_redact
from ocapistaine_pipelines.redaction import redact, safe_text, secret_values, show_url

from .budget import examples
from .contributions.servers import LoopbackServer
from .services import free_port


@pytest.mark.parametrize(
    "name",
    [
        "MISTRAL_API_KEY",
        "GEMINI_API_KEY",
        "OPIK_API_KEY",
        "FIRECRAWL_API_KEY",
        "GITHUB_TOKEN",
        "HF_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "REDIS_PASSWORD",
        "PGPASSWORD",
        "DAGSTER_PG_PASSWORD",
        "AZURE_CLIENT_SECRET",
        "OCAPISTAINE_LLM_API_KEY",
        "SOME_FUTURE_PROVIDER_APIKEY",
    ],
)
def test_every_secret_shaped_variable_is_redacted_in_every_form(monkeypatch, name):
    secret = 'c4n4ry/é+&"=' + name.lower()
    monkeypatch.setenv(name, secret)
    texts = [
        secret,
        json.dumps({"k": secret}),
        json.dumps({"k": secret}, ensure_ascii=False),
        f"https://api.example/x?key={__import__('urllib.parse').parse.quote(secret, safe='')}",
    ]
    for text in texts:
        assert "c4n4ry" not in redact(f"401: {text}"), text
        assert "c4n4ry" not in io_redact(f"401: {text}", [])  # the old entry point goes the same way


def test_url_variables_lose_credentials_and_webhooks_their_path(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://:redis-pass-123@cache.internal:6390/5")
    monkeypatch.setenv("OCAPISTAINE_ALERT_WEBHOOK", "https://n8n.example/webhook/0b1c-alert-path")
    monkeypatch.setenv(
        "OCAPISTAINE_CONTRIBUTIONS_SOURCE", "https://n8n.example/webhook/5e6f-source-path?token=tk-77"
    )
    text = redact(
        "to https://n8n.example/webhook/0b1c-alert-path, POST webhook/5e6f-source-path?token=tk-77 "
        "and redis://:redis-pass-123@cache.internal:6390/5 and ftp://user:pw@else.where/x"
    )
    for leaked in ("0b1c-alert-path", "5e6f-source-path", "tk-77", "redis-pass-123", "user:pw"):
        assert leaked not in text
    assert show_url("https://n8n.example:8443/webhook/secret?x=1") == "https://n8n.example:8443"


def test_short_or_harmless_values_are_left_alone(monkeypatch):
    monkeypatch.setenv("SOME_KEY", "1")
    monkeypatch.setenv("PWD", "/work")
    assert redact("page 1 of /work") == "page 1 of /work"
    assert "1" not in secret_values() and "/work" not in secret_values()


@settings(max_examples=examples(200), deadline=None)
@given(
    secret=st.text(min_size=6, max_size=40).filter(lambda s: s.strip() == s and len(s.strip()) >= 6),
    before=st.text(max_size=50),
    after=st.text(max_size=50),
    limit=st.integers(0, 120),
)
def test_safe_text_never_shows_a_registered_secret_however_it_is_cut(secret, before, after, limit):
    redaction.register_secret(secret)
    try:
        shown = safe_text(before + secret + after, limit)
        assert secret not in shown
        shown.encode("utf-8")  # always storable
        assert len(shown) <= limit + 60
    finally:
        redaction._registered.discard(secret)


def test_safe_text_caps_huge_values_with_a_prefix_and_a_hash():
    huge = "x" * 10_000_000
    started = time.monotonic()
    shown = safe_text(huge, 200)
    assert time.monotonic() - started < 1.0
    assert shown.startswith("x" * 200) and "10,000,000 chars, sha256" in shown and len(shown) < 260
    assert safe_text(huge, 200) != safe_text(huge + "y", 200)  # the hash tells them apart
    assert safe_text("\udcff bad", 50) == "\\udcff bad"


# -- the HTTP policy --------------------------------------------------------------------------------
class Scripted(LoopbackServer):
    """Answers the (status, headers, body, delay) steps it is given, the last one forever."""

    def __init__(self, steps):
        self.steps = list(steps)
        self.times: list[float] = []
        super().__init__()

    def handle(self, method, path, headers, body):
        self.times.append(time.monotonic())
        status, out_headers, payload, delay = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        if delay:
            time.sleep(delay)
        return status, out_headers, payload


@pytest.mark.slow
def test_retry_after_is_honoured_and_capped():
    server = Scripted(
        [(503, {"Retry-After": "1"}, {}, 0), (429, {"Retry-After": "3600"}, {}, 0), (200, {}, {"ok": 1}, 0)]
    )
    try:
        policy = HttpPolicy(retries=2, backoff=0.0, retry_after_max=1.0, deadline=20)
        started = time.monotonic()
        response = policy.client().request("GET", f"{server.url}/x")
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert response.status_code == 200 and len(server.times) == 3
    assert server.times[1] - server.times[0] >= 0.9  # the server's Retry-After
    assert 1.8 <= elapsed < 5  # the hour asked for was capped at retry_after_max


def test_a_hung_server_fails_within_the_documented_bound_and_says_so_without_the_path():
    server = Scripted([(200, {}, {}, 5.0)])
    try:
        policy = HttpPolicy(
            connect_timeout=1.0,
            read_timeout=0.4,
            retries=2,
            backoff=0.1,
            backoff_max=0.2,
            retry_after_max=0.2,
            deadline=30,
        )
        started = time.monotonic()
        with pytest.raises(HttpFailure) as caught:
            policy.client().request("POST", f"{server.url}/webhook/hung-secret-path", json={})
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert len(server.times) == 3  # 1 + retries, read timeouts are retried
    assert 3 * 0.4 <= elapsed <= policy.bound_seconds() + 1.0
    assert "ReadTimeout" in str(caught.value) and "after 3 attempt(s)" in str(caught.value)
    assert "hung-secret-path" not in str(caught.value) and str(server.port) in str(caught.value)


def test_the_deadline_bounds_a_whole_paged_call():
    server = Scripted([(200, {}, {"page": "slow"}, 0.3)])
    try:
        client = HttpPolicy(read_timeout=5, retries=0, deadline=1.0).client()
        started = time.monotonic()
        with pytest.raises(HttpFailure, match="deadline"):
            for _ in range(100):
                client.request("GET", f"{server.url}/page")
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert elapsed < 1.0 + 5 * 0.3 and len(server.times) < 10


def test_connection_refused_is_named_by_its_kind_only():
    with pytest.raises(HttpFailure) as caught:
        HttpPolicy(retries=1, backoff=0.0).client().request(
            "GET", f"http://127.0.0.1:{free_port()}/p?token=abc-secret"
        )
    assert "ConnectionError" in str(caught.value) and "abc-secret" not in str(caught.value)


def test_the_documented_default_bound_is_the_computed_one():
    policy = HttpPolicy()
    assert policy.attempts == 3
    assert policy.worst_case_seconds() == 3 * (5 + 30) + 2 * 30
    assert policy.bound_seconds() == min(policy.worst_case_seconds(), 120 + 60)
