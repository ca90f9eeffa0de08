"""The crawl stops starting jobs within seconds of a lost lock (Redis restarted without persistence)."""

from __future__ import annotations

import re
import threading
import time

import pytest

from ocapistaine_pipelines.crawl.assets import _crawl_status_key
from ocapistaine_pipelines.guard import TaskGuard
from ocapistaine_pipelines.redis_connection import RedisResource

from .conftest import SITE, failure, firecrawl_resource, materialize, write_sources
from .fake_firecrawl import build_site

DAY = "2026-03-01"


@pytest.mark.slow
def test_a_lost_lock_stops_the_crawl_from_starting_jobs(fake, data_dir, tmp_path, private_redis):
    fake.job_seconds = 0.6
    sources = []
    for i in range(10):
        build_site(fake, SITE, 2, section=f"s{i}")
        sources.append({"name": f"s{i}", "url": f"{SITE}/s{i}/"})
    redis = RedisResource(url=f"redis://127.0.0.1:{private_redis.port}")
    guard = TaskGuard(redis=redis)  # production settings: TTL 300 s, heartbeat 2 s
    resources = {
        "redis": redis,
        "guard": guard,
        "data_dir": data_dir,
        "firecrawl": firecrawl_resource(fake, write_sources(tmp_path, sources), poll_interval_seconds=0.05),
    }
    starts: list[float] = []
    loss: dict = {}

    def watch_and_restart():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not loss.get("done"):
            count = len(fake.calls("POST", "/v2/crawl"))
            starts.extend([time.monotonic()] * (count - len(starts)))
            if count >= 2 and "at" not in loss:
                private_redis.restart()  # every key gone
                loss.update(at=time.monotonic(), started=count)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch_and_restart)
    watcher.start()
    result = materialize(resources, DAY)
    time.sleep(0.1)
    loss["done"] = True
    watcher.join()

    assert not result.success
    description, _ = failure(result)
    assert "lost the lock" in description
    after = [t - loss["at"] for t in starts if t > loss["at"]]
    started_after = len(starts) - loss["started"]
    assert started_after <= 4, f"{started_after} crawl jobs started after the loss"
    assert not after or max(after) < guard.renew_interval + 1.5
    assert len(fake.calls("POST", "/v2/crawl")) < 10
    assert private_redis.client(6).keys("*") == []  # no success marker, no lock left
    # sources that ended before the loss was noticed wrote their status (Redis lost the older ones with
    # its restart); the interrupted one, if the loss came in the middle of one, and those never started
    # write nothing (another run owns the day now)
    names = [source["name"] for source in sources]
    written = [i for i, name in enumerate(names) if private_redis.client(5).exists(_crawl_status_key(name))]
    if written:  # one run of consecutive sources, in their order
        assert written == list(range(written[0], written[-1] + 1)), written
    interrupted = re.search(r"failed: (s\d+): lost the lock", description)
    if interrupted:  # else the loss was noticed between two sources
        assert all(i < names.index(interrupted.group(1)) for i in written), (written, description)
