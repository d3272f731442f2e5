"""Every partitions definition of the project, in one place (the contract of docs/DESIGN.md)."""

from __future__ import annotations

import os

import dagster as dg

from jd_assets.conventions import BEIJING_TZ

#: SKUs (a comment's ``productId``, a detail's ``itemId``, an order item's SKU). Keys are digit strings.
jd_item_partitions = dg.DynamicPartitionsDefinition(name="jd_item")

#: Seller wares that group SKUs, discovered from SKU→ware links.
jd_ware_partitions = dg.DynamicPartitionsDefinition(name="jd_ware")

#: Order-creation days in Beijing time: one partition is one ``[00:00:00, 23:59:59]`` router window.
#: The first day comes from ``JD_ORDERS_START_DATE`` (read when the code location loads).
orders_daily_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("JD_ORDERS_START_DATE", "2026-01-01"),
    timezone=BEIJING_TZ,
)
