"""Sensors that keep the dynamic partitions in step with what users track and what the data shows.

- ``tracked_items_sensor``: ``data/tracked_items.csv`` → ``jd_item`` keys, added and removed as the file
  changes (a key that orders also brought in stays);
- ``order_skus_sensor``: SKUs bought in landed orders → ``jd_item``;
- ``ware_links_sensor``: wares linked to SKUs by orders or details → ``jd_ware``.
Each new key gets a run of its raw assets. Keys that are not JD ids are refused with a logged message.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import dagster as dg

from jd_assets.conventions import InvalidIdError, require_jd_id
from jd_assets.partitions import jd_item_partitions, jd_ware_partitions
from jd_assets.raw.assets import raw_comments, raw_item_details, raw_wares
from jd_assets.raw.discovery import linked_ware_ids, skus_in_orders
from jd_assets.warehouse import DuckDBWarehouse

DEFAULT_TRACKED_ITEMS = "data/tracked_items.csv"
ITEM_ASSETS = [raw_comments.key, raw_item_details.key]


def tracked_items_path() -> Path:
    return Path(os.environ.get("JD_TRACKED_ITEMS_PATH", DEFAULT_TRACKED_ITEMS))


def read_tracked_items(path: Path) -> tuple[list[str], list[str]]:
    """The SKU ids of the tracked-items CSV (column ``sku_id``; ``#`` comments and blank lines allowed)
    and a message per refused line, naming the file line."""
    numbered = [
        (number, line)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    rows = csv.reader(line for _, line in numbered)
    header = [name.strip() for name in next(rows, [])]
    if "sku_id" not in header:
        raise ValueError(f"{path}: the header must have a sku_id column, found {header}")
    column = header.index("sku_id")
    keys: list[str] = []
    refused: list[str] = []
    for (number, _), row in zip(numbered[1:], rows, strict=True):
        try:
            keys.append(require_jd_id("sku_id", row[column].strip() if column < len(row) else ""))
        except InvalidIdError as err:
            refused.append(f"{path} line {number}: {err}")
    return list(dict.fromkeys(keys)), refused


def _new_keys_result(
    context: dg.SensorEvaluationContext,
    partitions: dg.DynamicPartitionsDefinition,
    candidates: set[str],
    assets: list[dg.AssetKey],
    *,
    delete: list[str] = (),
    cursor: str | None = None,
) -> dg.SensorResult:
    existing = set(context.instance.get_dynamic_partitions(partitions.name))
    new = sorted(candidates - existing)
    requests = []
    if new:
        requests.append(partitions.build_add_request(new))
    if delete:
        requests.append(partitions.build_delete_request(list(delete)))
    if not requests:
        return dg.SensorResult(skip_reason=f"no new {partitions.name} keys", cursor=cursor)
    context.log.info(f"{partitions.name}: adding {len(new)} keys, removing {len(delete)}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, asset_selection=assets) for key in new],
        dynamic_partitions_requests=requests,
        cursor=cursor,
    )


@dg.sensor(
    minimum_interval_seconds=60,
    asset_selection=ITEM_ASSETS,
    description="Keeps jd_item partitions in step with data/tracked_items.csv (JD_TRACKED_ITEMS_PATH).",
)
def tracked_items_sensor(context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse):
    path = tracked_items_path()
    if not path.exists():
        return dg.SkipReason(f"{path} does not exist: list SKU ids under a sku_id header to track them")
    keys, refused = read_tracked_items(path)
    for message in refused:
        context.log.warning(f"refused: {message}")
    previously_tracked = set(json.loads(context.cursor or "[]"))
    existing = set(context.instance.get_dynamic_partitions(jd_item_partitions.name))
    dropped = (previously_tracked - set(keys)) & existing
    keep = skus_in_orders(warehouse) if dropped else set()
    return _new_keys_result(
        context,
        jd_item_partitions,
        set(keys),
        ITEM_ASSETS,
        delete=sorted(dropped - keep),
        cursor=json.dumps(sorted(keys)),
    )


@dg.sensor(
    minimum_interval_seconds=300,
    asset_selection=ITEM_ASSETS,
    description="Adds a jd_item partition for every SKU bought in a landed order.",
)
def order_skus_sensor(context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse):
    return _new_keys_result(context, jd_item_partitions, skus_in_orders(warehouse), ITEM_ASSETS)


@dg.sensor(
    minimum_interval_seconds=300,
    asset_selection=[raw_wares.key],
    description="Adds a jd_ware partition for every ware linked to a SKU by an order item or a detail.",
)
def ware_links_sensor(context: dg.SensorEvaluationContext, warehouse: DuckDBWarehouse):
    return _new_keys_result(context, jd_ware_partitions, linked_ware_ids(warehouse), [raw_wares.key])
