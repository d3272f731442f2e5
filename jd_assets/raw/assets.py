"""Raw assets: each partition fetched whole from its gateway, then landed in one DuckDB transaction.

Fetching happens before the write lock is taken, and nothing is written unless the whole partition was
fetched: a failure halfway through leaves the partition as it was (for comments this also keeps the
high-water mark honest: a half crawl would otherwise hide the pages it never reached).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from datetime import time as clock_time

import dagster as dg
import duckdb
import pyarrow as pa
from pydantic import Field

from jd_assets import jos_fields
from jd_assets.conventions import BEIJING, TIME_FORMAT_SQL, InvalidIdError, require_jd_id
from jd_assets.errors import GatewayError, PartitionError
from jd_assets.gateways.fengchao import FengchaoResource
from jd_assets.gateways.jos import JosClient, JosResource, order_keys
from jd_assets.gateways.justone import JustOneResource
from jd_assets.http import jsontext
from jd_assets.partitions import jd_item_partitions, jd_ware_partitions, orders_daily_partitions
from jd_assets.raw import tables
from jd_assets.raw.landing import (
    LandingCounts,
    Partition,
    RawTable,
    batch,
    land,
    land_partitions,
    record_refusal,
    text_batch,
)
from jd_assets.warehouse import DuckDBWarehouse

GROUP = "raw"
KINDS = {"duckdb", "python"}
#: Orders in these states have not left the warehouse: they have no logistics track to fetch.
UNSHIPPED_STATES = frozenset({"WAIT_SELLER_STOCK_OUT", "WAIT_SELLER_DELIVERY"})


class CommentsConfig(dg.Config):
    full_refresh: bool = Field(
        default=False,
        description="Crawl every page the gateway serves instead of stopping at the stored high-water mark.",
    )


def _partition_id(context: dg.AssetExecutionContext, kind: str) -> str:
    try:
        return require_jd_id(kind, context.partition_key)
    except InvalidIdError as err:
        raise dg.Failure(description=str(err), allow_retries=False) from None


def is_refusal(err: GatewayError) -> bool:
    """JD answered, with an error code that refuses this partition (unsupported product, unknown item or
    ware, refused window): an expected outcome, not a crash; retrying cannot help."""
    return isinstance(err, PartitionError) and err.code is not None


def _gateway_failure(
    err: GatewayError,
    what: str,
    stats,
    *,
    warehouse: DuckDBWarehouse,
    table: RawTable,
    key: str,
    run_id: str,
) -> dg.Failure:
    """A Dagster failure that names what failed, how far it reaches, and whether a retry can help.

    A refusal by JD says so first (``JD refused ...``), carries JD's code and reason in its metadata, and
    is remembered in ``raw.refusals`` (until the partition lands) so the asset can say how many
    partitions JD refuses.
    """
    metadata: dict[str, object] = {"scope": err.scope.value, "retryable": err.retryable}
    description = f"{what}: {err}"
    if is_refusal(err):
        with warehouse.write() as con:
            refused = record_refusal(
                con,
                table.source,
                key,
                code=str(err.code),
                reason=str(err),
                run_id=run_id,
                refused_at=datetime.now(UTC),
            )
        description = f"JD refused {what} (code {err.code}, not retried): {err}"
        metadata |= {
            "jd_refused": True,
            "jd_code": str(err.code),
            "jd_reason": str(err),
            "partitions_refused_by_jd": refused,
        }
    return dg.Failure(
        description=description,
        metadata={**metadata, **stats.as_metadata()},
        allow_retries=err.retryable,
    )


def refusal_observation(
    asset_key: dg.AssetKey, partition: str, failure: dg.Failure
) -> dg.AssetObservation | None:
    """An observation of the refused partition, so the asset's own page shows JD's reason (a failed
    step's metadata only shows in its run)."""
    if not failure.metadata.get("jd_refused"):
        return None
    keep = ("jd_code", "jd_reason", "partitions_refused_by_jd")
    return dg.AssetObservation(
        asset_key=asset_key,
        partition=partition,
        description=failure.description,
        metadata={name: failure.metadata[name] for name in keep},
    )


def _observe_refusal(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, failure: dg.Failure) -> None:
    observation = refusal_observation(asset_key, context.partition_key, failure)
    if observation is not None:
        context.log_event(observation)


def land_timed(
    warehouse: DuckDBWarehouse, work: Callable[[duckdb.DuckDBPyConnection], list[LandingCounts]]
) -> list[LandingCounts]:
    """Run ``work`` (landings) in one write transaction; each count says how long the file was held."""
    asked = time.monotonic()
    started = 0.0

    def timed(con):
        nonlocal started
        started = time.monotonic()
        return work(con)

    counts, conflicts = warehouse.transact(timed)
    held = time.monotonic() - started
    return [c.held_for(held, waited=started - asked, conflicts=conflicts) for c in counts]


def _land(
    warehouse: DuckDBWarehouse, table: RawTable, records: pa.Table, key: str, run_id: str
) -> LandingCounts:
    """Land one partition (keyed by its id) in its own write transaction."""

    def work(con):
        return [
            land(
                con,
                table,
                records,
                partition_key=key,
                partition_value=key,
                run_id=run_id,
                fetched_at=datetime.now(UTC),
            )
        ]

    return land_timed(warehouse, work)[0]


def _land_record(
    warehouse: DuckDBWarehouse, table: RawTable, record: dict, key: str, run_id: str
) -> LandingCounts:
    """Land a one-record partition (a detail, a ware); a rejected record fails it, naming the reason."""
    counts = _land(warehouse, table, batch([record], request_key=key), key, run_id)
    if counts.rejected:
        with warehouse.read() as con:
            reasons = con.execute(
                "SELECT DISTINCT reason FROM raw.rejects WHERE source = ? AND partition_key = ?",
                [table.source, key],
            ).fetchall()
        raise dg.Failure(
            description=f"{table.source} {key} rejected: {'; '.join(r for (r,) in reasons)}",
            allow_retries=False,
        )
    return counts


def comments_watermarks(warehouse: DuckDBWarehouse, skus: list[str]) -> dict[str, str]:
    """Each SKU's stored high-water mark (its newest commentDate landed), all in one read."""
    with warehouse.read() as con:
        if not con.execute(
            "SELECT 1 FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'comments'"
        ).fetchone():
            return {}
        return dict(
            con.execute(
                f"SELECT sku_id, strftime(max(commented_at), {TIME_FORMAT_SQL}) FROM raw.comments "
                "WHERE sku_id IN (SELECT unnest($skus)) GROUP BY sku_id",
                {"skus": skus},
            ).fetchall()
        )


def _reaches(comments: list[dict], watermark: str) -> bool:
    """True when the page holds a comment at or before the mark ("YYYY-MM-DD HH:MM:SS" sorts as text)."""
    dates = (c.get("commentDate") for c in comments if isinstance(c, dict))
    return any(isinstance(d, str) and len(d) == 19 and d <= watermark for d in dates)


@dg.asset(
    partitions_def=jd_item_partitions,
    group_name=GROUP,
    kinds=KINDS,
    metadata=tables.table_metadata(tables.COMMENTS),
)
def raw_comments(
    context: dg.AssetExecutionContext,
    config: CommentsConfig,
    justone: JustOneResource,
    warehouse: DuckDBWarehouse,
) -> dg.MaterializeResult:
    """Product comments of one SKU, newest first, added by commentId; never deletes what JD stops serving.

    A refresh stops at the first page that reaches the stored high-water mark (the newest commentDate
    already landed), so k new comments cost at most ceil(k/10) + 1 billed calls. Each row keeps the
    comment's JSON; invalid comments go to raw.rejects with the reason. Many SKUs at once: launch
    raw_comments_refresh_job (one run, `items` to choose them), not a backfill of one run per SKU.
    """
    sku = _partition_id(context, "jd_item")
    try:
        metadata = refresh_comments(
            sku,
            justone=justone,
            warehouse=warehouse,
            run_id=context.run.run_id,
            full_refresh=config.full_refresh,
        )
    except dg.Failure as failure:
        _observe_refusal(context, context.asset_key, failure)
        raise
    return dg.MaterializeResult(metadata=metadata)


@dataclass(frozen=True)
class FetchedComments:
    """One SKU's comments fetched down to its mark, not landed yet."""

    sku: str
    records: pa.Table
    pages: int
    stopped: str
    watermark: str | None
    full_refresh: bool
    stats: dict[str, int]

    def metadata(self, counts: LandingCounts) -> dict[str, object]:
        """The metadata of the SKU's materialization once ``counts`` landed."""
        return {
            **counts.as_metadata(),
            **self.stats,
            "pages_fetched": self.pages,
            "paging_stopped": self.stopped,
            "full_refresh": self.full_refresh,
            "watermark_before": self.watermark or "",
            "watermark": counts.partition_mark or "",
        }


def fetch_comments(
    sku: str,
    *,
    justone: JustOneResource,
    warehouse: DuckDBWarehouse,
    run_id: str,
    watermark: str | None,
    full_refresh: bool = False,
) -> FetchedComments:
    """Fetch one SKU's pages, newest first, down to the page that reaches ``watermark``.

    Raises dg.Failure naming the item, with ``scope`` (request / partition / run) in its metadata.
    """
    pages: list[pa.Table] = []  # the pages whose texts could not be cut out, written again
    text_pages: list[tuple[int, jsontext.Texts]] = []  # the others, batched at the end
    stopped = "no page fetched"
    with justone.open() as client:
        try:
            for page in client.comment_pages(sku):
                if page.texts is None:
                    pages.append(batch(page.comments, page=page.page, request_key=sku))
                else:
                    text_pages.append((page.page, page.texts))
                stopped = page.stop or stopped
                if watermark and _reaches(page.comments, watermark):
                    stopped = f"page {page.page} reached the stored high-water mark {watermark}"
                    break
        except GatewayError as err:
            raise _gateway_failure(
                err,
                f"comments of item {sku}",
                client.stats,
                warehouse=warehouse,
                table=tables.COMMENTS,
                key=sku,
                run_id=run_id,
            ) from None
        stats = client.stats.as_metadata()
    records = pa.concat_tables([batch([]), *pages, text_batch(text_pages, request_key=sku)])
    return FetchedComments(
        sku, records, len(pages) + len(text_pages), stopped, watermark, full_refresh, stats
    )


def land_comments(
    warehouse: DuckDBWarehouse, fetched: list[FetchedComments], run_id: str
) -> list[dict[str, object]]:
    """Land several SKUs' comments together: one transaction (a kill leaves none of them half landed) and
    one ``land_partitions`` (each statement reads raw.comments once for the group, not once per SKU);
    returns each SKU's materialization metadata (``write_seconds`` is the group's). Opening and
    committing the DuckDB file costs more than landing a SKU's few new comments, so a refresh pays it
    once per group."""

    def work(con):
        return land_partitions(
            con,
            tables.COMMENTS,
            [Partition(f.sku, f.sku, f.records) for f in fetched],
            run_id=run_id,
            fetched_at=datetime.now(UTC),
        )

    return [f.metadata(c) for f, c in zip(fetched, land_timed(warehouse, work), strict=True)]


def refresh_comments(
    sku: str, *, justone: JustOneResource, warehouse: DuckDBWarehouse, run_id: str, full_refresh: bool = False
) -> dict[str, object]:
    """Fetch one SKU's comments down to the high-water mark and land them; returns the run metadata.

    Raises dg.Failure naming the item, with ``scope`` (request / partition / run) in its metadata.
    """
    watermark = None if full_refresh else comments_watermarks(warehouse, [sku]).get(sku)
    fetched = fetch_comments(
        sku,
        justone=justone,
        warehouse=warehouse,
        run_id=run_id,
        watermark=watermark,
        full_refresh=full_refresh,
    )
    return land_comments(warehouse, [fetched], run_id)[0]


@dg.asset(
    partitions_def=jd_item_partitions,
    group_name=GROUP,
    kinds=KINDS,
    metadata=tables.table_metadata(tables.ITEM_DETAILS),
)
def raw_item_details(
    context: dg.AssetExecutionContext, justone: JustOneResource, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Product details of one SKU (title, brand, shop, category, price, ware) from the task-backed v2 API.

    Pending answers are polled until a deadline; a pending answer is never landed. Every call is billed,
    so the metadata counts them.
    """
    sku = _partition_id(context, "jd_item")
    with justone.open() as client:
        try:
            detail = client.item_detail(sku)
        except GatewayError as err:
            failure = _gateway_failure(
                err,
                f"details of item {sku}",
                client.stats,
                warehouse=warehouse,
                table=tables.ITEM_DETAILS,
                key=sku,
                run_id=context.run.run_id,
            )
            _observe_refusal(context, context.asset_key, failure)
            raise failure from None
        stats = client.stats
    counts = _land_record(warehouse, tables.ITEM_DETAILS, detail.payload, sku, context.run.run_id)
    # jd_item keys are bare SKU ids (Dagster's partition keys carry no label): the partition names its product
    title = str(detail.payload.get("title") or "").strip()
    return dg.MaterializeResult(
        metadata={
            **counts.as_metadata(),
            **stats.as_metadata(),
            "polls": detail.polls,
            **({"product_title": title} if title else {}),
        }
    )


@dg.asset(
    partitions_def=jd_ware_partitions,
    group_name=GROUP,
    kinds=KINDS,
    metadata=tables.table_metadata(tables.WARES),
)
def raw_wares(
    context: dg.AssetExecutionContext, fengchao: FengchaoResource, warehouse: DuckDBWarehouse
) -> dg.MaterializeResult:
    """Seller ware metadata (status, brand, category, item number, images, times) from findWareById."""
    ware_id = _partition_id(context, "jd_ware")
    with fengchao.open() as client:
        try:
            ware = client.find_ware(ware_id)
        except GatewayError as err:
            failure = _gateway_failure(
                err,
                f"ware {ware_id}",
                client.stats,
                warehouse=warehouse,
                table=tables.WARES,
                key=ware_id,
                run_id=context.run.run_id,
            )
            _observe_refusal(context, context.asset_key, failure)
            raise failure from None
        stats = client.stats
    counts = _land_record(warehouse, tables.WARES, ware, ware_id, context.run.run_id)
    return dg.MaterializeResult(metadata={**counts.as_metadata(), **stats.as_metadata()})


#: The two tables one orders run writes; declared here so that downstream assets depend on the objects.
RAW_ORDERS = dg.AssetSpec(
    "raw_orders",
    group_name=GROUP,
    kinds=KINDS,
    description="Store orders created on one Beijing day, in their current state (PII stays in raw).",
    metadata=tables.table_metadata(tables.ORDERS),
    partitions_def=orders_daily_partitions,
)
RAW_ORDER_TRACKS = dg.AssetSpec(
    "raw_order_tracks",
    group_name=GROUP,
    kinds=KINDS,
    description="Logistics tracks of the shipped orders of one day, one row per order.",
    metadata=tables.table_metadata(tables.ORDER_TRACKS),
    partitions_def=orders_daily_partitions,
    deps=[RAW_ORDERS],
)


@dg.multi_asset(
    specs=[RAW_ORDERS, RAW_ORDER_TRACKS],
    partitions_def=orders_daily_partitions,
)
def raw_orders(context: dg.AssetExecutionContext, jos: JosResource, warehouse: DuckDBWarehouse):
    """Orders of one day and their tracks, replaced together in one transaction.

    Re-materializing a recent day picks up order-state changes (the daily schedule re-runs a lookback
    window); the partition is one ``[00:00:00, 23:59:59]`` window on the router. A listed order that
    carries no items (seed 003's ``orders.get`` answers none) is fetched once more with ``order.get``
    (a billed, rate-limited call like the others, counted in ``order_details_fetched``); raw keeps that
    answer beside the list record (``raw.orders.detail``).
    """
    day = date.fromisoformat(context.partition_key)
    today = datetime.now(BEIJING).date()
    if day > today:
        raise dg.Failure(
            description=f"orders of {day}: that Beijing day has not begun (today is {today})",
            metadata={"scope": "partition", "retryable": False},
            allow_retries=False,
        )
    start, end = datetime.combine(day, clock_time.min), datetime.combine(day, clock_time(23, 59, 59))
    order_pages: list[pa.Table] = []
    track_batches: list[pa.Table] = [batch([])]
    details_fetched = 0
    tracks_refused: list[str] = []
    with jos.open() as client:
        try:
            for page in client.order_pages(start, end):
                details: list[dict | None] = []
                for record in page.orders:
                    keys = _keys_or_none(record, client.dialect)
                    detail = None
                    if keys and jos_fields.items_of(record, client.dialect) is None:
                        # seed 003: the list answers orders without items; order.get has them
                        detail = client.order(keys.order_id)
                        details_fetched += 1
                    details.append(detail)
                    if keys and keys.state not in UNSHIPPED_STATES:
                        tracks = _tracks_or_refused(client, keys.order_id, context)
                        if tracks is None:
                            tracks_refused.append(keys.order_id)
                        else:
                            track_batches.append(batch([tracks], request_key=f"{day}/{keys.order_id}"))
                order_pages.append(
                    batch(page.orders, page=page.page, request_key=day.isoformat(), details=details)
                )
        except GatewayError as err:
            failure = _gateway_failure(
                err,
                f"orders of {day} (window {start} .. {end})",
                client.stats,
                warehouse=warehouse,
                table=tables.ORDERS,
                key=context.partition_key,
                run_id=context.run.run_id,
            )
            _observe_refusal(context, RAW_ORDERS.key, failure)
            raise failure from None
        stats = client.stats
    asked = time.monotonic()
    started = 0.0

    def work(con):  # the day's orders and their tracks in one transaction
        nonlocal started
        started = time.monotonic()
        common = {
            "partition_key": context.partition_key,
            "partition_value": day,
            "run_id": context.run.run_id,
            "fetched_at": datetime.now(UTC),
        }
        orders = land(con, tables.ORDERS, pa.concat_tables([batch([]), *order_pages]), **common)
        return orders, land(con, tables.ORDER_TRACKS, pa.concat_tables(track_batches), **common)

    (orders, tracks), conflicts = warehouse.transact(work)
    orders = orders.held_for(time.monotonic() - started, waited=started - asked, conflicts=conflicts)
    if orders.received == 0:
        context.log.warning(f"JD lists no orders created on {day}: the partition is empty (not an error)")
    yield dg.MaterializeResult(
        asset_key="raw_orders",
        metadata={
            **orders.as_metadata(),
            **stats.as_metadata(),
            "window_days": 1,
            "day_complete": day < today,
            "empty_day": orders.received == 0,
            "order_details_fetched": details_fetched,
        },
    )
    yield dg.MaterializeResult(
        asset_key="raw_order_tracks",
        metadata={
            **tracks.as_metadata(),
            "tracks_refused": len(tracks_refused),
            "tracks_refused_orders": dg.MetadataValue.json(tracks_refused[:20]),
        },
    )


def _tracks_or_refused(
    client: JosClient, order_id: str, context: dg.AssetExecutionContext
) -> list[dict] | None:
    """The order's tracks, or None when the router refuses that one order (seed 003's code 402, "Invalid
    order ID/No access"): the day still lands, that order without a track row, counted and logged."""
    try:
        return client.order_tracks(order_id)
    except PartitionError as err:
        if err.code != "402":
            raise
        context.log.warning(f"tracks of order {order_id} refused, the order lands without them: {err}")
        return None


def _keys_or_none(record: dict, dialect: str):
    """The order's keys, or None for a record the landing will reject (it says why there)."""
    try:
        return order_keys(record, dialect)
    except (ValueError, TypeError, AttributeError):
        return None
