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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg

from ..http_policy import HttpClient, HttpFailure, HttpPolicy
from ..partitions import FIRST_DAY, PARIS
from ..redaction import printable, register_secret, safe_text, show_url
from . import tolerant_json
from .model import CATEGORIES, Contribution, normalize_category, parse_timestamp

if TYPE_CHECKING:  # pandas loads when an asset runs, not when the code location loads
    import pandas as pd

SAMPLE_EXPORT = Path(__file__).resolve().parent.parent / "data" / "sample_contributions.json"
DEFAULT_GITHUB_API = "https://api.github.com"
SOURCE_ENV = "OCAPISTAINE_CONTRIBUTIONS_SOURCE"
MAX_PAGES_ENV = "OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES"
DEFAULT_MAX_PAGES = 200
#: How much of a raw value reaches a quarantine table, metadata or a log (a prefix and a hash beyond).
ID_SHOWN_CHARS = 200
REASON_SHOWN_CHARS = 300
RAW_SHOWN_CHARS = 500

COLUMNS = (
    "id",
    "title",
    "body",
    "constat_factuel",
    "idees_ameliorations",
    "category",
    "source",
    "created_at",
)
QUARANTINE_COLUMNS = ("id", "reason", "source", "origin", "raw")


def category_dtype() -> pd.CategoricalDtype:
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
    generated_at: str | None = None


@dataclass
class DayBatch:
    """One day's contributions, its quarantine and the items whose category must be re-classified."""

    partition_key: str
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
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601").astype(
        "datetime64[us, UTC]"
    )
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
            # surrogateescape keeps invalid UTF-8 bytes as lone surrogates: the item is quarantined, not the
            # file
            text = file.read_bytes().decode("utf-8", errors="surrogateescape")
            document = tolerant_json.loads(text, records_key="contributions")
        except (OSError, ValueError) as error:
            detail = safe_text(f"{type(error).__name__}: {error}", REASON_SHOWN_CHARS)
            raise SourceUnavailable(f"cannot read export {printable(str(file))}: {detail}") from None
        if isinstance(document, list):
            records, generated_at = document, None
        elif isinstance(document, dict) and isinstance(document.get("contributions"), list):
            records, generated_at = document["contributions"], document.get("generated_at")
        else:
            raise SourceUnavailable(
                f'{file} is not an export: expected {{"generated_at", "count", "contributions": [...]}}'
            )
        if generated_at is not None and not isinstance(generated_at, (str, int, float)):
            generated_at = None  # not a date: the items are undated
        elif generated_at is not None and not isinstance(generated_at, str):
            generated_at = str(generated_at)
        items += [RawItem(record, "export", printable(file.name), generated_at) for record in records]
    return items


_TITLE_PREFIX = re.compile(r"^\s*\[(?P<category>[^\]]{1,60})\]\s*")
_CATEGORY_LINE = re.compile(r"^[\s>*_-]*cat[ée]gor(?:y|ie)[\s*_]*:[\s*_]*(?P<category>[^\n*_]+)", re.I | re.M)


