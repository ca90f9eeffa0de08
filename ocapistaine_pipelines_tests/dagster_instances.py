"""Dagster instances reused across tests and wiped between them, for a fast test loop.

A new ``instance_for_test`` costs 1-10 s here (alembic loads ~600 revision files to stamp four sqlite
storages) and a new ``DagsterInstance.ephemeral()`` ~0.5-1 s; most tests only need an EMPTY instance.
``wipe`` empties everything a test can leave behind, so a reused instance is as good as a new one:
runs, tags, snapshots, backfills, daemon heartbeats; event logs, asset keys, dynamic partitions,
concurrency; schedule and sensor states (their cursors) and ticks; and the key-value store
(``run_storage.set_cursor_values``, where the deadline alerts keep their streak).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.runs.schema import KeyValueStoreTable

_ephemeral: dg.DagsterInstance | None = None


def wipe(instance: dg.DagsterInstance) -> dg.DagsterInstance:
    """Empty ``instance`` of everything a test can store in it; returns it."""
    instance.wipe()  # run storage and event log storage
    if instance.schedule_storage is not None:  # an ephemeral instance has none
        instance.wipe_all_schedules()
    with instance.run_storage.connect() as conn:  # type: ignore[attr-defined]  (every SQL run storage)
        conn.execute(KeyValueStoreTable.delete())
    return instance


def ephemeral() -> dg.DagsterInstance:
    """An empty in-memory instance, like ``DagsterInstance.ephemeral()``: this process's one, wiped.

    Pass it as ``instance=`` to ``dg.materialize`` (which would otherwise build a new one per call).
    It is not closed by ``materialize``; it lives as long as the test process.
    """
    global _ephemeral
    if _ephemeral is None:
        _ephemeral = dg.DagsterInstance.ephemeral()
    return wipe(_ephemeral)
