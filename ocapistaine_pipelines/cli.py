"""``ocapistaine-pipelines``: the operators' view of the Redis markers.

``status`` shows what the legacy ``get_task_history`` showed, ``rerun`` deletes a success key so the
next tick runs the day again, ``unlock`` deletes a stuck lock and says whose it was. The runbook with
``redis-cli -n 6`` keeps working: these commands only read and write the same keys.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import Optional, Sequence

from .guard.contract import TASK_NAMES, day_string, lock_key, success_key
from .partitions import PARIS


def _today() -> str:
    return dt.datetime.now(PARIS).strftime("%Y-%m-%d")


def _guard():
    from .guard.resource import TaskGuard
    from .redis_connection import redis_resource_from_env

    return TaskGuard(redis=redis_resource_from_env(dict(os.environ)))


def _format_ttl(ttl: Optional[int]) -> str:
    return "-" if ttl is None else f"{ttl}s"


def cmd_status(args) -> int:
    guard = _guard()
    rows = guard.history(args.date)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'task':<30} {'date':<9} {'completed':<10} {'running':<8} {'lock holder':<38} {'success ttl':>11} {'lock ttl':>9}")
    for row in rows:
        print(
            f"{row['task']:<30} {row['date']:<9} {str(row['completed']).lower():<10} {str(row['running']).lower():<8} "
            f"{row['lock_holder'] or '-':<38} {_format_ttl(row['success_ttl']):>11} {_format_ttl(row['lock_ttl']):>9}"
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


def _date(text: str) -> str:
    day_string(text)  # validates
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ocapistaine-pipelines", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="per task: completed, running, lock holder, TTLs")
    status.add_argument("--date", type=_date, default=_today(), help="YYYY-MM-DD (default: today, Europe/Paris)")
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
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
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
