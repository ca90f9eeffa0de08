"""The one redaction path of the process: every text that leaves it (errors stored in parquet and Redis,
Dagster metadata and logs, alerts, CLI output) goes through ``redact`` or ``safe_text``.

Why one place: a gateway that echoes the key it received in its 401 puts *that* key in our error,
whichever provider it is; a list of known names per call site always misses one. So the secrets are
found where they live, the environment, by the shape of the variable's name (``SECRET_NAME``: names
ending in ``_KEY``, ``_TOKEN``, ``_SECRET``, ``_PASSWORD``..., which covers every variable litellm,
opik, firecrawl and this project read for a credential), plus:

- the URL variables (``URL_VARIABLES`` and any variable whose value is a URL): their credentials
  (``user:password@``), query string and fragment are secret; for webhooks (``WEBHOOK_VARIABLES``: an
  n8n webhook's path is its secret) the path too;
- values handed to a resource explicitly (tests, code) through ``register_secret``;
- any ``scheme://user:password@`` in any text, known or not.

Each secret is also replaced in its percent-encoded, percent-decoded and JSON-escaped forms. Values
shorter than ``MIN_SECRET_CHARS`` found in the environment are left alone (a ``FOO_KEY=1`` would
otherwise turn every ``1`` into ``***``); a value registered explicitly is always redacted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MASK = "***"
MIN_SECRET_CHARS = 6
#: Names of variables holding a credential, whatever library reads them.
SECRET_NAME = re.compile(
    r"(?:^|_)(?:[A-Z0-9]*KEY|[A-Z0-9]*TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIALS?|AUTH)$"
    r"|SECRET|PASSWORD|^PGPASSWORD$",
    re.I,
)
#: URL-valued variables that may carry a credential in their user part or query string.
URL_VARIABLES = (
    "REDIS_URL",
    "OCAPISTAINE_LLM_API_BASE",
    "OCAPISTAINE_CONTRIBUTIONS_SOURCE",
    "OCAPISTAINE_ALERT_WEBHOOK",
    "OCAPISTAINE_GITHUB_API_URL",
    "FIRECRAWL_API_URL",
    "OPIK_URL_OVERRIDE",
    "DAGSTER_POSTGRES_URL",
)
#: URL variables whose path is itself the secret (n8n webhooks, in n8n's default set-up).
WEBHOOK_VARIABLES = ("OCAPISTAINE_CONTRIBUTIONS_SOURCE", "OCAPISTAINE_ALERT_WEBHOOK")
_URL_VALUE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)
_URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/\s@:]*(?::[^/\s@]*)?)@", re.I)

_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str | None, *, url: bool = False, webhook: bool = False) -> None:
    """Redact ``value`` from every output of this process from now on (a key or URL given in code,
    not through the environment). ``url``/``webhook``: also its credentials, query (and path)."""
    if not value or not isinstance(value, str):
        return
    parts = _url_secrets(value, webhook=webhook) if (url or webhook or _URL_VALUE.match(value)) else [value]
    with _registered_lock:
        _registered.update(p for p in parts if p)


def _url_secrets(value: str, *, webhook: bool) -> list[str]:
    """The secret parts of a URL: the whole value, its credentials, query and fragment; the path of a
    webhook. The bare ``scheme://host:port`` is not secret (it is what we show instead)."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return [value]
    secrets = [parts.password or "", parts.query, parts.fragment]
    if parts.username and not parts.password:
        secrets.append(parts.username)  # https://TOKEN@host carries the token as the user
    if webhook and parts.path.strip("/"):
        secrets.append(parts.path)
        secrets.append(parts.path.lstrip("/"))
    if secrets != ["", "", ""] or webhook:
        secrets.append(value.strip())  # the whole URL, replaced before its parts
    return secrets


def _environment_secrets(environ: Mapping[str, str]) -> list[str]:
    found: list[str] = []
    for name, value in environ.items():
        if not value:
            continue
        webhook = name in WEBHOOK_VARIABLES or "WEBHOOK" in name.upper()
        if name in URL_VARIABLES or webhook or _URL_VALUE.match(value.strip()):
            found += [s for s in _url_secrets(value, webhook=webhook) if len(s) >= MIN_SECRET_CHARS]
            if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_CHARS:
                found.append(value)
        elif SECRET_NAME.search(name) and len(value.strip()) >= MIN_SECRET_CHARS:
            found += [value, value.strip()]
    return found