def issue_category(title: str, body: str, labels: Any, given: Any = None) -> tuple[str | None, str | None]:
    """(category id, raw text): the given field, the ``[category]`` title prefix, the ``Category:`` line, the
    labels.

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


#: What each source's refusals mean, naming that source's own settings.
_HINTS: dict[str, dict[int, str]] = {
    "n8n": {
        401: f"the webhook refused the call: check the n8n webhook node's authentication and {SOURCE_ENV}",
        403: f"the webhook refused the call: check the n8n webhook node's authentication and {SOURCE_ENV}",
        404: f"no such webhook: is the n8n workflow active, and is {SOURCE_ENV} its production URL?",
    },
    "github": {
        401: "check GITHUB_TOKEN",
        403: "check GITHUB_TOKEN, or the rate limit for anonymous calls (60 an hour)",
        404: f"check OWNER/REPO in {SOURCE_ENV} (a private repository needs GITHUB_TOKEN)",
    },
}


def _call(client: HttpClient, kind: str, method: str, url: str, **kwargs) -> tuple[Any, Any]:
    """(response, decoded JSON) under the HTTP policy; ``SourceUnavailable`` with a hint for ``kind``."""
    try:
        response = client.request(method, url, **kwargs)
    except HttpFailure as error:
        raise SourceUnavailable(str(error)) from None
    where = f"{method} {show_url(url)}"
    status = response.status_code
    if status == 429 or status >= 500:
        raise SourceUnavailable(
            f"{where} failed after {client.attempts_of(response)} attempt(s): HTTP {status}"
        )
    if status >= 400:
        hint = _HINTS.get(kind, {}).get(status)
        raise SourceUnavailable(f"{where} answered HTTP {status}" + (f" ({hint})" if hint else ""))
    try:
        text = response.content.decode("utf-8", errors="surrogateescape")
        records_key = "issues" if kind == "n8n" else None
        return response, tolerant_json.loads(text, records_key=records_key)
    except ValueError:
        raise SourceUnavailable(f"{where} did not answer JSON") from None


def _to_record(issue: Any) -> Any:
    """``issue_to_record``, never raising: an issue that cannot be read is quarantined, not the page."""
    try:
        return issue_to_record(issue)
    except Exception as error:  # noqa: BLE001 - one item, quarantined with the reason
        return tolerant_json.Unparseable(f"{type(error).__name__}", "")


def _item_key(issue: Any, index: int) -> str:
    """What identifies an issue of a page, to notice a webhook that repeats its pages."""
    value = issue.get("id") if isinstance(issue, Mapping) else None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return f"{type(value).__name__}:{value}" if value is not None else f"none:{index}"
    return f"{type(value).__name__}#{index}"


def read_n8n(
    url: str, *, per_page: int = 50, client: HttpClient, max_pages: int = DEFAULT_MAX_PAGES
) -> list[RawItem]:
    """POST ``{"state": "all", "per_page", "page"}`` page after page until a short or repeated page.

    A webhook still answering full new pages after ``max_pages`` fails the read: nothing is written
    rather than a day built from an endless (or looping) answer. Errors show scheme and host only.
    """
    items: list[RawItem] = []
    seen: set = set()
    shown = show_url(url)
    for page in range(1, max_pages + 1):
        _, answer = _call(
            client, "n8n", "POST", url, json={"state": "all", "per_page": per_page, "page": page}
        )
        if (
            not isinstance(answer, Mapping)
            or answer.get("success") is not True
            or not isinstance(answer.get("issues"), list)
        ):
            reason = (answer.get("error") or answer.get("message")) if isinstance(answer, Mapping) else None
            raise SourceUnavailable(
                f"n8n webhook {shown} page {page} did not succeed"
                + (f": {safe_text(reason, REASON_SHOWN_CHARS)}" if reason else "")
            )
        issues = answer["issues"]
        keys = {_item_key(issue, i) for i, issue in enumerate(issues)}
        if issues and keys <= seen:  # a webhook that ignores ``page`` repeats itself: we are done
            return items
        seen |= keys
        items += [RawItem(_to_record(issue), "n8n", f"{shown} page {page}") for issue in issues]
        if len(issues) < per_page:
            return items
    raise SourceUnavailable(
        f"n8n webhook {shown} still answered full pages after {max_pages} pages ({max_pages * per_page:,} "
        f"items): stopped, nothing written (raise {MAX_PAGES_ENV} if the source is really that large)"
    )


def read_github(
    repo: str, *, api_url: str, client: HttpClient, token: str | None, max_pages: int = DEFAULT_MAX_PAGES
) -> list[RawItem]:
    """Issues (not pull requests) of ``OWNER/REPO`` through the REST API, following ``Link: rel=next``
    (``response.links``) on the API's own host only, for at most ``max_pages`` pages."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise SourceUnavailable(f"github:{safe_text(repo, 100)} is not OWNER/REPO")
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    api_host = urlsplit(api_url).netloc
    url: str | None = f"{api_url.rstrip('/')}/repos/{repo}/issues?state=all&per_page=100"
    items: list[RawItem] = []
    for _ in range(max_pages):
        response, answer = _call(client, "github", "GET", url, headers=headers)
        if not isinstance(answer, list):
            raise SourceUnavailable(
                f"GitHub answered {type(answer).__name__} for {repo} issues, expected a list"
            )
        items += [
            RawItem(_to_record(issue), "github", _origin(issue, url))
            for issue in answer
            if not (isinstance(issue, Mapping) and "pull_request" in issue)
        ]
        url = response.links.get("next", {}).get("url")
        if not url:
            return items
        if urlsplit(url).netloc != api_host:  # never send the token elsewhere
            raise SourceUnavailable(f"GitHub's next page is on another host ({show_url(url)}): not followed")
    raise SourceUnavailable(
        f"github:{repo} still had more pages after {max_pages} pages: stopped, nothing written "
        f"(raise {MAX_PAGES_ENV} if the repository is really that large)"
    )


