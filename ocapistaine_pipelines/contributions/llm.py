"""The LLM validator: any litellm provider, one prompt for verdict + category, strict replies, failover.

One call per contribution by default (``calls="one"``): the charter verdict and the category in one JSON
object, half the calls of the legacy agent and fewer tokens (the contribution is sent once). The legacy's
two calls (charter, then category) stay available (``calls="two"``). JSON mode, temperature 0.3.
Unlike the legacy agent it never fails open: a contribution whose replies could not be obtained
or parsed gets a pending verdict (``is_valid=None``) carrying the error. Rate-limit and quota errors
move to the next model of the list and park the limited model for a cool-down. Each checked answer
(charter or category) is cached on its own, by prompt kind and a hash of the exact prompt, whatever
model gave it: a re-run never sends a prompt that was already answered, even when the other prompt
of the same contribution failed. ``validate_many(..., check=guarded.check)`` stops sending requests once
the task's lock is lost: ``check`` runs before every request and its exception ends the batch
(requests in flight finish; their answers are cached, never written as the day's results).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..io_utils import atomic_write
from ..redaction import redact
from .model import (
    CATEGORIES,
    CATEGORY_DESCRIPTIONS,
    CHARTER,
    ENCOURAGED_ASPECTS,
    VIOLATION_KINDS,
    Contribution,
    Verdict,
    fold,
)

NAME = "llm"
#: Part of every cache key: bump it when the way replies are checked changes.
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


#: One prompt, one answer: the charter verdict and the category together.
VERDICT_SYSTEM = (
    CHARTER_SYSTEM.rsplit("Réponds UNIQUEMENT", 1)[0]
    + "Classe aussi la contribution dans une seule catégorie :\n"
    + "\n".join(f"- {cid} : {text}" for cid, text in CATEGORY_DESCRIPTIONS.items())
    + f"""

Réponds UNIQUEMENT par un objet JSON :
{{"is_valid": true|false,
  "violations": [liste parmi {", ".join(VIOLATION_KINDS)}; vide si is_valid est true],
  "encouraged_aspects": [liste parmi {", ".join(ENCOURAGED_ASPECTS)}],
  "category": "<un des identifiants de catégorie ci-dessus>",
  "reasoning": "une ou deux phrases en français",
  "confidence": nombre entre 0 et 1}}"""
)

#: ``calls`` values: one prompt (verdict + category) or the legacy pair (charter, then category).
CALL_MODES = ("one", "two")


class ReplyError(ValueError):
    """The model answered, but not with the JSON the prompt asked for."""


def _user_message(contribution: Contribution) -> str:
    given = (
        f"\nCatégorie proposée par le contributeur : {contribution.category}" if contribution.category else ""
    )
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
    return _checked_charter(_json_object(text))


def _checked_charter(reply: dict) -> dict:
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
        "encouraged_aspects": _kinds(
            reply.get("encouraged_aspects", []), ENCOURAGED_ASPECTS, "encouraged_aspects", strict=False
        ),
        "reasoning": reply["reasoning"].strip(),
        "confidence": _confidence(reply["confidence"]),
    }


def parse_category_reply(text: Any) -> str:
    return _checked_category(_json_object(text))


def parse_verdict_reply(text: Any) -> tuple[dict, str]:
    """The one-call answer: (charter verdict, category), each checked as its own prompt's answer is."""
    reply = _json_object(text)
    charter = _checked_charter(reply)
    return charter, _checked_category(reply)


def _checked_category(reply: dict) -> str:
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