_cache: dict[str, Any] = {"environ": None, "registered": None, "values": []}


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret this process knows, longest first (so a key is never half-replaced by a shorter one).

    Read again whenever the environment or the registered values change (tests and the sensor set
    variables at run time); otherwise the last answer is reused."""
    env = dict(os.environ if environ is None else environ)
    with _registered_lock:
        registered = frozenset(_registered)
    if env == _cache["environ"] and registered == _cache["registered"]:
        return _cache["values"]
    values = set(_environment_secrets(env)) | set(registered)
    ordered = sorted((v for v in values if v), key=len, reverse=True)
    _cache.update(environ=env, registered=registered, values=ordered)
    return ordered


def _forms(secret: str) -> list[str]:
    forms = [
        secret,
        quote(secret, safe=""),
        quote(secret),
        unquote(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    ]
    return [f for f in dict.fromkeys(forms) if f]


def redact(text: Any, extra: Iterable[str | None] = (), environ: Mapping[str, str] | None = None) -> str:
    """``text`` (made a string) with every secret of the process (and ``extra``) replaced by ``***``,
    and the credentials of any URL in it removed."""
    text = text if isinstance(text, str) else str(text)
    secrets = [s for s in extra if s] + secret_values(environ)
    for secret in sorted(dict.fromkeys(secrets), key=len, reverse=True):
        for form in _forms(secret):
            if form in text:
                text = text.replace(form, MASK)
    return _URL_USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def clip(text: str, limit: int, *, whole: str | None = None) -> str:
    """At most about ``limit`` characters: a prefix, then how much was cut and a hash of the whole, so
    two different long values stay distinguishable and the original can be found in the source.
    ``whole``: the original value when ``text`` is already a (redacted) part of it."""
    whole = text if whole is None else whole
    if len(text) <= limit and whole is text:
        return text
    digest = hashlib.sha256(whole.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{text[: max(0, limit)]}… [{len(whole):,} chars, sha256 {digest}]"


def printable(text: str) -> str:
    """``text`` without lone surrogates (they cannot be encoded: parquet, Redis and logs would fail)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogate(text) else text


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def safe_text(value: Any, limit: int = 500, extra: Iterable[str | None] = ()) -> str:
    """Any value as text fit for an output: encodable, redacted, then clipped (redacting first: a key
    cut in two would escape the redaction). A huge value is never scanned whole: only the part that
    can be shown (plus the longest secret, so none is cut at the edge) is redacted."""
    try:
        text = value if isinstance(value, str) else repr(value)
    except ValueError:  # an integer of more than 4,300 digits
        text = f"<integer of {value.bit_length()} bits>"
    text = printable(text)
    extra = [e for e in extra if e]
    margin = max((len(s) for s in secret_values() + extra), default=0) * 6  # the escaped forms are longer
    if len(text) <= limit:
        return redact(text, extra)
    part = redact(text[: limit + margin + 1], extra)
    return clip(part, limit, whole=text)


def show_url(url: str) -> str:
    """Scheme, host and port only: what may be shown of a URL whose path is a secret (webhooks)."""
    try:
        parts = urlsplit(url.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


_installed = {"done": False}


def install_log_redaction() -> None:
    """Redact every log record of the process when it is made (``logging.setLogRecordFactory``): the
    message with its arguments, and the exception text. Libraries log URLs and answers too (urllib3 at
    DEBUG prints each request's path, a webhook's secret; SDKs log the errors they got), and no list of
    their loggers stays complete; the record factory sees them all. Installed once, on package import."""
    if _installed["done"]:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                clean_text = redact(text)
                if clean_text != text:
                    record.exc_text = clean_text
        except Exception:  # noqa: BLE001 - a log line must never fail because of its redaction
            pass
        return record

    logging.setLogRecordFactory(factory)
    _installed["done"] = True
