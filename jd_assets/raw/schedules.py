"""Schedules of the raw assets, in Beijing time: orders daily with a lookback, comments daily (one run
for every SKU, see ``refresh.py``), details and wares weekly (details are billed per task and change
slowly)."""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg

from jd_assets.partitions import BEIJING_TZ, jd_item_partitions, jd_ware_partitions
from jd_assets.raw.refresh import raw_comments_refresh_job

DEFAULT_ORDERS_LOOKBACK_DAYS = 7

raw_orders_job = dg.define_asset_job(
    "raw_orders_job", selection=["raw_orders", "raw_order_tracks"], description="Orders and tracks of a day."
)
raw_comments_job = dg.define_asset_job(
    "raw_comments_job", selection=["raw_comments"], description="One SKU's comments (with their checks)."
)
raw_item_details_job = dg.define_asset_job(
    "raw_item_details_job", selection=["raw_item_details"], description="One SKU's product details."
)
raw_wares_job = dg.define_asset_job(
    "raw_wares_job", selection=["raw_wares"], description="One ware's seller metadata."
)


def orders_lookback_days() -> int:
    return int(os.environ.get("JD_ORDERS_LOOKBACK_DAYS", DEFAULT_ORDERS_LOOKBACK_DAYS))


def lookback_partition_keys(today: date, lookback_days: int) -> list[str]:
    """The ``lookback_days`` complete days before ``today``, newest first: states change after creation."""
    return [(today - timedelta(days=n)).isoformat() for n in range(1, lookback_days + 1)]


@dg.schedule(
    job=raw_orders_job,
    cron_schedule="30 2 * * *",
    execution_timezone=BEIJING_TZ,
    description=(
        "02:30 Beijing: re-lands the last JD_ORDERS_LOOKBACK_DAYS (default 7) days of orders and tracks, "
        "one run per day, so order-state changes after creation are picked up."
    ),
    tags={"domain": "orders"},
)
def orders_daily_schedule(context: dg.ScheduleEvaluationContext):
    """Re-materializes the last JD_ORDERS_LOOKBACK_DAYS (default 7) days of orders every night."""
    today = context.scheduled_execution_time.date()
    for key in lookback_partition_keys(today, orders_lookback_days()):
        yield dg.RunRequest(run_key=f"orders-{today}-{key}", partition_key=key)


def _every_key(context, partitions: dg.DynamicPartitionsDefinition, label: str):
    tick = context.scheduled_execution_time.date().isoformat()
    keys = context.instance.get_dynamic_partitions(partitions.name)
    if not keys:
        return dg.SkipReason(f"no {partitions.name} partitions yet")
    return [dg.RunRequest(run_key=f"{label}-{tick}-{key}", partition_key=key) for key in keys]


@dg.schedule(
    job=raw_comments_refresh_job,
    cron_schedule="0 4 * * *",
    execution_timezone=BEIJING_TZ,
    description=(
        "04:00 Beijing: refreshes the comments of every jd_item SKU in one run (incremental: each SKU stops "
        "at its high-water mark), each SKU recorded as its own raw_comments partition, then its checks."
    ),
    tags={"domain": "reviews"},
)
def comments_daily_schedule(context: dg.ScheduleEvaluationContext):
    """Refreshes the comments of every jd_item SKU daily, in one run (incremental: stops at the mark)."""
    tick = context.scheduled_execution_time.date().isoformat()
    if not context.instance.get_dynamic_partitions(jd_item_partitions.name):
        return dg.SkipReason(f"no {jd_item_partitions.name} partitions yet")
    return dg.RunRequest(run_key=f"comments-{tick}")


@dg.schedule(
    job=raw_item_details_job,
    cron_schedule="0 5 * * 1",
    execution_timezone=BEIJING_TZ,
    description="Mondays 05:00 Beijing: product details of every jd_item SKU (billed per call; slow-moving).",
    tags={"domain": "catalog"},
)
def details_weekly_schedule(context: dg.ScheduleEvaluationContext):
    """Refreshes product details weekly: each call is billed, and titles and prices move slowly."""
    return _every_key(context, jd_item_partitions, "details")


@dg.schedule(
    job=raw_wares_job,
    cron_schedule="0 6 * * 1",
    execution_timezone=BEIJING_TZ,
    description="Mondays 06:00 Beijing: seller ware metadata (status, brand, images) of every jd_ware ware.",
    tags={"domain": "catalog"},
)
def wares_weekly_schedule(context: dg.ScheduleEvaluationContext):
    """Refreshes seller ware metadata weekly."""
    return _every_key(context, jd_ware_partitions, "wares")
