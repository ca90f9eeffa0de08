"""The daily partitions every task uses: one partition per day in Europe/Paris.

``end_offset=1`` makes today's partition available during the day, as the legacy scheduler worked
on the current day; the partition key (``YYYY-MM-DD``) gives the Redis date (``YYYYMMDD``), never a
worker's clock.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

TIMEZONE = "Europe/Paris"
PARIS = ZoneInfo(TIMEZONE)
FIRST_DAY = "2026-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone=TIMEZONE, end_offset=1)


def partition_key_for(moment: dt.datetime) -> str:
    """The partition (``YYYY-MM-DD``) that contains ``moment``, read in Europe/Paris."""
    if moment.tzinfo is None:
        raise ValueError("partition_key_for needs an aware datetime")
    return moment.astimezone(PARIS).strftime("%Y-%m-%d")


def days_of_check_run(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> list[str]:
    """The days an (unpartitioned) asset check covers: the run's partition or range, else the asset's
    latest materialized day.

    Our checks are unpartitioned (partitioned checks are a preview feature in Dagster 1.13 and warn on
    every load of the code location), so the days come from the run's tags, as Dagster sets them for a
    partition or a single-run backfill.
    """
    tags = context.run.tags
    if tags.get("dagster/partition"):
        return [tags["dagster/partition"]]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    if start and end:
        return list(daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(start, end)))
    event = context.instance.get_latest_materialization_event(asset_key)
    partition = event.asset_materialization.partition if event and event.asset_materialization else None
    return [partition] if partition else []
