"""The n8n webhook and GitHub issues sources against loopback servers, and through the asset."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import pytest

from ocapistaine_pipelines.contributions import assets as A
from ocapistaine_pipelines.contributions.sources import (
    ContributionsSourceResource,
    SourceUnavailable,
    split_by_day,
)

from ..dagster_instances import ephemeral
from .servers import FakeGitHub, FakeN8N

DAY = "2026-03-02"
BODY = (
    "**Constat factuel:**\nLe port d'Audierne manque de pontons.\n\n"
    "**Idées d'améliorations:**\nEn ajouter deux."
)


def n8n_issue(i: int, **extra) -> dict:
    issue = {
        "id": i,
        "title": f"[economie] Pontons {i}",
        "body": BODY,
        "state": "open",
        "labels": [],
        "category": None,
        "created_at": "2026-03-02T09:00:00Z",
        "updated_at": "2026-03-02T09:00:00Z",
        "html_url": f"https://github.com/audierne2026/participons/issues/{i}",
        "user": "anon",
        "has_conforme_charte": False,
    }
    issue.update(extra)
    return issue


def source(url: str, **options) -> ContributionsSourceResource:
    return ContributionsSourceResource(
        source=url, attempts=options.pop("attempts", 1), backoff_seconds=0.0, **options
    )


def test_n8n_pages_until_exhausted():
    server = FakeN8N([n8n_issue(i) for i in range(1, 121)])
    try:
        items = source(f"{server.url}/webhook/participons/issues").read()
    finally:
        server.stop()
    assert len(items) == 120
    assert [r["body"] for r in server.requests] == [
        {"state": "all", "per_page": 50, "page": 1},
        {"state": "all", "per_page": 50, "page": 2},
        {"state": "all", "per_page": 50, "page": 3},
    ]
    assert items[0].record["category"] == "economie" and items[0].record["title"] == "Pontons 1"


def test_n8n_that_ignores_the_page_stops_on_a_repeated_page():
    server = FakeN8N([n8n_issue(i) for i in range(1, 61)], honour_page=False)
    try:
        items = source(f"{server.url}/webhook/participons/issues").read()
    finally:
        server.stop()
    assert len(items) == 50 and len(server.requests) == 2


@pytest.mark.parametrize(
    "fail_with, message",
    [
        ((200, {"success": False, "error": "workflow crashed"}), "did not succeed: workflow crashed"),
        ((404, {"message": "Webhook not registered"}), "answered HTTP 404"),
        ((500, {"message": "boom"}), "failed after 2 attempt"),
    ],
)
def test_n8n_errors_make_the_source_unreadable(fail_with, message):
    server = FakeN8N([], fail_with=fail_with)
    try:
        with pytest.raises(SourceUnavailable, match=message):
            source(f"{server.url}/webhook/participons/issues", attempts=2).read()
    finally:
        server.stop()
    assert len(server.requests) == (2 if fail_with[0] == 500 else 1)  # only transient errors are retried


def test_n8n_through_the_asset_with_bad_items(domain_resources, data_dir, app_db):
    issues = [
        n8n_issue(1),
        n8n_issue(2, title=None, body=None),
        n8n_issue(3, created_at="2026-03-03T09:00:00Z"),
        n8n_issue(4, labels=7),
        n8n_issue(5, labels=True, created_at=1e20),
        n8n_issue(6, created_at=-1e18),
        n8n_issue(7, created_at=float("inf")),
    ]
    server = FakeN8N(issues)
    try:
        result = dg.materialize(
            [A.contributions, A.contributions_analysis],
            partition_key=DAY,
            resources=domain_resources(f"{server.url}/webhook/participons/issues"),
            instance=ephemeral(),
        )
    finally:
        server.stop()
    assert result.success
    assert list(pd.read_parquet(A.contributions_path(data_dir, DAY))["id"]) == ["1", "4"]
    quarantine = pd.read_parquet(A.quarantine_path(data_dir, DAY)).set_index("id")["reason"].to_dict()
    # a bad date has no day: the item is quarantined on every day the run covers, never lost
    assert quarantine == {
        "2": "no text at all (title, body, constat_factuel and idees_ameliorations are empty)",
        "5": "not a date: 1e+20",
        "6": "not a date: -1e+18",
        "7": "not a date: inf",
    }
    assert app_db.lrange("contributions:validated:20260302", 0, -1) == ["1", "4"]


def test_an_unreachable_webhook_fails_the_run_and_writes_nothing(domain_resources, data_dir):
    server = FakeN8N([])
    url = f"{server.url}/webhook/participons/issues?token=n8n-secret-token"
    server.stop()
    result = dg.materialize(
        [A.contributions],
        partition_key=DAY,
        resources=domain_resources(url),
        raise_on_error=False,
        instance=ephemeral(),
    )
    assert not result.success
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    message = failure.event_specific_data.error.message
    assert "cannot read contributions from n8n webhook" in message and "ConnectionError" in message
    assert "n8n-secret-token" not in str(failure.event_specific_data)
    assert not A.contributions_path(data_dir, DAY).exists()


def gh_issue(number: int, **extra) -> dict:
    issue = {
        "number": number,
        "id": 9000 + number,
        "title": f"Contribution {number}",
        "body": BODY,
        "labels": [],
        "created_at": "2026-03-02T10:00:00Z",
        "html_url": f"https://github.com/o/r/issues/{number}",
    }
    issue.update(extra)
    return issue


def test_github_issues_with_pagination_token_and_categories():
    issues = [gh_issue(n) for n in range(1, 151)]
    issues[0].update(title="[logement] Loyers trop chers")
    issues[1].update(body=BODY + "\n\nCategory: jeunesse")
    issues[2].update(labels=[{"name": "conforme charte"}, {"name": "culture"}])
    issues[3].update(pull_request={"url": "https://api.github.com/repos/o/r/pulls/4"})
    issues[5].update(labels=True)  # not a list: names no category, costs nothing
    issues[6].update(labels=3.5)
    server = FakeGitHub(issues, token="ghp_secret_token")
    try:
        items = source(
            "github:audierne2026/participons", github_api_url=server.url, github_token="ghp_secret_token"
        ).read()
    finally:
        server.stop()
    assert len(items) == 149  # the pull request is left out
    assert [r["query"] for r in server.requests] == [
        "state=all&per_page=100",
        "state=all&per_page=100&page=2",
    ]
    assert all(r["authorization"] == "Bearer ghp_secret_token" for r in server.requests)
    by_id = {i.record["id"]: i.record for i in items}
    assert by_id[1]["category"] == "logement" and by_id[1]["title"] == "Loyers trop chers"
    assert by_id[2]["category"] == "jeunesse" and by_id[3]["category"] == "culture"
    assert by_id[5]["category"] is None
    assert by_id[6]["category"] is None and by_id[7]["category"] is None


def test_github_bad_credentials_fail_clearly_without_the_token():
    server = FakeGitHub([gh_issue(1)], token="the-right-one")
    try:
        with pytest.raises(SourceUnavailable) as caught:
            source("github:o/r", github_api_url=server.url, github_token="ghp_wrong_secret").read()
    finally:
        server.stop()
    assert "HTTP 401" in str(caught.value) and "GITHUB_TOKEN" in str(caught.value)
    assert "ghp_wrong_secret" not in str(caught.value)
    with pytest.raises(SourceUnavailable, match="is not OWNER/REPO"):
        source("github:not a repo").read()


class EndlessN8N(FakeN8N):
    """A webhook that keeps answering new full pages, whatever the page asked."""

    def handle(self, method, path, headers, body):
        request = json.loads(body or b"{}")
        self.record(method=method, path=path, body=request)
        page, per_page = int(request["page"]), int(request["per_page"])
        return 200, {}, {"success": True, "issues": [n8n_issue(page * 1000 + i) for i in range(per_page)]}


def test_a_webhook_that_never_ends_fails_at_the_page_cap_and_writes_nothing(domain_resources, data_dir):
    server = EndlessN8N([])
    try:
        result = dg.materialize(
            [A.contributions],
            partition_key=DAY,
            raise_on_error=False,
            resources=domain_resources(f"{server.url}/webhook/endless-secret", max_pages=7),
            instance=ephemeral(),
        )
    finally:
        server.stop()
    assert not result.success and len(server.requests) == 7
    failure = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"][0]
    message = failure.event_specific_data.error.message
    assert (
        "still answered full pages after 7 pages" in message
        and "OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES" in message
    )
    assert "endless-secret" not in str(failure.event_specific_data)
    assert not A.contributions_path(data_dir, DAY).exists()


def test_the_page_cap_is_read_from_the_environment():
    from ocapistaine_pipelines.contributions.resources import resources_from_env

    resource = resources_from_env({"OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES": "12"})["contributions_source"]
    assert resource.max_pages == 12
    with pytest.raises(ValueError, match="OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES"):
        resources_from_env({"OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES": "many"})


@pytest.mark.parametrize(
    "status, says, never",
    [
        (401, "n8n webhook node's authentication", "GITHUB_TOKEN"),
        (403, "OCAPISTAINE_CONTRIBUTIONS_SOURCE", "GITHUB_TOKEN"),
        (404, "is the n8n workflow active", "GITHUB_TOKEN"),
    ],
)
def test_n8n_refusals_name_the_n8n_settings(status, says, never):
    server = FakeN8N([], fail_with=(status, {"message": "Authorization data is wrong!"}))
    try:
        with pytest.raises(SourceUnavailable) as caught:
            source(f"{server.url}/webhook/participons/issues").read()
    finally:
        server.stop()
    assert says in str(caught.value) and never not in str(caught.value)
    assert "participons" not in str(caught.value)  # scheme and host only


def test_a_5000_digit_id_in_a_webhook_page_costs_only_its_item():
    class Raw(FakeN8N):
        def handle(self, method, path, headers, body):
            page = [
                json.dumps(n8n_issue(1)).encode(),
                json.dumps(n8n_issue(2)).replace('"id": 2', '"id": ' + "9" * 5000).encode(),
            ]
            return 200, {}, b'{"success": true, "issues": [' + b",".join(page) + b"]}"

    server = Raw([])
    try:
        items = source(f"{server.url}/webhook/participons/issues").read()
    finally:
        server.stop()
    assert len(items) == 2
    [batch] = split_by_day(items, [DAY]).values()
    assert [c.id for c in batch.contributions] == ["1"] and "5,000 digits" in batch.quarantine[0]["reason"]


def test_github_paging_follows_response_links_on_the_api_host_only():
    class Elsewhere(FakeGitHub):
        def handle(self, method, path, headers, body):
            status, headers_out, chunk = super().handle(method, path, headers, body)
            headers_out = {"Link": '<https://attacker.example/steal?page=2>; rel="next"'}
            return status, headers_out, chunk

    server = Elsewhere([gh_issue(1)], token="ghp_secret_token")
    try:
        with pytest.raises(SourceUnavailable, match="another host") as caught:
            source("github:o/r", github_api_url=server.url, github_token="ghp_secret_token").read()
    finally:
        server.stop()
    assert len(server.requests) == 1 and "steal" not in str(caught.value)
    many = FakeGitHub([gh_issue(n) for n in range(1, 451)])
    try:
        with pytest.raises(SourceUnavailable, match="still had more pages after 3 pages"):
            source("github:o/r", github_api_url=many.url, max_pages=3).read()
    finally:
        many.stop()
