"""Contribution, Verdict, the 7 categories and the charter: the vocabulary every backend shares.

``Contribution.from_record`` is the single place where an outside record (export file, n8n webhook,
GitHub issue) becomes a contribution; it rebuilds title and body as the legacy code did and
rejects a bad record with a ``ValueError`` whose message is the quarantine reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .tolerant_json import OversizedNumber, Unparseable

#: The 7 category ids, exactly as the app and the labels spell them.
CATEGORIES: tuple[str, ...] = (
    "economie",
    "logement",
    "culture",
    "ecologie",
    "associations",
    "jeunesse",
    "alimentation-bien-etre-soins",
)

CATEGORY_DESCRIPTIONS: dict[str, str] = {
    "economie": "commerces, port, pêche, tourisme, emploi, économie locale",
    "logement": "logement, immobilier, urbanisme, résidences secondaires, PLU",
    "culture": "patrimoine, événements, arts, traditions, langue bretonne, bibliothèque",
    "ecologie": "environnement, développement durable, nature, littoral, déchets, mobilité douce",
    "associations": "associations, clubs, vie associative, bénévolat, salles communales",
    "jeunesse": "jeunesse, écoles, éducation, enfants, périscolaire",
    "alimentation-bien-etre-soins": "alimentation, santé, bien-être, soins, médecins, personnes âgées",
}

#: Spellings seen in forms, labels and issue titles, mapped to the ids (keys are folded: see ``fold``).
CATEGORY_ALIASES: dict[str, str] = {
    "environnement": "ecologie",
    "ecologie-environnement": "ecologie",
    "economie-locale": "economie",
    "urbanisme": "logement",
    "habitat": "logement",
    "patrimoine": "culture",
    "vie-associative": "associations",
    "association": "associations",
    "education": "jeunesse",
    "enfance": "jeunesse",
    "alimentation": "alimentation-bien-etre-soins",
    "sante": "alimentation-bien-etre-soins",
    "bien-etre": "alimentation-bien-etre-soins",
    "soins": "alimentation-bien-etre-soins",
    "alimentation-bien-etre": "alimentation-bien-etre-soins",
}

#: The kinds of charter violation the labels and the validators use.
VIOLATION_KINDS: tuple[str, ...] = (
    "aggressive",
    "subtle_violation",
    "discrimination",
    "spam",
    "off_topic",
    "false_information",
)

CHARTER = """Charte de contribution (Audierne-Esquibien, municipales 2026)
Ne sont pas acceptés :
- les attaques personnelles et les propos discriminatoires (y compris les attaques voilées contre les élus
  ou les personnes : insinuations d'incompétence, de négligence ou de malhonnêteté, questions rhétoriques
  visant des personnes plutôt que des projets) ;
