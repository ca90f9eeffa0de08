"""Private services for the tests: a real redis-server on a free port, started and stopped here."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


class GraphQLError(RuntimeError):
    """The Dagster webserver answered a GraphQL query with errors."""


def post_graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """``data`` of one query to the GraphQL API of the Dagster webserver at ``url`` (as the UI asks it)."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        payload = json.loads(answer.read())
    if payload.get("errors"):
        raise GraphQLError(f"GraphQL errors: {payload['errors']}")
    return payload["data"]


class RedisServer:
    """A redis-server process of our own: killable, pausable, configurable per test."""

    def __init__(self, *extra_args: str, port: int | None = None, password: str | None = None):
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed (scripts/test installs it with apt-get)")
        self.port = port or free_port()
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="ocapistaine-redis-")
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            # RDB save points in the temp dir, as a production server should have (the guard warns
            # without persistence); a test that wants none passes "--save", "" (later args win).
            "--save",
            "3600 1",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--maxmemory-policy",
            "noeviction",
            "--enable-debug-command",
            "local",
            "--logfile",
            str(Path(self.dir) / "redis.log"),
        ]
        if password:
            args += ["--requirepass", password]
        args += list(extra_args)
        self._args = args
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            raise

    def restart(self) -> None:
        """Stop and start again on the same port and folder: keys survive only with persistence."""
        self._terminate()
        self._start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}"

    def client(self, db: int = 0):
        import redis

        return redis.Redis(
            host="127.0.0.1", port=self.port, db=db, password=self.password, decode_responses=True
        )

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        self._terminate()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _terminate(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class S3Server:
    """moto's S3-compatible server (``moto[server]``) on a free port, started and stopped here.

    ``env`` points the AWS SDK (botocore, s3fs) at it the way production points it at MinIO or AWS:
    the standard ``AWS_*`` variables. Its buckets live in memory and die with the process."""

    ACCESS_KEY = "ocapistaine-test-key"
    SECRET_KEY = "ocapistaine-test-secret-9d41c7"

    def __init__(self):
        import sys

        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            raise RuntimeError("moto_server is not installed (the test extra pins moto[server])")
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            # nothing from the machine's ~/.aws
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def filesystem(self):
        """An s3fs filesystem on this server with explicit settings (independent of the environment)."""
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.url,
            key=self.ACCESS_KEY,
            secret=self.SECRET_KEY,
            use_listings_cache=False,
            skip_instance_cache=True,
        )

    def create_bucket(self, name: str) -> str:
        self.filesystem().mkdir(name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Every object under ``bucket/prefix``: key (relative to the prefix) -> size."""
        fs = self.filesystem()
        base = f"{bucket}/{prefix}".rstrip("/")
        found = fs.find(base, detail=True)
        return {name[len(base) + 1 :]: info["size"] for name, info in found.items()}

    def read(self, bucket: str, key: str) -> bytes:
        return self.filesystem().cat_file(f"{bucket}/{key}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
