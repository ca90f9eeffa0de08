"""A real ``dagster dev`` (webserver + daemon) for end-to-end tests and benchmarks.

It runs in its own process group with a private DAGSTER_HOME (deploy/dagster-dev.yaml), so stopping
it (SIGTERM to the group, then SIGKILL) also stops the code server, the daemon and any run worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from ocapistaine_pipelines_tests.services import free_port, post_graphql

ROOT = Path(__file__).resolve().parents[2]
DAGSTER = ROOT / ".venv" / "bin" / "dagster"
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


class DagsterDev:
    def __init__(self, workspace: Path, env: Mapping[str, str], instance_yaml: Path | None = None):
        self.workspace = Path(workspace)
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="ocapistaine-dagster-home-"))
        shutil.copy(instance_yaml or ROOT / "deploy" / "dagster-dev.yaml", self.home / "dagster.yaml")
        self.log_path = self.home / "dagster-dev.log"
        self.env = {**os.environ, **env, "DAGSTER_HOME": str(self.home), "PYTHONUNBUFFERED": "1"}
        self.env.pop("DAGSTER_GRAPHQL_URL", None)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- life cycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> DagsterDev:
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(DAGSTER), "dev", "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.port)],
            cwd=str(ROOT),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            self._wait_until_loaded(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_loaded(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=2) as answer:
                    answer.read()
                statuses = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )["workspaceOrError"]["locationEntries"]
                if statuses and all(entry["loadStatus"] == "LOADED" for entry in statuses):
                    errors = [e for e in statuses if e["locationOrLoadError"]["__typename"] == "PythonError"]
                    if errors:
                        raise RuntimeError(
                            f"the code location did not load: {errors[0]['locationOrLoadError']['message']}"
                        )
                    return
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise TimeoutError(f"dagster dev not ready after {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        # run workers and code servers of the group that outlived the parent
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # -- GraphQL -------------------------------------------------------------------------------
    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return post_graphql(self.url, query, variables)

    def run(self, run_id: str) -> dict:
        data = self.graphql(
            "query R($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status jobName tags { key "
            "value } startTime endTime } } }",
            {"id": run_id},
        )["runOrError"]
        return {
            "status": data["status"],
            "tags": {t["key"]: t["value"] for t in data["tags"]},
            "start": data["startTime"],
            "end": data["endTime"],
            "job": data["jobName"],
        }

    def wait_for_run(self, run_id: str, timeout: float = 90.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run["status"] in TERMINAL:
                return run
            time.sleep(0.25)
        raise TimeoutError(
            f"run {run_id} not finished after {timeout}s (status {run['status']}):\n{self.log_tail()}"
        )

    def __enter__(self) -> DagsterDev:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()


BACKFILL_MUTATION = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
    ... on UnauthorizedError { message }
  }
}
"""
BACKFILL_QUERY = """
query B($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions runs { id status jobName runConfigYaml tags { key value }
    } }
  }
}
"""


def launch_backfill(dev: DagsterDev, days: list[str], run_config: dict | None = None) -> str:
    """What the UI's "Materialize selected" on a partition range sends."""
    params = {
        "partitionNames": days,
        "assetSelection": [{"path": ["contributions"]}, {"path": ["contributions_analysis"]}],
        "fromFailure": False,
        "title": "month of contributions",
    }
    if run_config:
        params["runConfigData"] = run_config
    answer = dev.graphql(BACKFILL_MUTATION, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill refused: {answer}")
    return answer["backfillId"]


def launch_job_backfill(dev: DagsterDev, job: str, days: list[str], assets: list[str]) -> str:
    """What the UI sends from a job's Partitions tab ("Launch backfill"): the job's partition set and
    its assets (the launch dialog's asset selection), the chosen days."""
    params = {
        "selector": {
            "partitionSetName": f"{job}_partition_set",
            "repositorySelector": {
                "repositoryLocationName": "ocapistaine_pipelines",
                "repositoryName": "__repository__",
            },
        },
        "assetSelection": [{"path": [key]} for key in assets],
        "partitionNames": days,
        "fromFailure": False,
        "tags": [],
    }
    answer = dev.graphql(BACKFILL_MUTATION, {"params": params})["launchPartitionBackfill"]
    if answer["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"backfill refused: {answer}")
    return answer["backfillId"]


def wait_for_backfill_run(
    dev: DagsterDev, backfill_id: str, timeout: float = 120.0, expected_runs: int | None = None
) -> dict:
    """Until the backfill's runs have finished (the daemon marks the backfill done on its next 30 s pass)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        backfill = dev.graphql(BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["status"] in ("FAILED", "CANCELED", "COMPLETED_FAILED"):
            raise AssertionError(f"backfill {backfill_id} ended {backfill['status']}:\n{dev.log_tail()}")
        done = backfill["runs"] and all(
            run["status"] in ("SUCCESS", "FAILURE", "CANCELED") for run in backfill["runs"]
        )
        if done and len(backfill["runs"]) >= (expected_runs or 1):
            return backfill
        time.sleep(0.5)
    raise TimeoutError(f"backfill {backfill_id} not done after {timeout}s:\n{dev.log_tail()}")
