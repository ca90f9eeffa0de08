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
