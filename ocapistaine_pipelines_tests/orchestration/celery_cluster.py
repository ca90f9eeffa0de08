"""A production layout on one machine, for tests and benchmarks: code server, webserver and daemon as
separate processes on a PostgreSQL instance (deploy/dagster-celery.yaml or deploy/dagster.yaml), and
Celery workers (``celery -A ocapistaine_pipelines.workers.app worker``), each in its own process group
and working folder, as on separate hosts. Stopping kills every group (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ocapistaine_pipelines_tests.services import GraphQLError, free_port, post_graphql, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def merge(base: dict, changes: Mapping[str, Any]) -> dict:
    """``base`` with ``changes`` merged in, key by key (nested mappings merged, the rest replaced)."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merge(out.get(key) or {}, value) if isinstance(value, Mapping) else value
    return out


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    cwd: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.kill(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        self.kill(signal.SIGKILL)  # children that outlived the leader
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Cluster:
    def __init__(
        self,
        postgres: Mapping[str, str],
        env: Mapping[str, str],
        *,
        instance_yaml: Path,
        instance_changes: Mapping[str, Any] | None = None,
        hostname: str = "test",
    ):
        self.base = Path(tempfile.mkdtemp(prefix="ocapistaine-cluster-"))
        self.home = self.base / "dagster_home"
        self.home.mkdir()
        config = merge(yaml.safe_load(Path(instance_yaml).read_text()), instance_changes or {})
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        self.grpc_port, self.web_port = free_port(), free_port()
        self.workspace = self.base / "workspace.yaml"
        self.workspace.write_text(
            yaml.safe_dump(
                {
                    "load_from": [
                        {
                            "grpc_server": {
                                "host": "127.0.0.1",
                                "port": self.grpc_port,
                                "location_name": "ocapistaine_pipelines",
                            }
                        }
                    ]
                }
            )
        )
        self.env = {**os.environ, **postgres, **env, "DAGSTER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        self.env.pop("DAGSTER_GRAPHQL_URL", None)
        self.hostname = hostname
        self.processes: dict[str, Process] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    # -- processes ----------------------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        cwd = self.base / name
        cwd.mkdir(exist_ok=True)
        log = self.base / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=str(cwd),
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self.processes[name] = Process(name, popen, log, cwd)
        return process

    def start_dagster(self) -> None:
        """Code server, webserver and daemon (the order of deploy/README.md); does not wait."""
        self.spawn(
            "code-server",
            [
                str(BIN / "dagster"),
                "code-server",
                "start",
                "-m",
                "ocapistaine_pipelines.definitions",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.grpc_port),
                "--location-name",
                "ocapistaine_pipelines",
            ],
        )
        self.spawn(
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                "-w",
                str(self.workspace),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.web_port),
            ],
        )
        self.spawn("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace)])

    def start_worker(
        self, name: str, queue: str = "dagster", env: Mapping[str, str] | None = None
    ) -> Process:
        return self.spawn(
            name,
            [
                str(BIN / "celery"),
                "-A",
                "ocapistaine_pipelines.workers.app",
                "worker",
                "-Q",
                queue,
                "-c",
                "1",
                "--prefetch-multiplier=1",
                "-n",
                f"{name}@{self.hostname}",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=INFO",
            ],
            env,
        )

    def worker_name(self, name: str) -> str:
        return f"{name}@{self.hostname}"

    def wait_ready(self, workers: tuple[str, ...] = (), timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        wait_for_port(self.grpc_port, timeout=timeout)
        reloads = 0
        while True:
            self._check_alive()
            try:
                entries = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    error = entries[0]["locationOrLoadError"]
                    if error["__typename"] != "PythonError":
                        break
                    # the webserver asked the code server before it had loaded the code: ask again
                    reloads += 1
                    if reloads > 20:
                        raise RuntimeError(f"the code location does not load: {error.get('message')}")
                    self.graphql(
                        "mutation { reloadRepositoryLocation(repositoryLocationName: "
                        '"ocapistaine_pipelines") { __typename } }'
                    )
            except (OSError, ValueError, KeyError, TypeError, GraphQLError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"webserver not ready:\n{self.tails()}")
            time.sleep(0.5)
        if workers:
            app = self.celery_app()
            wanted = {self.worker_name(w) for w in workers}
            while True:
                self._check_alive()
                answered = {name for reply in app.control.ping(timeout=1.0) for name in reply}
                if wanted <= answered:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers {sorted(wanted - answered)} not ready:\n{self.tails()}")

    def _check_alive(self) -> None:
        for process in self.processes.values():
            if not process.alive() and not getattr(process, "killed", False):
                raise RuntimeError(
                    f"{process.name} exited with {process.popen.returncode}:\n{process.tail()}"
                )

    def kill(self, name: str) -> None:
        """SIGKILL a whole process group: the worker's main process and its pool, as a host dying."""
        process = self.processes[name]
        process.killed = True
        process.kill(signal.SIGKILL)
        process.popen.wait(timeout=10)

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM to every group at once, SIGKILL to what is left after ``grace`` seconds."""
        for process in self.processes.values():
            if process.alive():
                process.kill(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.processes.values():
            process.kill(signal.SIGKILL)  # the leader if it is still there, and children that outlived it
            try:
                process.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def tails(self, lines: int = 25) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail(lines)}" for p in self.processes.values())

    # -- clients ------------------------------------------------------------------------------------------
    def celery_app(self):
        from celery import Celery

        return Celery(
            "probe", broker=self.env["CELERY_BROKER_URL"], backend=self.env["CELERY_RESULT_BACKEND"]
        )

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return post_graphql(self.url, query, variables)

    def client(self):
        from ocapistaine_pipelines.client import graphql_client

        return graphql_client(self.url)

    def instance(self):
        """A DagsterInstance on the cluster's storage, for reading runs and events (caller closes it)."""
        import dagster as dg

        saved = {k: os.environ.get(k) for k in self.env if k.startswith("DAGSTER_PG_")}
        os.environ.update({k: self.env[k] for k in saved})
        try:
            return dg.DagsterInstance.from_config(str(self.home))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def wait_for_runs(self, instance, run_ids, timeout: float = 120.0) -> dict[str, Any]:
        """``{run_id: DagsterRun}`` once every run is finished (TimeoutError with the logs otherwise)."""
        deadline = time.monotonic() + timeout
        while True:
            runs = {run_id: instance.get_run_by_id(run_id) for run_id in run_ids}
            if all(run is not None and run.status.value in TERMINAL for run in runs.values()):
                return runs
            if time.monotonic() > deadline:
                states = {k: (v.status.value if v else None) for k, v in runs.items()}
                raise TimeoutError(f"runs not finished after {timeout}s: {states}\n{self.tails()}")
            time.sleep(0.5)
