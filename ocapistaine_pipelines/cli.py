"""``ocapistaine-pipelines``: the operators' view of the Redis markers.

``status`` shows what the legacy ``get_task_history`` showed (``--days N``: the last N days, with each
day's last run from Dagster when the webserver answers), ``rerun`` deletes a success key so the next
tick runs the day again, ``unlock`` deletes a stuck lock and says whose it was. The runbook with
``redis-cli -n 6`` keeps working: these commands only read and write the same keys. Tasks come from
their declarations (tasks.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence

from .guard.contract import TASK_NAMES, day_string, lock_key, success_key
from .partitions import PARIS

#: How long ``status --days`` waits for the Dagster webserver before showing Redis alone.
DAGSTER_TIMEOUT_SECONDS = 3


def _today() -> str:
    return dt.datetime.now(PARIS).strftime("%Y-%m-%d")


def _guard():
    from .guard.resource import TaskGuard
    from .redis_connection import redis_resource_from_env

    return TaskGuard(redis=redis_resource_from_env(dict(os.environ)))


def _format_ttl(ttl: int | None) -> str:
    return "-" if ttl is None else f"{ttl}s"


def _days(last: str, count: int) -> list[str]:
    """``count`` days ending with ``last`` (``YYYY-MM-DD``), newest first."""
    end = dt.date.fromisoformat(dt.datetime.strptime(day_string(last), "%Y%m%d").strftime("%Y-%m-%d"))
    return [(end - dt.timedelta(days=n)).isoformat() for n in range(count)]


_RUNS_QUERY = """
query OcapistaineRuns($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 500) {
    __typename
    ... on Runs { results { runId status creationTime tags { key value } } }
    ... on PythonError { message }
  }
}
"""


def last_runs(days: list[str], *, client=None) -> dict[tuple[str, str], dict]:
    """``{(task, day): {run_id, status, outcome}}``: the latest run of each task's job for each day.

    Asks the Dagster webserver (``DAGSTER_GRAPHQL_URL``...); raises ``DagsterUnavailable`` when it
    does not answer.
    """
    from .client import _graphql_call, graphql_client

    client = client or graphql_client(timeout=DAGSTER_TIMEOUT_SECONDS)
    wanted = set(days)
    since = dt.datetime.combine(dt.date.fromisoformat(min(days)), dt.time(), PARIS) - dt.timedelta(days=1)
    found: dict[tuple[str, str], dict] = {}
    for task in TASK_NAMES:
        data = _graphql_call(
            client,
            client._execute,
            _RUNS_QUERY,
            {"filter": {"pipelineName": task, "createdAfter": since.timestamp()}},
        )["runsOrError"]
        if data["__typename"] != "Runs":
            raise RuntimeError(f"Dagster could not list the runs: {data.get('message', data['__typename'])}")
        for run in sorted(data["results"], key=lambda r: r["creationTime"]):  # the latest wins
            tags = {t["key"]: t["value"] for t in run["tags"]}
            partition_key = tags.get("dagster/partition")
            if partition_key in wanted:
                found[(task, partition_key)] = {
                    "run_id": run["runId"],
                    "status": run["status"],
                    "outcome": tags.get("ocapistaine/status", ""),
                }
    return found


def _run_cell(run: dict | None) -> str:
    if run is None:
        return "-"
    outcome = f" {run['outcome']}" if run["outcome"] and run["outcome"] != run["status"].lower() else ""
    return f"{run['status'].lower()}{outcome} {run['run_id'][:8]}"


def cmd_status(args) -> int:
    guard = _guard()
    where = f"Redis {guard.redis.location(guard.redis.scheduler_db)} (task markers)"
    if args.days is None:
        rows = guard.history(args.date)
        if args.json:
            print(where, file=sys.stderr)
            print(json.dumps(rows, indent=2))
            return 0
        print(where)
        print(
            f"{'task':<30} {'date':<9} {'completed':<10} {'running':<8} {'lock holder':<38} "
            f"{'success ttl':>11} {'lock ttl':>9}"
        )
        for row in rows:
            print(
                f"{row['task']:<30} {row['date']:<9} {str(row['completed']).lower():<10} "
                f"{str(row['running']).lower():<8} "
                f"{row['lock_holder'] or '-':<38} {_format_ttl(row['success_ttl']):>11} "
                f"{_format_ttl(row['lock_ttl']):>9}"
            )
        return 0

    days = _days(args.date, args.days)
    rows = [row for partition_key in days for row in guard.history(partition_key)]
    from .client import DagsterUnavailable, graphql_url

    try:
        runs = last_runs(days)
        dagster = f"Dagster {graphql_url()} (last run of each task's job and day)"
    except DagsterUnavailable:
        runs = {}
        dagster = f"Dagster unreachable at {graphql_url()}: last runs not shown"
    for row in rows:
        row["last_run"] = runs.get((row["task"], f"{row['date'][:4]}-{row['date'][4:6]}-{row['date'][6:]}"))
    if args.json:
        print(where, file=sys.stderr)
        print(dagster, file=sys.stderr)
        print(json.dumps(rows, indent=2))
        return 0
    print(where)
    print(dagster)
    print("success keys expire after 24 h: for older days, the last run tells what happened")
    width = max(len(name) for name in TASK_NAMES)
    print(f"{'day':<10}  {'task':<{width}}  {'done':<4}  {'lock holder':<36}  last run")
    for row in rows:
        partition_key = f"{row['date'][:4]}-{row['date'][4:6]}-{row['date'][6:]}"
        print(
            f"{partition_key:<10}  {row['task']:<{width}}  {'yes' if row['completed'] else '-':<4}  "
            f"{row['lock_holder'] or '-':<36}  {_run_cell(row['last_run'])}"
        )
    return 0


def cmd_rerun(args) -> int:
    client = _guard().redis.scheduler_client()
    key = success_key(args.task, args.date)
    if client.delete(key):
        print(f"deleted {key}: the next run of {args.task} for {day_string(args.date)} does the work again")
    else:
        print(f"{key} was not set: nothing to re-run")
    return 0


def cmd_unlock(args) -> int:
    client = _guard().redis.scheduler_client()
    key = lock_key(args.task, args.date)
    holder = client.getdel(key)
    if holder is None:
        print(f"{key} was not set: nothing to unlock")
    else:
        print(f"deleted {key}, held by {holder}")
    return 0


def cmd_ping(args) -> int:
    guard = _guard()
    try:
        guard.redis.scheduler_client().ping()
    except Exception as error:  # noqa: BLE001 - report and exit non-zero
        print(guard.redis.unavailable(guard.redis.scheduler_db, error).description, file=sys.stderr)
        return 1
    print(f"Redis answers at {guard.redis.location(guard.redis.scheduler_db)}")
    return 0


def cmd_where(args) -> int:
    """Where the code would read and write, from the same environment: Redis (never the password), data."""
    from .settings import data_dir_resource_from_env

    redis = _guard().redis
    print(f"Redis   {redis.location(redis.scheduler_db)} (task markers), db {redis.app_db} (app data)")
    print(f"data    {data_dir_resource_from_env(dict(os.environ)).describe()}")
    return 0


def _date(text: str) -> str:
    day_string(text)  # validates
    return text


def _day_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= 366:
        raise argparse.ArgumentTypeError(f"--days takes a number of days from 1 to 366, not {text!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocapistaine-pipelines", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="per task: completed, running, lock holder, TTLs")
    status.add_argument(
        "--date", type=_date, default=_today(), help="YYYY-MM-DD (default: today, Europe/Paris)"
    )
    status.add_argument(
        "--days", type=_day_count, metavar="N", help="the N days ending with --date, with each day's last run"
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=cmd_status)

    for name, func, text in (
        ("rerun", cmd_rerun, "delete the success key so the day runs again"),
        ("unlock", cmd_unlock, "delete a stuck lock and say whose it was"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("task", choices=TASK_NAMES)
        command.add_argument("--date", type=_date, required=True, help="YYYY-MM-DD")
        command.set_defaults(func=func)

    ping = sub.add_parser("ping", help="exit 0 when Redis answers")
    ping.set_defaults(func=cmd_ping)
    where = sub.add_parser("where", help="the Redis endpoint and dbs, and the data folder, used here")
    where.set_defaults(func=cmd_where)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as error:  # noqa: BLE001 - one clear line, no traceback, no secret
        from .redis_connection import RedisUnavailable

        if isinstance(error, RedisUnavailable):
            print(error.description, file=sys.stderr)
        else:
            print(f"error: {type(error).__name__}: {_guard().redis.redact(str(error))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