- les messages en majuscules ou agressifs, les insultes, le mépris ;
- le spam et la publicité (liens commerciaux, numéros de téléphone, promotions) ;
- les propositions sans lien avec Audierne-Esquibien ou les compétences municipales ;
- les fausses informations.
Sont encouragés : les propositions concrètes et argumentées, la critique constructive (même franche,
tant qu'elle vise un projet et non une personne), les questions et demandes de précision, le partage
d'expérience et d'expertise, les suggestions d'amélioration."""

ENCOURAGED_ASPECTS: tuple[str, ...] = (
    "concrete_proposal",
    "constructive_criticism",
    "question",
    "experience_sharing",
    "improvement_suggestion",
)

#: Longest text accepted in one field; longer records are quarantined, not truncated.
MAX_TEXT_CHARS = 20_000
TITLE_MAX_CHARS = 80
#: Longest id accepted; longest given category kept for re-classification (a longer one names none).
MAX_ID_CHARS = 200
MAX_CATEGORY_CHARS = 100

_TEXT_FIELDS = ("title", "body", "constat_factuel", "idees_ameliorations")
_SURROGATE = re.compile("[\ud800-\udfff]")


def fold(text: str) -> str:
    """Lower case, accents removed, spaces and underscores as hyphens: for comparing labels."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[\s_/]+", "-", plain)


def normalize_category(value: Any) -> str | None:
    """One of the 7 ids, or ``None`` when the value names none of them."""
    if not isinstance(value, str) or not value.strip():
        return None
    key = fold(value)
    if key in CATEGORIES:
        return key
    return CATEGORY_ALIASES.get(key)


def build_body(constat: str, idees: str) -> str:
    """The body exactly as the legacy code builds it from the two form fields."""
    return f"**Constat factuel:**\n{constat}\n\n**Idées d'améliorations:**\n{idees}"


def build_title(constat: str, idees: str = "") -> str:
    """The constat cut to about 80 characters plus ``...`` (the legacy rule)."""
    base = " ".join((constat or idees).split())
    if len(base) <= TITLE_MAX_CHARS:
        return base
    return base[:TITLE_MAX_CHARS].rstrip() + "..."


_SECTION = re.compile(
    r"\*\*\s*Constat factuel\s*:?\s*\*\*\s*:?\s*(?P<constat>.*?)\s*"
    r"\*\*\s*Id[ée]es d'am[ée]liorations?\s*:?\s*\*\*\s*:?\s*(?P<idees>.*)",
    re.S | re.I,
)


def split_body(body: str) -> tuple[str, str]:
    """The two form fields back out of a legacy-shaped body, or ``("", "")``."""
    match = _SECTION.search(body or "")
    if not match:
        return "", ""
    return match.group("constat").strip(), match.group("idees").strip()


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An aware datetime from ISO 8601 text or epoch seconds/milliseconds; ``ValueError`` otherwise.

    Every failure is a ``ValueError`` (also epochs out of range such as 1e20, -1e18, Infinity or NaN,
    which the datetime module reports as OSError/OverflowError), so one bad item is quarantined instead
    of crashing the day; a moment that cannot be shown in UTC or in Paris time is refused here too.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
            seconds = number / 1000 if number > 1e12 else number
            moment = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"not a date: {_short(value)}") from None
        return _representable(moment, value)
    if isinstance(value, OversizedNumber):
        raise ValueError(f"not a date: {value.describe()}")
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
            return parse_timestamp(float(text))
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not a date: {_short(value)}") from None
        if moment.tzinfo is None:  # a naive time in the exports is local time in Audierne
            from ..partitions import PARIS

            moment = moment.replace(tzinfo=PARIS)
        return _representable(moment, value)
    raise ValueError(f"not a date: {type(value).__name__}")


def _clip(text: str, limit: int) -> str:
    from ..redaction import clip

    return clip(text, limit)


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an integer of more than 4,300 digits
        return f"an integer of {value.bit_length()} bits"
    return text if len(text) <= 60 else text[:60] + "..."


def _representable(moment: dt.datetime, value: Any) -> dt.datetime:
    """``moment`` when it converts to UTC and to Paris time (the day of an item); ``ValueError`` otherwise."""
    from ..partitions import PARIS

    try:
        moment.astimezone(dt.UTC)
        moment.astimezone(PARIS)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"not a date: {_short(value)} is out of range") from None
    return moment


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    if value is None:
        return ""
    if isinstance(value, OversizedNumber):
        raise ValueError(f"{name} is {value.describe()}, expected text")
    if not isinstance(value, str):
        raise ValueError(f"{name} is {type(value).__name__}, expected text")
    if _SURROGATE.search(value):
        raise ValueError(f"{name} is not valid UTF-8")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"{name} has {len(value):,} characters (limit {MAX_TEXT_CHARS:,})")
    return value.replace("\r\n", "\n").strip()


def _identifier(record: Mapping[str, Any], texts: tuple[str, ...], source: str) -> str:
    value = record.get("id")
    if value is None or value == "":
        digest = hashlib.sha256("\x1f".join((source,) + texts).encode()).hexdigest()[:16]
        return f"{source}-{digest}"
    if isinstance(value, OversizedNumber):
        raise ValueError(f"id is {value.describe()} (limit {MAX_ID_CHARS} characters)")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"id is {type(value).__name__}, expected text or integer")
    text = str(value).strip()
    if not text:
        raise ValueError("id is empty")
    if len(text) > MAX_ID_CHARS:
        raise ValueError(f"id has {len(text):,} characters (limit {MAX_ID_CHARS})")
    if _SURROGATE.search(text):
        raise ValueError("id is not valid UTF-8")
    return text


def _optional_text(record: Mapping[str, Any], name: str) -> str | None:
    """A short text field (category, source): ``None``, or text that can be stored (no lone surrogate)."""
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or isinstance(value, OversizedNumber):
        kind = value.describe() if isinstance(value, OversizedNumber) else type(value).__name__
        raise ValueError(f"{name} is {kind}, expected text")
    if _SURROGATE.search(value):
        raise ValueError(f"{name} is not valid UTF-8")
    return value


@dataclass
class Contribution:
    id: str
    title: str
    body: str
    constat_factuel: str
    idees_ameliorations: str
    category: str | None
    source: str
    created_at: str | None
    #: The category as the record gave it when it named none of the 7 (kept, then re-classified).
    category_raw: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any], *, source: str = "export") -> Contribution:
        """A contribution from an export, webhook or issue record; ``ValueError`` says what is wrong."""
        if isinstance(record, Unparseable):
            raise ValueError(f"record is unreadable: {record.reason}")
        if not isinstance(record, Mapping):
            raise ValueError(f"record is {type(record).__name__}, expected an object")
        title, body, constat, idees = (_text(record, name) for name in _TEXT_FIELDS)
        if not (constat or idees) and body:
            constat, idees = split_body(body)
        if not (title or body or constat or idees):
            raise ValueError(
                "no text at all (title, body, constat_factuel and idees_ameliorations are empty)"
            )
        if not body:
            body = build_body(constat, idees)
        if not title:
            title = build_title(constat, idees) or build_title(body)
        raw_category = _optional_text(record, "category")
        if raw_category is not None and len(raw_category) > MAX_CATEGORY_CHARS:
            # names none of the 7 ids: kept for re-classification, as a short prefix and a hash
            raw_category = _clip(raw_category.strip(), MAX_CATEGORY_CHARS)
        category = normalize_category(raw_category)
        when = record.get("created_at")
        if when is None or when == "":  # 0 is a date (1970), not a missing one
            when = record.get("date")
        created = parse_timestamp(when)
        record_source = _optional_text(record, "source")
        if record_source is not None and len(record_source) > MAX_CATEGORY_CHARS:
            raise ValueError(f"source has {len(record_source):,} characters (limit {MAX_CATEGORY_CHARS})")
        return cls(
            id=_identifier(record, (title, body), source),
            title=title,
            body=body,
            constat_factuel=constat,
            idees_ameliorations=idees,
            category=category,
            source=(record_source or source).strip() or source,
            created_at=created.astimezone(dt.UTC).isoformat() if created else None,
            category_raw=raw_category.strip() if (raw_category and not category) else None,
        )

    @property
    def text(self) -> str:
        """Everything a validator reads: the title, then the body (which holds both form fields)."""
        return f"{self.title}\n{self.body}"

    def content_hash(self) -> str:
        """Stable hash of what a validator sees: the key of the verdict cache."""
        payload = json.dumps([self.title, self.body, self.category], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Verdict:
    is_valid: bool | None
    violations: list[str]
    encouraged_aspects: list[str]
    reasoning: str
    confidence: float
    #: One of the 7 ids; ``None`` only when pending and the source named no category (never made up).
    category: str | None
    validator: str
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.is_valid is None

    @classmethod
    def pending_because(cls, error: str, *, category: str | None, validator: str) -> Verdict:
        """A contribution that could not be judged: never valid, confidence 0.0 (legacy 'not validated')."""
        return cls(None, [], [], "", 0.0, category, validator, error)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validation_result(self) -> dict[str, Any]:
        """The ``validation_result`` object the app reads in ``contribution:{id}``."""
        result = {
            "is_valid": self.is_valid,
            "violations": list(self.violations),
            "encouraged_aspects": list(self.encouraged_aspects),
            "reasoning": self.reasoning,
            "confidence": round(float(self.confidence), 4),
            "category": self.category,
            "validator": self.validator,
        }
        if self.pending:
            result["status"] = "pending"
            result["error"] = self.error
        return result


#: A verdict's fields, in order: the analysis table's columns after the contribution's, and what the
#: evaluation's metrics read from a task output.
VERDICT_FIELDS = tuple(field.name for field in fields(Verdict))