def _origin(issue: Any, page_url: str) -> str:
    link = issue.get("html_url") if isinstance(issue, Mapping) else None
    return (
        safe_text(link, ID_SHOWN_CHARS)
        if isinstance(link, str) and link
        else safe_text(page_url, ID_SHOWN_CHARS)
    )


class ContributionsSourceResource(dg.ConfigurableResource):
    """``OCAPISTAINE_CONTRIBUTIONS_SOURCE``: an export file or folder, an n8n URL or ``github:OWNER/REPO``."""

    source: str = ""
    github_token: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API
    #: Seconds to wait between two bytes of an answer (and, capped at 5, to connect).
    timeout_seconds: float = 30.0
    attempts: int = 3
    backoff_seconds: float = 1.0
    #: The whole read (every page, every attempt) ends by then (see ``http_policy``).
    deadline_seconds: float = 600.0
    per_page: int = 50
    #: A source still answering full pages after this many fails the run
    #: (``OCAPISTAINE_CONTRIBUTIONS_MAX_PAGES``).
    max_pages: int = DEFAULT_MAX_PAGES

    def policy(self) -> HttpPolicy:
        """The HTTP policy of the n8n and GitHub reads (bound: ``policy().bound_seconds()``)."""
        return HttpPolicy(
            connect_timeout=min(5.0, self.timeout_seconds),
            read_timeout=self.timeout_seconds,
            retries=max(1, self.attempts) - 1,
            backoff=self.backoff_seconds,
            backoff_max=max(10.0, self.backoff_seconds),
            deadline=self.deadline_seconds,
        )

    def describe(self) -> str:
        """The source without any secret: a webhook shows scheme and host only (its path is its secret)."""
        spec = self.source.strip()
        if not spec:
            return f"sample export ({SAMPLE_EXPORT.name})"
        if spec.startswith(("http://", "https://")):
            return f"n8n webhook {show_url(spec)}"
        return safe_text(spec, REASON_SHOWN_CHARS)

    def read(self) -> list[RawItem]:
        spec = self.source.strip()
        register_secret(self.github_token)
        if not spec:
            return read_export(SAMPLE_EXPORT)
        if spec.startswith(("http://", "https://")):
            register_secret(spec, webhook=True)
            return read_n8n(
                spec, per_page=self.per_page, client=self.policy().client(), max_pages=self.max_pages
            )
        if spec.startswith("github:"):
            return read_github(
                spec[len("github:") :].strip(),
                api_url=self.github_api_url,
                client=self.policy().client(),
                token=self.github_token,
                max_pages=self.max_pages,
            )
        return read_export(Path(spec).expanduser())


