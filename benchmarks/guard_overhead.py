"""What the task guard costs per run, next to one raw ``SET NX`` round trip on the same Redis.

Starts a private redis-server on a free port (stopped at the end), then measures, interleaved so
the machine's noise hits both alike:
- one raw ``SET key token NX EX 300`` through redis-py (the legacy lock, alone);
- one guarded run: server check (CONFIG GET) + claim + one renewal + complete, as run_guarded_days does;
- the legacy boilerplate: EXISTS success, SET NX, SET success EX, DEL lock.
Round trips are the commands redis-py sends (a Lua script is one, whatever it does inside).

    .venv/bin/python benchmarks/guard_overhead.py [--runs 2000]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocapistaine_pipelines import redis_scripts  # noqa: E402
from ocapistaine_pipelines.guard import TASK_FIRECRAWL, TaskGuard  # noqa: E402
from ocapistaine_pipelines.redis_connection import RedisResource  # noqa: E402
from ocapistaine_pipelines_tests.services import RedisServer  # noqa: E402


class RoundTrips:
    """Counts the commands redis-py sends (one round trip each; nothing here pipelines)."""

    count = 0

    @classmethod
    def install(cls) -> None:
        from redis.connection import AbstractConnection

        original = AbstractConnection.send_command

        def counted(self, *args, **kwargs):
            cls.count += 1
            return original(self, *args, **kwargs)

        AbstractConnection.send_command = counted


def raw_set_nx(client, i: int) -> None:
    client.set(f"bench:raw:{i}", "token", nx=True, ex=300)


def guarded_run(guard: TaskGuard, i: int) -> None:
    guard.server_warnings()
    day = guard.day(TASK_FIRECRAWL, "2026-03-15", f"run-{i}", force=True)
    assert day.claim()
    assert guard._script(redis_scripts.RENEW, [day.lock_key], [day.task_id, 300000]) == 1
    day._complete()


def legacy_run(client, i: int) -> None:
    client.exists("success:legacy:20260315")
    client.set("lock:legacy:20260315", f"run-{i}", nx=True, ex=300)
    client.set("success:legacy:20260315", "completed", ex=86400)
    client.delete("lock:legacy:20260315")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()

    server = RedisServer()
    try:
        resource = RedisResource(url=f"redis://127.0.0.1:{server.port}")
        guard = TaskGuard(redis=resource)
        client = resource.scheduler_client()
        admin = server.client()
        RoundTrips.install()
        for i in range(200):  # warm up connections and load the scripts
            raw_set_nx(client, i)
            guarded_run(guard, i)
            legacy_run(client, i)

        samples = {"raw": [], "guard": [], "legacy": []}
        calls = {"raw": 0, "guard": 0, "legacy": 0}
        cases = {
            "raw": lambda i: raw_set_nx(client, i),
            "guard": lambda i: guarded_run(guard, i),
            "legacy": lambda i: legacy_run(client, i),
        }
        for i in range(args.runs):
            for name, case in cases.items():
                before = RoundTrips.count
                started = time.perf_counter()
                case(i)
                samples[name].append(time.perf_counter() - started)
                calls[name] += RoundTrips.count - before

        raw = statistics.median(samples["raw"])
        print(
            f"runs: {args.runs} each, interleaved, "
            f"redis-server {admin.info('server')['redis_version']} on loopback"
        )
        print(f"{'case':<40} {'median':>10} {'p95':>10} {'round trips':>12} {'x raw SET NX':>13}")
        for name, label in (
            ("raw", "raw SET NX (one round trip)"),
            ("guard", "guard: check + claim + renew + complete"),
            ("legacy", "legacy: EXISTS + SET NX + SET + DEL"),
        ):
            median = statistics.median(samples[name])
            p95 = statistics.quantiles(samples[name], n=20)[-1]
            print(
                f"{label:<40} {median * 1e6:>8.0f}µs {p95 * 1e6:>8.0f}µs "
                f"{calls[name] / args.runs:>12.1f} {median / raw:>12.2f}x"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
