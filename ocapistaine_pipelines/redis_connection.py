"""The Redis connection shared by the task guard and the application-data writers.

Scheduler markers (locks, success keys) live in one db and application data in another, whatever
db the URL names, as the legacy deployment had them. Timeouts and retries are set deliberately:
redis-py's defaults retry ten times and wait 5 s per socket operation, so a Redis that is down would
take minutes to be noticed. With these defaults (3 attempts of at most 3 s; no health-check PING,
which would retry on its own) a dead or frozen server is reported in about 10 s.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import dagster as dg
from pydantic import PrivateAttr

from .io_utils import redact
from .settings import env_number

DEFAULT_REDIS_URL = "redis://localhost:6379"
#: The legacy deployment's dbs: scheduler markers (locks, success keys) and application data.
SCHEDULER_DB = 6
APP_DB = 5


class RedisUnavailable(dg.Failure):
    """Redis could not be reached: the run fails closed before doing any work."""


class RedisResource(dg.ConfigurableResource):
    """Connection settings for OCapistaine's Redis (``REDIS_URL`` or the legacy host/port/password)."""

    url: str | None = None
    host: str = "localhost"
    port: int = 6379
    password: str | None = None
    scheduler_db: int = SCHEDULER_DB
    app_db: int = APP_DB
    connect_timeout_seconds: float = 2.0
    socket_timeout_seconds: float = 3.0
    retries: int = 2

    _clients: dict = PrivateAttr(default_factory=dict)
    _scripts: dict = PrivateAttr(default_factory=dict)

    # -- where we connect, without the secret -------------------------------------------------------
    def _parts(self) -> tuple[str, str, int]:
        if self.url:
            parts = urlsplit(self.url)
            return parts.scheme or "redis", parts.hostname or "localhost", parts.port or 6379
        return "redis", self.host, self.port

    def endpoint(self) -> tuple[str, int]:
        """Host and port this resource connects to (scripts/dev reads them to start a private Redis)."""
        _, host, port = self._parts()
        return host, port

    def location(self, db: int) -> str:
        """``host:port db N``: safe to log, never carries the password."""
        scheme, host, port = self._parts()
        tls = " (TLS)" if scheme == "rediss" else ""
        return f"{host}:{port} db {db}{tls}"

    def redact(self, text: str) -> str:
        """Remove every secret this resource knows from a message (also in percent-decoded form)."""
        secrets = [self.url, self.password]
        if self.url:
            secrets.append(urlsplit(self.url).password)
        return redact(text, secrets)

    # -- clients ------------------------------------------------------------------------------------
    def client(self, db: int, *, retries: int | None = None):
        """A cached ``redis.Redis`` on ``db`` (thread-safe: it holds a connection pool).

        ``retries=0`` gives a client that never resends a command: the guard completes a day with
        it, so that an answer it did not see can be told apart from one that another run caused.
        """
        retries = self.retries if retries is None else retries
        cached = self._clients.get((db, retries))
        if cached is not None:
            return cached
        import redis
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        options = dict(
            db=db,
            decode_responses=True,
            socket_connect_timeout=self.connect_timeout_seconds,
            socket_timeout=self.socket_timeout_seconds,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
        if self.url:
            client = redis.Redis.from_url(_without_db(self.url), **options)
        else:
            client = redis.Redis(host=self.host, port=self.port, password=self.password, **options)
        self._clients[(db, retries)] = client
        return client

    def scheduler_client(self):
        return self.client(self.scheduler_db)

    def app_client(self):
        return self.client(self.app_db)

    @contextlib.contextmanager
    def failing_closed(self, db: int) -> Iterator[None]:
        """Redis calls inside fail the run as ``unavailable`` (host, port, db; no password) when the
        server cannot be reached or does not answer in time. Other errors pass unchanged."""
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as error:
            raise self.unavailable(db, error) from None

    def run_script(
        self, db: int, source: str, *, keys: list[str], args: list[Any], retries: int | None = None
    ) -> Any:
        """Run one of ``redis_scripts``' Lua sources on ``db`` by SHA (EVALSHA; redis-py loads it once
        when the server does not know it, e.g. after a restart), failing closed like ``failing_closed``."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.client(db).register_script(source)
        with self.failing_closed(db):
            return script(keys=keys, args=args, client=self.client(db, retries=retries))

    def unavailable(self, db: int, error: BaseException) -> RedisUnavailable:
        """A failure naming host, port and db (and the cause), never the password."""
        cause = self.redact(f"{type(error).__name__}: {error}")
        return RedisUnavailable(
            description=f"Redis unreachable at {self.location(db)}: {cause}",
            metadata={"redis": self.location(db)},
        )

    def teardown_after_execution(self, context) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


def _without_db(url: str) -> str:
    """The URL without the db it names: redis-py lets the URL's db win over ``db=``, we want ours.
    (A ``unix://`` URL keeps its path: there it is the socket.)"""
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "db"])
    if parts.scheme == "unix":
        return url.split("?", 1)[0] + (f"?{query}" if query else "")
    return urlunsplit(parts._replace(path="", query=query))


def redis_resource_from_env(environ: Mapping[str, str] | None = None) -> RedisResource:
    """``REDIS_URL`` first, else the legacy ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD``.

    Secrets go through ``dg.EnvVar`` so the Dagster UI shows the variable's name, not its value.
    """
    env = os.environ if environ is None else environ
    kwargs: dict = {
        "scheduler_db": env_number(env, "REDIS_DB_SCHEDULER", SCHEDULER_DB, integer=True),
        "app_db": env_number(env, "REDIS_DB", APP_DB, integer=True),
    }
    if env.get("REDIS_URL"):
        kwargs["url"] = dg.EnvVar("REDIS_URL") if environ is None else env["REDIS_URL"]
    elif env.get("REDIS_HOST") or env.get("REDIS_PORT") or env.get("REDIS_PASSWORD"):
        kwargs["host"] = env.get("REDIS_HOST", "localhost")
        kwargs["port"] = env_number(env, "REDIS_PORT", 6379, integer=True, positive=True)
        if env.get("REDIS_PASSWORD"):
            kwargs["password"] = dg.EnvVar("REDIS_PASSWORD") if environ is None else env["REDIS_PASSWORD"]
    else:
        kwargs["url"] = DEFAULT_REDIS_URL
    return RedisResource(**kwargs)