# -- one table per day ----------------------------------------------------------------------------
def _paris_day(moment: dt.datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%d")


def _item_day(item: RawItem, contribution: Contribution | None, fallback: str) -> str:
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


def _raw_preview(record: Any, limit: int = RAW_SHOWN_CHARS) -> str:
    if isinstance(record, tolerant_json.Unparseable):
        return safe_text(record.preview, limit)
    try:
        text = json.dumps(record, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = f"<{type(record).__name__} that cannot be shown>"
    return safe_text(text, limit)


def _raw_id(record: Any) -> str:
    value = record.get("id") if isinstance(record, Mapping) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return safe_text(value if isinstance(value, str) else _int_text(value), ID_SHOWN_CHARS)
    return ""


def _int_text(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # more than 4,300 digits
        return f"<integer of {value.bit_length()} bits>"


def run_horizon(now: dt.datetime | None = None) -> tuple[str, str]:
    """The first and last day (``YYYY-MM-DD``) any run will ever process: the first partition, and
    tomorrow in Paris (``end_offset=1``: a contribution cannot be written later than that)."""
    now = now or dt.datetime.now(dt.UTC)
    return FIRST_DAY, (now.astimezone(PARIS) + dt.timedelta(days=1)).strftime("%Y-%m-%d")


@dataclass
class Accounting:
    """Where each item read went, counted once per item: ``fetched = kept + quarantined + other_days``.

    ``kept``: in a table of a day of this run (to be analysed); ``quarantined``: in a quarantine table
    of a day of this run; ``other_days``: dated on a day (within the horizon) this run does not cover,
    read again by that day's run."""

    fetched: int = 0
    kept: int = 0
    quarantined: int = 0
    other_days: int = 0

    @property
    def balanced(self) -> bool:
        return self.fetched == self.kept + self.quarantined + self.other_days

    def sentence(self) -> str:
        return (
            f"fetched {self.fetched} = {self.kept} to analyse + {self.quarantined} quarantined"
            f" + {self.other_days} of other days"
        )


class DaySplit(dict):
    """``{day: DayBatch}`` plus the run's ``accounting``."""

    accounting: Accounting


def _judge(item: RawItem) -> tuple[Contribution | None, str | None]:
    """The contribution, or the reason it is quarantined. Never raises: one item never costs the day."""
    try:
        return Contribution.from_record(item.record, source=item.source), None
    except ValueError as error:
        return None, str(error)
    except RecursionError:
        return None, "record nested too deep to read"
    except Exception as error:  # noqa: BLE001 - an unforeseen fault of one item is still that item's
        return None, f"unreadable record ({type(error).__name__})"


def split_by_day(items: list[RawItem], days: Iterable[str], *, now: dt.datetime | None = None) -> DaySplit:
    """The batches of ``days`` (``YYYY-MM-DD``), and where every item went (``.accounting``).

    An item goes to its day (created_at/date, else the export's ``generated_at``); an undated item of
    a source without ``generated_at`` goes to each day of the run. An item whose day no run will ever
    process (before the first partition, after tomorrow) is quarantined on the run's last day with
    ``date out of range``. Raw values reaching a quarantine table are capped (prefix + hash).
    """
    wanted = list(days)
    batches = DaySplit({partition_key: DayBatch(partition_key) for partition_key in wanted})
    accounting = Accounting(fetched=len(items))
    first_day, last_day = run_horizon(now)
    first_seen: dict[str, str] = {}
    for item in items:
        contribution, reason = _judge(item)
        undated = (contribution is None or not contribution.created_at) and not item.generated_at
        targets = wanted if undated else [_item_day(item, contribution, wanted[0])]
        if not undated and not first_day <= targets[0] <= last_day:
            when = (
                contribution.created_at
                if contribution is not None and contribution.created_at
                else item.generated_at
            )
            reason = (
                f"date out of range: {safe_text(when, 60)} is on {targets[0]}; runs cover "
                f"{first_day} to {last_day}" + (f" ({reason})" if reason else "")
            )
            targets = [wanted[-1]]
        if contribution is not None and reason is None:
            if contribution.id in first_seen:
                reason = f"duplicate id {contribution.id} (first seen in {first_seen[contribution.id]})"
            else:
                first_seen[contribution.id] = item.origin
        placed = False
        for partition_key in targets:
            batch = batches.get(partition_key)
            if batch is None:
                continue
            placed = True
            if reason is not None:
                batch.quarantine.append(
                    {
                        "id": safe_text(contribution.id, ID_SHOWN_CHARS)
                        if contribution
                        else _raw_id(item.record),
                        "reason": safe_text(reason, REASON_SHOWN_CHARS),
                        "source": safe_text(item.source, 40),
                        "origin": safe_text(item.origin, ID_SHOWN_CHARS),
                        "raw": _raw_preview(item.record),
                    }
                )
                continue
            batch.contributions.append(contribution)
            if contribution.category_raw:
                batch.reclassified.append(
                    {"id": contribution.id, "category_given": contribution.category_raw}
                )
        if not placed:
            accounting.other_days += 1
        elif reason is not None:
            accounting.quarantined += 1
        else:
            accounting.kept += 1
    batches.accounting = accounting
    return batches