class AnswerCache:
    """One JSON file per answered prompt (``{kind}-{hash}.json``): the reply text that passed the checks
    and the model that gave it. Written atomically, shared by every run on the same data dir; a failure
    is never cached, and a stored reply is checked again when read."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(kind: str, system: str, user: str) -> str:
        """Prompt kind + hash of the exact prompt (so a changed charter text is a new key); no model in it."""
        digest = hashlib.sha256(
            f"{PROMPT_VERSION}\x1f{system}\x1f{user}".encode("utf-8", "surrogatepass")
        ).hexdigest()
        return f"{kind}-{digest}"

    def get(self, key: str, parse) -> tuple[Any, str] | None:
        """(checked answer, model), or ``None`` when absent or unusable (then the prompt is sent)."""
        if self.folder is None:
            return None
        try:
            data = json.loads((self.folder / f"{key}.json").read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("model"), str):
                return None
            return parse(data.get("reply")), data["model"]
        except (OSError, ValueError):  # ReplyError is a ValueError
            return None

    def put(self, key: str, reply: str, model: str) -> None:
        if self.folder is None:
            return
        payload = json.dumps({"reply": reply, "model": model}, ensure_ascii=True)
        atomic_write(self.folder / f"{key}.json", payload.encode("ascii"))


def _litellm():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the price list at import
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


class LLMValidator:
    """Charter and category through litellm, with failover, bounded concurrency and an answer cache."""

    name = NAME

    def __init__(
        self,
        models: list[str],
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        concurrency: int = 4,
        timeout_seconds: float = 60.0,
        cooldown_seconds: float = 60.0,
        malformed_retries: int = 1,
        cache_dir: Path | None = None,
        calls: str = "one",
    ):
        if calls not in CALL_MODES:
            raise ValueError(f"OCAPISTAINE_LLM_CALLS={calls!r}: expected one of {', '.join(CALL_MODES)}")
        self.calls_mode = calls
        self.chain = ModelChain(models, cooldown_seconds)
        self.model = models[0]
        self.api_base = api_base
        self.api_key = api_key
        self.concurrency = concurrency
        self.timeout = timeout_seconds
        self.malformed_retries = malformed_retries
        self.cache = AnswerCache(cache_dir)
        self.calls = 0  # requests sent (for metadata, tests and the benchmark)
        self.prompt_tokens = 0  # as the provider's ``usage`` reports them
        self.completion_tokens = 0
        self._calls_lock = threading.Lock()
        self._litellm_module = None
        self._check: Callable[[], None] = _go_on

    @property
    def _litellm(self):
        """litellm, imported on the first request (a run whose days are all skipped never pays for it)."""
        if self._litellm_module is None:
            self._litellm_module = _litellm()
        return self._litellm_module

    # -- one request with failover -------------------------------------------------------------------
    def _redact(self, text: str) -> str:
        """Through the process's one redaction path: every secret it knows, plus this validator's key."""
        return redact(text, [self.api_key])

    def _is_rate_limit(self, error: BaseException) -> bool:
        return isinstance(error, self._litellm.RateLimitError) or bool(_RATE_LIMIT_TEXT.search(str(error)))

    def _ask(self, system: str, user: str, parse) -> tuple[Any, str, str]:
        """(parsed reply, model, reply text): tries each available model; a rate limit moves on to the
        next, any other error ends the attempt."""
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
                send = self._litellm.completion  # the first use imports litellm (seconds)
                self._check()  # the lock may be lost: raises, and no request goes out
                with self._calls_lock:
                    self.calls += 1
                try:
                    response = send(**kwargs)
                except Exception as error:  # noqa: BLE001 - classified below
                    if self._is_rate_limit(error):
                        self.chain.limited(model)
                        break  # next model
                    kind = "timeout" if isinstance(error, self._litellm.Timeout) else type(error).__name__
                    # redact before cutting: a key cut in two would escape the redaction
                    raise RuntimeError(f"{model}: {kind}: {self._redact(str(error))[:300]}") from None
                self._count_tokens(response)
                content = response.choices[0].message.content
                try:
                    return parse(content), model, content
                except ReplyError as error:
                    if attempt + 1 == attempts:
                        raise RuntimeError(
                            f"{model}: malformed reply after {attempts} attempt(s): {error}"
                        ) from None
        raise RuntimeError(
            "every model is rate-limited or over quota: "
            + (", ".join(tried) if tried else ", ".join(self.chain.models))
        )

    def _count_tokens(self, response) -> None:
        usage = getattr(response, "usage", None)
        prompt = getattr(usage, "prompt_tokens", None) or 0
        completion = getattr(usage, "completion_tokens", None) or 0
        with self._calls_lock:
            self.prompt_tokens += int(prompt)
            self.completion_tokens += int(completion)

    def _answer(self, kind: str, system: str, user: str, parse) -> tuple[Any, str]:
        """(checked answer, model) from the cache, else from the models (and then cached)."""
        key = self.cache.key(kind, system, user)
        cached = self.cache.get(key, parse)
        if cached is not None:
            return cached
        answer, model, reply = self._ask(system, user, parse)
        self.cache.put(key, reply, model)
        return answer, model

    def _judge(self, contribution: Contribution) -> Verdict:
        user = _user_message(contribution)
        try:
            if self.calls_mode == "one":
                (charter, category), model = self._answer(
                    "verdict", VERDICT_SYSTEM, user, parse_verdict_reply
                )
            else:
                charter, model = self._answer("charter", CHARTER_SYSTEM, user, parse_charter_reply)
                category, _ = self._answer("category", CATEGORY_SYSTEM, user, parse_category_reply)
        except RuntimeError as error:
            # Not judged: the category stays what the source said (maybe none), never a made-up one.
            return Verdict.pending_because(
                self._redact(str(error)), category=contribution.category, validator=f"{NAME}:{self.model}"
            )
        return Verdict(
            is_valid=charter["is_valid"],
            violations=charter["violations"],
            encouraged_aspects=charter["encouraged_aspects"],
            reasoning=charter["reasoning"],
            confidence=charter["confidence"],
            category=category,
            validator=f"{NAME}:{model}",
        )

    def validate_many(
        self, contributions: list[Contribution], check: Callable[[], None] | None = None
    ) -> list[Verdict]:
        """``check`` (the guard's ``guarded.check``) is asked before every request; what it raises ends
        the batch: the other workers send nothing more."""
        if not contributions:
            return []
        self._check = check or _go_on
        try:
            with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="llm") as pool:
                return list(pool.map(self._judge, contributions))
        finally:
            self._check = _go_on


def _go_on() -> None:
    """The default "should I go on" hook: always yes."""
