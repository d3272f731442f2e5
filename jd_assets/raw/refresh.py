"""The daily comment refresh of every tracked SKU as ONE run, each SKU still its own partition.

One Dagster run per SKU costs a process start and the run machinery per partition, which dominates a
refresh that is mostly a page or two per SKU (bench/RESULTS.md, benchmark 6). Dagster cannot mark single
partitions of one run as failed, so this job does not use a partition range: an op refreshes the SKUs and
records an ``AssetMaterialization`` of ``raw_comments`` for each SKU that landed, with the same metadata
as a partition run. Worker threads fetch (a few SKUs at a time: the work is HTTP waits and the rate
limiter is shared); the op's own thread lands what they fetched, ``MAX_GROUP`` SKUs at a time (fewer
only at the end) in one transaction and one ``land_partitions``: a kill leaves every SKU landed whole
or not at all, and the file is opened, read and committed once per group instead of per SKU
(bench/RESULTS.refresh.md). Every SKU's mark is read once, at the start. A SKU that fails is named at the
end and the run fails; the others stay materialized. A run-scope error (token, quota, balance) stops the
refresh at once: nothing else is attempted, what landed stays. Once the SKUs are done, the checks of
``raw_comments`` are evaluated and logged as the asset job would run them (an op job does not run asset
checks by itself), failed run or not, whenever something landed.
"""

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import dagster as dg
from pydantic import Field

from jd_assets.conventions import InvalidIdError, require_jd_id
from jd_assets.gateways.justone import JustOneResource
from jd_assets.partitions import jd_item_partitions
from jd_assets.raw import checks
from jd_assets.raw.assets import (
    FetchedComments,
    comments_watermarks,
    fetch_comments,
    land_comments,
    raw_comments,
    refusal_observation,
)
from jd_assets.warehouse import DuckDBWarehouse


class CommentsRefreshConfig(dg.Config):
    items: list[str] = Field(default=[], description="SKU ids to refresh; empty = every jd_item partition.")
    parallel_items: int = Field(default=4, ge=1, le=32, description="SKUs fetched at the same time.")
    full_refresh: bool = Field(default=False, description="Crawl every page instead of stopping at the mark.")


#: SKUs landed in one transaction (the write lock is held that long: ~10-30 ms a SKU).
MAX_GROUP = 16
#: The most SKUs fetched and waiting to land (their pages are held in memory until then).
QUEUED_AHEAD = 2 * MAX_GROUP


def _groups(items: list[FetchedComments], size: int) -> list[list[FetchedComments]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _scope(failure: dg.Failure) -> str:
    value = failure.metadata.get("scope")
    return str(getattr(value, "value", value) or "partition")


@dg.op(description="Refresh the comments of many SKUs in one run, one raw_comments partition each.")
def refresh_comment_partitions(
    context: dg.OpExecutionContext,
    config: CommentsRefreshConfig,
    justone: JustOneResource,
    warehouse: DuckDBWarehouse,
) -> None:
    keys = config.items or list(context.instance.get_dynamic_partitions(jd_item_partitions.name))
    failures: dict[str, str] = {}
    skus: list[str] = []
    for key in keys:
        try:
            skus.append(require_jd_id("jd_item", key))
        except InvalidIdError as err:
            failures[key] = str(err)
    landed = 0
    refused: set[str] = set()
    stopped: str | None = None
    # One read for every SKU's mark; the new marks are read inside each landing transaction.
    marks = {} if config.full_refresh else comments_watermarks(warehouse, skus)
    remaining = iter(skus)
    run_stopped = threading.Event()
    # Dagster stores each event in its instance (a SQLite or PostgreSQL write, ~10-80 ms): one thread
    # records them in order, so the landings and fetches go on meanwhile.
    recorded: list[Future] = []
    with ThreadPoolExecutor(config.parallel_items) as pool, ThreadPoolExecutor(1) as recorder:
        running: dict[Future, str] = {}

        def record(event: dg.AssetMaterialization | dg.AssetObservation) -> None:
            recorded.append(recorder.submit(context.log_event, event))

        def submit_next() -> None:
            sku = next(remaining, None)
            if sku is not None:
                running[pool.submit(fetch, sku)] = sku

        def fetch(sku: str) -> FetchedComments | None:
            if run_stopped.is_set():
                return None  # a run-scope error came first: not attempted
            try:
                return fetch_comments(
                    sku,
                    justone=justone,
                    warehouse=warehouse,
                    run_id=context.run_id,
                    watermark=marks.get(sku),
                    full_refresh=config.full_refresh,
                )
            except dg.Failure as failure:
                if _scope(failure) == "run":  # set before this worker takes a queued SKU
                    run_stopped.set()
                raise

        # SKUs queued ahead of the workers: they keep fetching while this thread lands what they fetched.
        for _ in range(config.parallel_items + QUEUED_AHEAD):
            submit_next()
        fetched: list[FetchedComments] = []
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                sku = running.pop(future)
                try:
                    result = future.result()
                except dg.Failure as failure:
                    failures[sku] = failure.description or "failed"
                    observation = refusal_observation(raw_comments.key, sku, failure)
                    if observation is not None:
                        refused.add(sku)
                        record(observation)
                    if _scope(failure) == "run":
                        stopped = failure.description
                else:
                    if result is not None:
                        fetched.append(result)
                if stopped is None:
                    submit_next()
            if stopped is not None:  # the SKUs not started yet are not attempted
                for future in [f for f in running if f.cancel()]:
                    del running[future]
            # Full groups only while fetches go on: a group costs about the same for 2 SKUs as for 16.
            ready = len(fetched) - (len(fetched) % MAX_GROUP if running else 0)
            for group in _groups(sorted(fetched[:ready], key=lambda f: f.sku), MAX_GROUP):
                for f, metadata in zip(group, land_comments(warehouse, group, context.run_id), strict=True):
                    landed += 1
                    record(dg.AssetMaterialization(raw_comments.key, partition=f.sku, metadata=metadata))
            del fetched[:ready]
    for future in recorded:
        future.result()  # an event Dagster could not store fails the run here
    context.log.info(f"comments refreshed for {landed} of {len(keys)} SKUs")
    if landed:
        for evaluation in checks.evaluations(warehouse, raw_comments.key.to_user_string()):
            context.log_event(evaluation)
    if stopped is not None:
        raise dg.Failure(
            description=f"refresh stopped after {landed} SKUs: {stopped}",
            metadata={"skus_landed": landed, "skus_failed": len(failures)},
            allow_retries=False,
        )
    if failures:
        named = "; ".join(f"{sku}: {why}" for sku, why in sorted(failures.items())[:20])
        raise dg.Failure(
            description=f"{len(failures)} of {len(keys)} SKUs failed, {len(refused)} of them refused by JD "
            f"({named})",
            metadata={
                "skus_landed": landed,
                "skus_failed": len(failures),
                "skus_refused_by_jd": len(refused),
                "failed_skus": sorted(failures),
            },
        )


@dg.job(
    description=(
        "The daily comment refresh: every tracked SKU in one run, each landed and recorded as its own "
        "raw_comments partition."
    ),
    tags={"kind": "refresh"},
)
def raw_comments_refresh_job():
    refresh_comment_partitions()
