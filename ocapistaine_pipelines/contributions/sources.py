"""Where contributions come from: an export file or folder, the n8n webhook, or GitHub issues.

``ContributionsSourceResource.read()`` returns every raw item of the source (a source that cannot
be read raises ``SourceUnavailable`` and nothing is written); ``split_by_day`` turns them into one
typed DataFrame and one quarantine table per day. Items are judged one by one, so a bad item is
quarantined with its reason and never costs the day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

import dagster as dg

from ..io_utils import redact, safe_url
from ..partitions import PARIS
from .model import CATEGORIES, Contribution, normalize_category, parse_timestamp

if TYPE_CHECKING:  # pandas loads when an asset runs, not when the code location loads
    import pandas as pd

SAMPLE_EXPORT = Path(__file__).resolve().parent.parent / "data" / "sample_contributions.json"
DEFAULT_GITHUB_API = "https://api.github.com"

COLUMNS = ("id", "title", "body", "constat_factuel", "idees_ameliorations", "category", "source", "created_at")
QUARANTINE_COLUMNS = ("id", "reason", "source", "origin", "raw")


def category_dtype() -> "pd.CategoricalDtype":
    """The 7 categories as a pandas categorical type."""
    import pandas as pd

    return pd.CategoricalDtype(list(CATEGORIES))


class SourceUnavailable(Exception):
    """The source could not be read as a whole: the run fails and writes nothing."""


@dataclass
class RawItem:
    record: Any
    source: str  # export | n8n | github
    origin: str  # file, page or URL the item came from (for the quarantine table)
    generated_at: Optional[str] = None


@dataclass
class DayBatch:
    """One day's contributions, its quarantine and the items whose category must be re-classified."""

    day: str
    contributions: list[Contribution] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    reclassified: list[dict] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return contributions_frame(self.contributions)

    def quarantine_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.quarantine, columns=list(QUARANTINE_COLUMNS))
        return frame.astype({name: "string" for name in QUARANTINE_COLUMNS})


def contributions_frame(contributions: Iterable[Contribution]) -> pd.DataFrame:
    """The typed table: text columns as ``string``, category as the 7-value categorical, UTC times."""
    import pandas as pd

    rows = [{name: getattr(c, name) for name in COLUMNS} for c in contributions]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    text_columns = [c for c in COLUMNS if c not in ("category", "created_at")]
    frame = frame.astype({name: "string" for name in text_columns})
    frame["category"] = pd.Categorical(frame["category"], categories=list(CATEGORIES))
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601").astype("datetime64[us, UTC]")
    return frame


