"""Sensors that keep the dynamic partitions in step with what users track and what the data shows.

- ``tracked_items_sensor``: ``data/tracked_items.csv`` → ``jd_item`` keys, added and removed as the file
  changes (a key that orders also brought in stays);
- ``order_skus_sensor``: SKUs bought in landed orders → ``jd_item``;
- ``ware_links_sensor``: wares linked to SKUs by orders or details → ``jd_ware``.
Each new key gets a run of its raw assets; so does a known key that has neither a materialization nor any
run (its run was lost: a daemon stopped between adding the key and launching the run, an interrupted
demo). A key with a run, even a failed one (JD refused the item), is left to the user. Keys that are not
JD ids are refused with a logged message.

The tracked-items file may come from Excel: a UTF-8 byte-order mark is read, and a file that is not UTF-8
(Excel's ANSI/GBK "CSV") fails naming the file, the line and what to do. A sensor that would add more than
``JD_SENSOR_MAX_NEW_PARTITIONS`` keys at once (each one starts runs, and details are billed) adds none and
fails its tick, naming the limit: raising the limit is the confirmation.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import PARTITION_NAME_TAG

from jd_assets.conventions import InvalidIdError, require_jd_id
from jd_assets.partitions import jd_item_partitions, jd_ware_partitions
from jd_assets.raw.assets import raw_comments, raw_item_details, raw_wares
from jd_assets.raw.discovery import linked_ware_ids, skus_in_orders
from jd_assets.warehouse import DuckDBWarehouse

DEFAULT_TRACKED_ITEMS = "data/tracked_items.csv"
MAX_NEW_ENV = "JD_SENSOR_MAX_NEW_PARTITIONS"
DEFAULT_MAX_NEW = 1000
ITEM_ASSETS = [raw_comments.key, raw_item_details.key]


def tracked_items_path() -> Path:
    return Path(os.environ.get("JD_TRACKED_ITEMS_PATH", DEFAULT_TRACKED_ITEMS))


class TrackedItemsError(ValueError):
    """The tracked-items file cannot be read; the message names the file and the line."""


def _decode(path: Path, data: bytes) -> str:
    """The file's text: UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"), or UTF-16 with one."""
    utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    encoding = "utf-16" if utf16 else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise TrackedItemsError(
            f"{path} line {line}: not {encoding.removesuffix('-sig').upper()} text (byte "
            f'0x{data[err.start]:02x} at offset {err.start}); save it as UTF-8 (Excel: "CSV UTF-8")'
        ) from None


def read_tracked_items(path: Path) -> tuple[list[str], list[str]]:
    """The SKU ids of the tracked-items CSV (column ``sku_id``; ``#`` comments and blank lines allowed)
    and a message per refused line, naming the file line. Raises TrackedItemsError naming the file and
    the line when the file cannot be read as a whole."""
    numbered = [
        (number, line)
        for number, line in enumerate(_decode(path, path.read_bytes()).splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not numbered:
        raise TrackedItemsError(f"{path} line 1: no header: the file must start with a sku_id column")
    delimiter = "\t" if "\t" in numbered[0][1] and "," not in numbered[0][1] else ","

    def fields(number: int, line: str) -> list[str]:
        try:
            return next(csv.reader([line], delimiter=delimiter), [])
        except csv.Error as err:
            raise TrackedItemsError(f"{path} line {number}: {err}") from None

    header_line, header_text = numbered[0]
    header = [name.strip() for name in fields(header_line, header_text)]
    if "sku_id" not in header:
        raise TrackedItemsError(
            f"{path} line {header_line}: the header must have a sku_id column, found {header[:20]}"
        )
    column = header.index("sku_id")
    keys: list[str] = []
    refused: list[str] = []
    for number, line in numbered[1:]:
        row = fields(number, line)
        try:
            keys.append(require_jd_id("sku_id", row[column].strip() if column < len(row) else ""))
        except InvalidIdError as err:
            refused.append(f"{path} line {number}: {err}")
    return list(dict.fromkeys(keys)), refused


def max_new_partitions() -> int:
    """How many keys a sensor may add in one tick (``JD_SENSOR_MAX_NEW_PARTITIONS``, default 1000)."""
    raw = os.environ.get(MAX_NEW_ENV, "").strip() or str(DEFAULT_MAX_NEW)
    try:
        limit = int(raw)
    except ValueError:
        limit = -1
    if limit < 1:
        raise ValueError(f"{MAX_NEW_ENV} must be a whole number >= 1, got {raw[:40]!r}")
    return limit


class TooManyNewPartitions(RuntimeError):
    """A sensor would add more keys at once than the configured limit: nothing is added."""


def _lost_runs(context: dg.SensorEvaluationContext, keys: set[str], assets: list[dg.AssetKey]) -> list[str]:
    """The keys of ``keys`` that no run has ever targeted for ``assets`` and that have no materialization
    of them. Any run, whatever its status or instigator, counts: a queued run is not duplicated by another
    sensor, a failed one is not retried behind the user's back."""
    instance = context.instance
    unmaterialized = keys - set().union(*(instance.get_materialized_partitions(key) for key in assets))
    if not unmaterialized:
        return []
    runs = instance.get_runs(filters=dg.RunsFilter(tags={PARTITION_NAME_TAG: sorted(unmaterialized)}))
    targeted = {
        run.tags[PARTITION_NAME_TAG]
        for run in runs
        if run.asset_selection is None or run.asset_selection & set(assets)
    }
    return sorted(unmaterialized - targeted)


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
    limit = max_new_partitions()
    if len(new) > limit:
        raise TooManyNewPartitions(
            f"{context.sensor_name or 'the sensor'} would add {len(new)} {partitions.name} partitions "
            "at once "
            f"(each starts runs of {len(assets)} assets, details are billed per call), more than "
            f"{MAX_NEW_ENV}={limit}: nothing was added. If that is intended, raise {MAX_NEW_ENV} to at "
            f"least {len(new)}; otherwise fix the source (e.g. {tracked_items_path()})"
        )
    lost = _lost_runs(context, (candidates & existing) - set(delete), assets)
    requests = []
    if new:
        requests.append(partitions.build_add_request(new))
    if delete:
        requests.append(partitions.build_delete_request(list(delete)))
    if not requests and not lost:
        return dg.SensorResult(skip_reason=f"no new {partitions.name} keys", cursor=cursor)
    context.log.info(
        f"{partitions.name}: adding {len(new)} keys, removing {len(delete)}"
        + (f"; a run for {len(lost)} known keys that never had one: {lost[:10]}" if lost else "")
    )
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=key, asset_selection=assets) for key in [*new, *lost]],
        dynamic_partitions_requests=requests or None,
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
