"""Requests sent after a lock loss, and time from the loss to the stop, for the LLM path and the crawl.

One private redis-server (no persistence) per scenario, the real LLMValidator (litellm) against a
loopback OpenAI-compatible server (0.25 s per answer, 4 in flight) and the real Firecrawl gateway
against the loopback Firecrawl (crawl jobs of 0.5 s, one per source). Three faults, injected about
2 s into the work:
- restart: redis-server restarted (every key lost: the loss is the restart);
- freeze: redis-server SIGSTOPped for TTL + 2 s (the lock expires during the freeze: the loss is the
  moment it can be claimed again, when Redis wakes up);
- partition: a proxy between the holder and Redis swallows every reply from then on, while other
  clients reach Redis (the loss is the lock's expiry, when another run can claim the day).
Each fault hits right after a renewal (the worst phase for noticing a wiped lock). Side by side:
- before: the guard as it was (renewal every TTL/3, a failed renewal retried only an interval later,
  lost only once a whole TTL passed) and the work checking the lock only before and after the batch
  (LLM) or between calls with that late flag (crawl);
- now: heartbeat every 2 s, retry within a second, lost after 2/3 of the TTL; the LLM validator and
  the gateway ask ``day.check`` before every request.
Timings are scaled: lock TTL 12 s instead of 300 s (so "before" renews every 4 s instead of 100 s,
and "now" declares the loss after 8 s instead of 200 s); the 2 s heartbeat is the real one.

    .venv/bin/python benchmarks/guard_faults.py [--ttl 12]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ocapistaine_pipelines.guard import (  # noqa: E402
    TASK_CONTRIBUTIONS_ANALYSIS,
    TASK_FIRECRAWL,
    TaskError,
    TaskGuard,
)
from ocapistaine_pipelines.redis_connection import RedisResource  # noqa: E402
from ocapistaine_pipelines_tests.proxies import BlackholeProxy  # noqa: E402
from ocapistaine_pipelines_tests.services import RedisServer  # noqa: E402

DAY = "2026-03-15"
FAULT_AFTER = 2.0


def make_guard(url: str, ttl: float, mode: str) -> TaskGuard:
    redis = RedisResource(url=url, socket_timeout_seconds=1.0, connect_timeout_seconds=1.0)
    if mode == "before":
        return TaskGuard(
            redis=redis, lock_ttl_seconds=ttl, renew_every_seconds=ttl / 3, lost_after_seconds=ttl
        )
    return TaskGuard(redis=redis, lock_ttl_seconds=ttl)


class Scenario:
    """One holder working one day while a fault hits Redis; every request timestamped."""

    def __init__(self, fault: str, mode: str, ttl: float, task: str):
        self.fault, self.mode, self.ttl, self.task = fault, mode, ttl, task
        self.server = RedisServer("--save", "")
        self.proxy = BlackholeProxy(self.server.port) if fault == "partition" else None
        port = self.proxy.port if self.proxy else self.server.port
        self.guard = make_guard(f"redis://127.0.0.1:{port}", ttl, mode)
        self.lock = f"lock:{task}:20260315"
        self.sent: list[float] = []
        self.costly: list[float] = []  # requests that cost money: LLM calls, Firecrawl job starts
        self.loss_at: float | None = None
        self.stopped_at: float | None = None
        self.started_at = 0.0

    def inject(self) -> None:
        time.sleep(FAULT_AFTER)
        # right after a renewal: the worst phase for noticing a wiped lock (a whole interval to wait)
        renewals = self.day.renewals
        while self.day.renewals == renewals:
            time.sleep(0.005)
        direct = self.server.client(6)
        if self.fault == "restart":
            self.server.restart()
            self.loss_at = time.monotonic()
        elif self.fault == "freeze":
            self.server.pause()
            time.sleep(self.ttl + 2)
            self.server.resume()
            self.loss_at = time.monotonic()  # the lock expired while frozen: claimable from now on
        else:
            left = direct.pttl(self.lock) / 1000
            self.proxy.cut()
            self.loss_at = time.monotonic() + left

    def run(self, work) -> dict:
        try:
            return self._measure(work)
        finally:
            self.close()  # the servers die with the scenario, whatever happened

    def _measure(self, work) -> dict:
        fault = threading.Thread(target=self.inject, daemon=True)
        self.started_at = time.monotonic()
        outcome = "finished"
        try:
            with self.guard.day(self.task, DAY, f"holder-{self.mode}") as day:
                self.day = day
                fault.start()
                try:
                    work(day)
                finally:
                    self.stopped_at = time.monotonic()  # the work's end, before the release
        except TaskError:
            outcome = "stopped"
        fault.join()
        after = [t for t in self.sent if t >= self.loss_at]
        result = {
            "fault": self.fault,
            "mode": self.mode,
            "outcome": outcome,
            "sent": len(self.sent),
            "after_loss": len(after),
            "stop_minus_loss": self.stopped_at - self.loss_at,
            "last_request_minus_loss": (max(after) - self.loss_at) if after else None,
            "costly_after_loss": len([t for t in self.costly if t >= self.loss_at]),
        }
        return result

    def close(self) -> None:
        if self.proxy:
            self.proxy.close()
        self.server.stop()


def llm_scenario(fault: str, mode: str, ttl: float) -> dict:
    from ocapistaine_pipelines.contributions.llm import LLMValidator
    from ocapistaine_pipelines.contributions.model import Contribution
    from ocapistaine_pipelines_tests.contributions.servers import FakeLLM

    scenario = Scenario(fault, mode, ttl, TASK_CONTRIBUTIONS_ANALYSIS)
    llm = FakeLLM()
    original = llm.handle

    def timed(*args):
        scenario.sent.append(time.monotonic())
        scenario.costly.append(scenario.sent[-1])
        time.sleep(0.25)
        return original(*args)

    llm.handle = timed
    count = int((ttl + FAULT_AFTER + 8) * 16)  # 4 in flight x 4 a second: outlasts every fault
    items = [
        Contribution.from_record(
            {
                "id": f"c{i}",
                "constat_factuel": f"La plage est sale (n°{i}).",
                "idees_ameliorations": "Plus de poubelles.",
            }
        )
        for i in range(count)
    ]
    validator = LLMValidator(
        ["openai/judge"], api_base=f"{llm.url}/v1", api_key="sk-bench", concurrency=4, timeout_seconds=10
    )

    def work(day):
        if mode == "before":  # the lock was checked around the batch only
            day.check()
            validator.validate_many(items)
            day.check()
        else:
            validator.validate_many(items, check=day.check)

    try:
        return scenario.run(work)
    finally:
        llm.stop()


def crawl_scenario(fault: str, mode: str, ttl: float) -> dict:
    from ocapistaine_pipelines.crawl.crawler import crawl_sources
    from ocapistaine_pipelines.crawl.gateway import CrawlInterrupted
    from ocapistaine_pipelines.crawl.resources import FirecrawlResource
    from ocapistaine_pipelines.crawl.sources import parse_sources
    from ocapistaine_pipelines_tests.crawl.fake_firecrawl import FakeFirecrawl, build_site

    scenario = Scenario(fault, mode, ttl, TASK_FIRECRAWL)
    fake = FakeFirecrawl(job_seconds=0.5)
    site = "https://www.audierne.bzh"
    count = int((ttl + FAULT_AFTER + 8) / 0.55) + 4
    entries = []
    for i in range(count):
        build_site(fake, site, 1, section=f"s{i}")
        entries.append({"name": f"s{i}", "url": f"{site}/s{i}/", "mode": "crawl"})
    sources = parse_sources(entries, "benchmark")
    settings = FirecrawlResource(api_url=fake.url, poll_interval_seconds=0.05, backoff_seconds=0.0)
    original_append = fake.requests.append

    class Timed(list):
        def append(self, item):
            scenario.sent.append(time.monotonic())
            if item[0] == "POST":  # a crawl job start (polls and result pages are free)
                scenario.costly.append(scenario.sent[-1])
            original_append(item)

    fake.requests = Timed(fake.requests)
    root = Path(tempfile.mkdtemp(prefix="guard-faults-crawl-"))

    def work(day):
        def check():
            try:
                day.check()
            except TaskError as error:
                raise CrawlInterrupted(error.message) from None

        try:
            night = crawl_sources(sources, settings.gateway(check=check), root, DAY)
        except CrawlInterrupted as error:  # as the asset does
            raise TaskError("failed", str(error)) from None
        if night.aborted:
            raise TaskError("failed", night.aborted)

    try:
        return scenario.run(work)
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttl", type=float, default=12.0, help="lock TTL in seconds (production: 300)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    import firecrawl  # noqa: F401 - imported before the clock starts, as in a warm run process

    from ocapistaine_pipelines.contributions.llm import _litellm

    _litellm()
    rows = []
    for path, scenario in (("LLM", llm_scenario), ("crawl", crawl_scenario)):
        for fault in ("restart", "freeze", "partition"):
            for mode in ("before", "now"):
                result = scenario(fault, mode, args.ttl)
                rows.append((path, result))
                print(f"  {path} {fault} {mode}: {result}", file=sys.stderr)
    print(
        f"guard faults: lock TTL {args.ttl:.0f} s (scaled from 300 s), "
        f"fault {FAULT_AFTER:.0f} s into the work"
    )
    print(
        "| path | fault | guard | paid requests after the loss | all requests after the loss | "
        "work stopped, s after the loss |"
    )
    print("|---|---|---|---|---|---|")
    for path, r in rows:
        print(
            f"| {path} | {r['fault']} | {r['mode']} | {r['costly_after_loss']} | "
            f"{r['after_loss']} of {r['sent']} | {r['stop_minus_loss']:+.1f} |"
        )
    print(
        "paid: LLM calls, Firecrawl job starts (status polls and result pages are free); "
        "a negative time: the work stopped before another run could claim the day"
    )


if __name__ == "__main__":
    main()