# -- reading --------------------------------------------------------------------------------------
def read_export(path: Path) -> list[RawItem]:
    """A JSON export file, or every ``*.json`` of a folder (sorted, so re-runs read the same order)."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not files:
            raise SourceUnavailable(f"export folder {path} holds no .json file")
    elif path.is_file():
        files = [path]
    else:
        raise SourceUnavailable(f"export {path} does not exist")
    items: list[RawItem] = []
    for file in files:
        try:
            # surrogateescape keeps invalid UTF-8 bytes as lone surrogates: the item is quarantined, not the file
            text = file.read_bytes().decode("utf-8", errors="surrogateescape")
            document = json.loads(text)
        except (OSError, ValueError) as error:
            raise SourceUnavailable(f"cannot read export {file}: {type(error).__name__}: {error}") from None
        if isinstance(document, list):
            records, generated_at = document, None
        elif isinstance(document, dict) and isinstance(document.get("contributions"), list):
            records, generated_at = document["contributions"], document.get("generated_at")
        else:
            raise SourceUnavailable(
                f"{file} is not an export: expected {{\"generated_at\", \"count\", \"contributions\": [...]}}"
            )
        if generated_at is not None and not isinstance(generated_at, str):
            generated_at = str(generated_at)
        items += [RawItem(record, "export", file.name, generated_at) for record in records]
    return items


_TITLE_PREFIX = re.compile(r"^\s*\[(?P<category>[^\]]{1,60})\]\s*")
_CATEGORY_LINE = re.compile(r"^[\s>*_-]*cat[ée]gor(?:y|ie)[\s*_]*:[\s*_]*(?P<category>[^\n*_]+)", re.I | re.M)


def issue_category(title: str, body: str, labels: Any, given: Any = None) -> tuple[Optional[str], Optional[str]]:
    """(category id, raw text): the given field, the ``[category]`` title prefix, the ``Category:`` line, the labels.

    When nothing names one of the 7 ids, the raw text of the first explicit candidate (not a label such
    as ``bug``) comes back so the contribution is kept and re-classified.
    """
    explicit: list[str] = []
    if isinstance(given, str) and given.strip():
        explicit.append(given.strip())
    match = _TITLE_PREFIX.match(title or "")
    if match:
        explicit.append(match.group("category").strip())
    match = _CATEGORY_LINE.search(body or "")
    if match:
        explicit.append(match.group("category").strip())
    label_names = [
        (label.get("name") if isinstance(label, Mapping) else label)
        for label in (labels if isinstance(labels, list) else [])  # labels such as 7, true or "x" name none
    ]
    for candidate in explicit + [name for name in label_names if isinstance(name, str)]:
        category = normalize_category(candidate)
        if category:
            return category, candidate
    return None, (explicit[0] if explicit else None)


def issue_to_record(issue: Mapping[str, Any]) -> Any:
    """An issue (GitHub REST or the n8n answer) as an export-like record."""
    if not isinstance(issue, Mapping):
        return issue  # quarantined later with its type
    title = issue.get("title")
    body = issue.get("body")
    if not isinstance(title, (str, type(None))) or not isinstance(body, (str, type(None))):
        return dict(issue)  # wrong types: Contribution.from_record says which
    category, raw = issue_category(title or "", body or "", issue.get("labels"), issue.get("category"))
    record = {
        "id": issue.get("number", issue.get("id")),
        "title": _TITLE_PREFIX.sub("", title or "", count=1),
        "body": body or "",
        "category": category or raw,
        "created_at": issue.get("created_at"),
    }
    return record


class _Http:
    """``requests`` with bounded retries of transient errors (connection, 429, 5xx) and no secret in errors."""

    def __init__(self, timeout: float, attempts: int, backoff: float, secret: Optional[str] = None):
        import requests

        self.requests = requests
        self.session = requests.Session()
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.secret = secret

    def _redact(self, text: str) -> str:
        return redact(text, [self.secret])

    def call(self, method: str, url: str, **kwargs):
        shown = safe_url(url)
        last = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self.session.request(method, url, timeout=self.timeout, **kwargs)
            except self.requests.RequestException as error:
                last = type(error).__name__  # the message repeats the full URL
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                hint = ""
                if response.status_code in (401, 403):
                    hint = " (check GITHUB_TOKEN, or the rate limit for anonymous calls)"
                raise SourceUnavailable(self._redact(f"{method} {shown} answered HTTP {response.status_code}{hint}"))
            try:
                return response, response.json()
            except ValueError:
                raise SourceUnavailable(f"{method} {shown} did not answer JSON") from None
        raise SourceUnavailable(self._redact(f"{method} {shown} failed after {self.attempts} attempt(s): {last}"))


def read_n8n(url: str, *, per_page: int = 50, http: _Http, max_pages: int = 1000) -> list[RawItem]:
    """POST ``{"state": "all", "per_page", "page"}`` page after page until a short or repeated page."""
    items: list[RawItem] = []
    seen: set = set()
    for page in range(1, max_pages + 1):
        _, answer = http.call("POST", url, json={"state": "all", "per_page": per_page, "page": page})
        if not isinstance(answer, Mapping) or answer.get("success") is not True or not isinstance(answer.get("issues"), list):
            reason = answer.get("error") or answer.get("message") if isinstance(answer, Mapping) else None
            raise SourceUnavailable(
                f"n8n webhook {safe_url(url)} page {page} did not succeed" + (f": {reason}" if reason else "")
            )
        issues = answer["issues"]
        keys = {json.dumps(i.get("id") if isinstance(i, Mapping) else repr(i), default=str) for i in issues}
        if issues and keys <= seen:  # a webhook that ignores ``page`` repeats itself: we are done
            break
        seen |= keys
        items += [RawItem(issue_to_record(issue), "n8n", f"{safe_url(url)} page {page}") for issue in issues]
        if len(issues) < per_page:
            break
    return items


def _next_link(header: str) -> Optional[str]:
    for part in (header or "").split(","):
        match = re.search(r'<([^>]+)>\s*;\s*rel="next"', part)
        if match:
            return match.group(1)
    return None


def read_github(repo: str, *, api_url: str, http: _Http, token: Optional[str], max_pages: int = 1000) -> list[RawItem]:
    """Issues (not pull requests) of ``OWNER/REPO`` through the REST API, following ``Link: rel=next``."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise SourceUnavailable(f"github:{repo} is not OWNER/REPO")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url: Optional[str] = f"{api_url.rstrip('/')}/repos/{repo}/issues?state=all&per_page=100"
    items: list[RawItem] = []
    pages = 0
    while url and pages < max_pages:
        response, answer = http.call("GET", url, headers=headers)
        if not isinstance(answer, list):
            raise SourceUnavailable(f"GitHub answered {type(answer).__name__} for {repo} issues, expected a list")
        pages += 1
        items += [
            RawItem(issue_to_record(issue), "github", issue.get("html_url") or url if isinstance(issue, Mapping) else url)
            for issue in answer
            if not (isinstance(issue, Mapping) and "pull_request" in issue)
        ]
        url = _next_link(response.headers.get("Link", ""))
    return items


