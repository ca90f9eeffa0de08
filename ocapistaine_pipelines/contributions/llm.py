"""The LLM validator: any litellm provider, charter then category prompts, strict replies, failover.

Two calls per contribution (charter, then category), JSON mode, temperature 0.3, as the legacy agent
did. Unlike the legacy agent it never fails open: a contribution whose replies could not be obtained
or parsed gets a pending verdict (``is_valid=None``) carrying the error. Rate-limit and quota errors
move to the next model of the list and park the limited model for a cool-down; verdicts are cached by
content hash so a re-run only sends what is still pending.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Optional

from .model import CATEGORIES, CATEGORY_DESCRIPTIONS, CHARTER, ENCOURAGED_ASPECTS, VIOLATION_KINDS, Contribution, Verdict, fold

NAME = "llm"
PROMPT_VERSION = "v1"
TEMPERATURE = 0.3
_RATE_LIMIT_TEXT = re.compile(r"rate.?limit|quota|\b429\b|exhausted", re.I)

CHARTER_SYSTEM = f"""Tu es Forseti 461, le modérateur des contributions citoyennes d'Audierne-Esquibien.
{CHARTER}

Réponds UNIQUEMENT par un objet JSON :
{{"is_valid": true|false,
  "violations": [liste parmi {", ".join(VIOLATION_KINDS)}; vide si is_valid est true],
  "encouraged_aspects": [liste parmi {", ".join(ENCOURAGED_ASPECTS)}],
  "reasoning": "une ou deux phrases en français",
  "confidence": nombre entre 0 et 1}}"""

CATEGORY_SYSTEM = (
    "Tu classes les contributions citoyennes d'Audierne-Esquibien dans une seule catégorie.\n"
    + "\n".join(f"- {cid} : {text}" for cid, text in CATEGORY_DESCRIPTIONS.items())
    + '\n\nRéponds UNIQUEMENT par un objet JSON : {"category": "<un des identifiants ci-dessus>", '
    '"reasoning": "une phrase", "confidence": nombre entre 0 et 1}'
)


class ReplyError(ValueError):
    """The model answered, but not with the JSON the prompt asked for."""


class RateLimited(Exception):
    pass


def _user_message(contribution: Contribution) -> str:
    given = f"\nCatégorie proposée par le contributeur : {contribution.category}" if contribution.category else ""
    return f"Titre : {contribution.title}\n\n{contribution.body}{given}"


def _json_object(text: Any) -> dict:
    if not isinstance(text, str) or not text.strip():
        raise ReplyError("empty reply")
    body = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except ValueError as error:
        raise ReplyError(f"reply is not JSON ({error.msg} at char {error.pos})") from None
    if not isinstance(value, dict):
        raise ReplyError(f"reply is a JSON {type(value).__name__}, expected an object")
    return value


def _confidence(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ReplyError(f"confidence {value!r} is not a number between 0 and 1")
    return float(value)


def _kinds(value: Any, allowed: tuple[str, ...], field: str, strict: bool) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReplyError(f"{field} must be a list of strings")
    kinds = []
    for item in value:
        key = fold(item).replace("-", "_")
        if key in allowed:
            kinds.append(key)
        elif strict:
            raise ReplyError(f"{field} holds {item!r}, not one of {', '.join(allowed)}")
    return list(dict.fromkeys(kinds))


def parse_charter_reply(text: Any) -> dict:
    """The charter verdict, checked field by field; ``ReplyError`` says what is wrong."""
    reply = _json_object(text)
    missing = [k for k in ("is_valid", "violations", "reasoning", "confidence") if k not in reply]
    if missing:
        raise ReplyError("reply lacks " + ", ".join(missing))
    if not isinstance(reply["is_valid"], bool):
        raise ReplyError(f"is_valid is {reply['is_valid']!r}, expected true or false")
    violations = _kinds(reply["violations"], VIOLATION_KINDS, "violations", strict=True)
    if reply["is_valid"] and violations:
        raise ReplyError("is_valid is true but violations are listed")
    if not reply["is_valid"] and not violations:
        raise ReplyError("is_valid is false but no violation is named")
    if not isinstance(reply["reasoning"], str) or not reply["reasoning"].strip():
        raise ReplyError("reasoning must be a non-empty string")
    return {
        "is_valid": reply["is_valid"],
        "violations": violations,
        "encouraged_aspects": _kinds(reply.get("encouraged_aspects", []), ENCOURAGED_ASPECTS, "encouraged_aspects", strict=False),
        "reasoning": reply["reasoning"].strip(),
        "confidence": _confidence(reply["confidence"]),
    }


def parse_category_reply(text: Any) -> str:
    reply = _json_object(text)
    value = reply.get("category")
    if not isinstance(value, str):
        raise ReplyError("category missing or not a string")
    from .model import normalize_category

    category = normalize_category(value)
    if category is None:
        raise ReplyError(f"category {value!r} is not one of {', '.join(CATEGORIES)}")
    return category


class ModelChain:
    """The failover list: a rate-limited model is skipped until its cool-down ends."""

    def __init__(self, models: list[str], cooldown_seconds: float):
        self.models = list(models)
        self.cooldown = cooldown_seconds
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def available(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [m for m in self.models if self._until.get(m, 0.0) <= now]

    def limited(self, model: str) -> None:
        with self._lock:
            self._until[model] = time.monotonic() + self.cooldown


class VerdictCache:
    """One JSON file per content hash: written atomically, shared by every run on the same data dir."""

    def __init__(self, folder: Optional[Path]):
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def get(self, key: str) -> Optional[Verdict]:
        if self.folder is None:
            return None
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            verdict = Verdict(**data)
        except (OSError, ValueError, TypeError):
            return None
        return None if verdict.pending else verdict

    def put(self, key: str, verdict: Verdict) -> None:
        if self.folder is None or verdict.pending:
            return
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(verdict.to_dict(), ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the price list at import
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class LLMValidator:
    """Charter and category through litellm, with failover, bounded concurrency and a verdict cache."""

    name = NAME

    def __init__(
        self,
        models: list[str],
        *,
        api_base: Optional[str] = None,
        api_key: Optional[str] = None,
        concurrency: int = 4,
        timeout_seconds: float = 60.0,
        cooldown_seconds: float = 60.0,
        malformed_retries: int = 1,
        cache_dir: Optional[Path] = None,
    ):
        self.chain = ModelChain(models, cooldown_seconds)
        self.model = models[0]
        self.api_base = api_base
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout_seconds
        self.malformed_retries = malformed_retries
        self.cache = VerdictCache(cache_dir)
        self.calls = 0  # requests sent (for metadata and tests)
        self._calls_lock = threading.Lock()
        self._litellm_module = None

    @property
    def _litellm(self):
        """litellm, imported on the first request (a run whose days are all skipped never pays for it)."""
        if self._litellm_module is None:
            self._litellm_module = _litellm()
        return self._litellm_module

    # -- one request with failover -------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text

    def _is_rate_limit(self, error: BaseException) -> bool:
        return isinstance(error, self._litellm.RateLimitError) or bool(_RATE_LIMIT_TEXT.search(str(error)))

    def _ask(self, system: str, user: str, parse) -> tuple[Any, str]:
        """(parsed reply, model): tries each available model; rate limits move on, other errors end it."""
        tried: list[str] = []
        for model in self.chain.available():
            tried.append(model)
            attempts = 1 + self.malformed_retries
            for attempt in range(attempts):
                kwargs: dict = dict(
                    model=model,
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    temperature=TEMPERATURE,
                    response_format={"type": "json_object"},
                    timeout=self.timeout,
                    num_retries=0,
                    max_retries=0,
                )
                if self.api_base:
                    kwargs["api_base"] = self.api_base
                if self.api_key:
                    kwargs["api_key"] = self.api_key
                with self._calls_lock:
                    self.calls += 1
                try:
                    response = self._litellm.completion(**kwargs)
                except Exception as error:  # noqa: BLE001 - classified below
                    if self._is_rate_limit(error):
                        self.chain.limited(model)
                        break  # next model
                    kind = "timeout" if isinstance(error, self._litellm.Timeout) else type(error).__name__
                    raise RuntimeError(self._redact(f"{model}: {kind}: {str(error)[:300]}")) from None
                try:
                    return parse(response.choices[0].message.content), model
                except ReplyError as error:
                    if attempt + 1 == attempts:
                        raise RuntimeError(f"{model}: malformed reply after {attempts} attempt(s): {error}") from None
        raise RuntimeError(
            "every model is rate-limited or over quota: " + (", ".join(tried) if tried else ", ".join(self.chain.models))
        )

    def _judge(self, contribution: Contribution) -> Verdict:
        fallback_category = contribution.category or CATEGORIES[0]
        user = _user_message(contribution)
        try:
            charter, model = self._ask(CHARTER_SYSTEM, user, parse_charter_reply)
            category, _ = self._ask(CATEGORY_SYSTEM, user, parse_category_reply)
        except RuntimeError as error:
            return Verdict.pending_because(str(error), category=fallback_category, validator=f"{NAME}:{self.model}")
        return Verdict(
            is_valid=charter["is_valid"],
            violations=charter["violations"],
            encouraged_aspects=charter["encouraged_aspects"],
            reasoning=charter["reasoning"],
            confidence=charter["confidence"],
            category=category,
            validator=f"{NAME}:{model}",
        )

    def cache_key(self, contribution: Contribution) -> str:
        return f"{PROMPT_VERSION}-{contribution.content_hash()}"

    def validate_many(self, contributions: list[Contribution]) -> list[Verdict]:
        verdicts: list[Optional[Verdict]] = [self.cache.get(self.cache_key(c)) for c in contributions]
        todo = [i for i, v in enumerate(verdicts) if v is None]
        if todo:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llm") as pool:
                for index, verdict in zip(todo, pool.map(lambda i: self._judge(contributions[i]), todo)):
                    verdicts[index] = verdict
                    self.cache.put(self.cache_key(contributions[index]), verdict)
        return [v for v in verdicts if v is not None]
