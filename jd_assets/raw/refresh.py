"""The daily comment refresh of every tracked SKU as ONE run, each SKU still its own partition.

One Dagster run per SKU costs a process start and the run machinery per partition, which dominates a
refresh that is mostly a page or two per SKU (bench/RESULTS.md, benchmark 6). Dagster cannot mark single
partitions of one run as failed, so this job does not use a partition range: an op refreshes the SKUs
(a few at a time: the work is HTTP waits, the rate limiter is shared, landings serialize on the file
lock) and records an ``AssetMaterialization`` of ``raw_comments`` for each SKU that landed, with the same
metadata as a partition run. A SKU that fails is named at the end and the run fails; the others stay
materialized. A run-scope error (token, quota, balance) stops the refresh at once: nothing else is
attempted, what landed stays. Once the SKUs are done, the checks of ``raw_comments`` are evaluated and
logged as the asset job would run them (an op job does not run asset checks by itself), failed run or not,
whenever something landed.
"""

from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import dagster as dg
from pydantic import Field

from jd_assets.conventions import InvalidIdError, require_jd_id
from jd_assets.gateways.justone import JustOneResource
from jd_assets.partitions import jd_item_partitions
from jd_assets.raw import checks
from jd_assets.raw.assets import raw_comments, refresh_comments, refusal_observation
from jd_assets.warehouse import DuckDBWarehouse


class CommentsRefreshConfig(dg.Config):
    items: list[str] = Field(default=[], description="SKU ids to refresh; empty = every jd_item partition.")
    parallel_items: int = Field(default=4, ge=1, le=32, description="SKUs fetched at the same time.")
    full_refresh: bool = Field(default=False, description="Crawl every page instead of stopping at the mark.")


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
    remaining = iter(skus)
    with ThreadPoolExecutor(config.parallel_items) as pool:
        running: dict[Future, str] = {}

        def submit_next() -> None:
            sku = next(remaining, None)
            if sku is not None:
                running[pool.submit(refresh, sku)] = sku

        def refresh(sku: str) -> dict[str, object]:
            return refresh_comments(
                sku,
                justone=justone,
                warehouse=warehouse,
                run_id=context.run_id,
                full_refresh=config.full_refresh,
            )

        for _ in range(config.parallel_items):
            submit_next()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                sku = running.pop(future)
                try:
                    metadata = future.result()
                except dg.Failure as failure:
                    failures[sku] = failure.description or "failed"
                    observation = refusal_observation(raw_comments.key, sku, failure)
                    if observation is not None:
                        refused.add(sku)
                        context.log_event(observation)
                    if _scope(failure) == "run":
                        stopped = failure.description
                else:
                    landed += 1
                    context.log_event(
                        dg.AssetMaterialization(asset_key=raw_comments.key, partition=sku, metadata=metadata)
                    )
                if stopped is None:
                    submit_next()
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