class ContributionsSourceResource(dg.ConfigurableResource):
    """``OCAPISTAINE_CONTRIBUTIONS_SOURCE``: an export file or folder, an n8n URL, or ``github:OWNER/REPO``."""

    source: str = ""
    github_token: Optional[str] = None
    github_api_url: str = DEFAULT_GITHUB_API
    timeout_seconds: float = 30.0
    attempts: int = 3
    backoff_seconds: float = 1.0
    per_page: int = 50

    def describe(self) -> str:
        """The source without any secret (URLs lose their query string and credentials)."""
        spec = self.source.strip()
        if not spec:
            return f"sample export ({SAMPLE_EXPORT.name})"
        if spec.startswith(("http://", "https://")):
            return f"n8n webhook {safe_url(spec)}"
        return spec

    def read(self) -> list[RawItem]:
        spec = self.source.strip()
        http = lambda: _Http(self.timeout_seconds, self.attempts, self.backoff_seconds, self.github_token)  # noqa: E731
        if not spec:
            return read_export(SAMPLE_EXPORT)
        if spec.startswith(("http://", "https://")):
            return read_n8n(spec, per_page=self.per_page, http=http())
        if spec.startswith("github:"):
            return read_github(spec[len("github:"):].strip(), api_url=self.github_api_url, http=http(), token=self.github_token)
        return read_export(Path(spec).expanduser())


# -- one table per day ----------------------------------------------------------------------------
def _paris_day(moment: dt.datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d")


def _item_day(item: RawItem, contribution: Optional[Contribution], fallback: str) -> str:
    """The created_at/date day, else the export's generated_at day, else the partition being run."""
    if contribution is not None and contribution.created_at:
        return _paris_day(dt.datetime.fromisoformat(contribution.created_at))
    if item.generated_at:
        try:
            moment = parse_timestamp(item.generated_at)
        except ValueError:
            moment = None
        if moment is not None:
            return _paris_day(moment)
    return fallback


def _raw_preview(record: Any, limit: int = 500) -> str:
    try:
        text = json.dumps(record, ensure_ascii=True, default=repr)
    except (TypeError, ValueError):
        text = repr(record)
    return text if len(text) <= limit else text[:limit] + "..."


def _raw_id(record: Any) -> str:
    if isinstance(record, Mapping) and isinstance(record.get("id"), (str, int)) and not isinstance(record.get("id"), bool):
        return str(record["id"]).encode("utf-8", "backslashreplace").decode("utf-8")
    return ""


def split_by_day(items: list[RawItem], days: Iterable[str]) -> dict[str, DayBatch]:
    """The batches of ``days`` (``YYYY-MM-DD``); undated items of a source without ``generated_at`` go to each day run."""
    wanted = list(days)
    batches = {day: DayBatch(day) for day in wanted}
    first_seen: dict[str, str] = {}
    for item in items:
        try:
            contribution = Contribution.from_record(item.record, source=item.source)
            reason = None
        except ValueError as error:
            contribution, reason = None, str(error)
        undated = (contribution is None or not contribution.created_at) and not item.generated_at
        targets = wanted if undated else [_item_day(item, contribution, wanted[0])]
        if contribution is not None and reason is None:
            if contribution.id in first_seen:
                reason = f"duplicate id {contribution.id} (first seen in {first_seen[contribution.id]})"
            else:
                first_seen[contribution.id] = item.origin
        for day in targets:
            batch = batches.get(day)
            if batch is None:
                continue
            if reason is not None:
                batch.quarantine.append(
                    {
                        "id": contribution.id if contribution else _raw_id(item.record),
                        "reason": reason,
                        "source": item.source,
                        "origin": item.origin,
                        "raw": _raw_preview(item.record),
                    }
                )
                continue
            batch.contributions.append(contribution)
            if contribution.category_raw:
                batch.reclassified.append({"id": contribution.id, "category_given": contribution.category_raw})
    return batches
