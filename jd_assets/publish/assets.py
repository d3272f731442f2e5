"""The publish as an asset: after the marts in the lineage, rebuilt whenever a clean or mart table is.

It depends on every clean and mart asset and carries their automation condition, so the automation
sensor's run that rebuilds them publishes them too (and a blocking check that fails on a table stops the
publish in that run: analysts keep the last copy that passed). ``derived_tables_job`` selects it.
"""

from collections.abc import Iterator

import dagster as dg

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.marts import MART_ASSETS
from jd_assets.publish.copy import AnalyticsFile, publish
from jd_assets.warehouse import DuckDBWarehouse

GROUP = "published"


@dg.asset(
    deps=[*CLEAN_ASSETS, *MART_ASSETS],
    group_name=GROUP,
    kinds={"duckdb"},
    automation_condition=FOLLOW_UPSTREAM,
    output_required=False,
)
def published_copy(
    context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse, analytics: AnalyticsFile
) -> Iterator[dg.MaterializeResult]:
    """Every clean and mart table, copied to the read-only file analysts open (JD_ANALYTICS_PATH).

    Built beside it and renamed onto it: a session open on the previous copy keeps working, the next one
    sees this one. Only tables whose content changed since the last publish are copied (fingerprints in
    ``meta.tables``); the others come with a file copy of the previous copy. ``meta.publish`` says when
    (``published_at``), from which file and run; ``meta.tables`` the rows of each table. ``raw`` (buyer
    PII) is never copied.
    """
    if not warehouse.single_file:
        context.log.info(
            f"not publishing: the warehouse {warehouse.database!r} is not a single DuckDB file, so "
            "analysts read it directly (many readers beside the pipeline); nothing to copy"
        )
        return
    done = publish(warehouse, analytics.target(), run_id=context.run.run_id)
    context.log.info(
        f"published {len(done.row_counts)} tables to {done.target} in {done.total_s:.2f}s, "
        f"{len(done.copied)} of them copied ({done.full_reason or 'the rest unchanged since the last one'}; "
        f"the pipeline's file read for {done.read_lock_s:.2f}s)"
    )
    yield dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(done.target.resolve())),
            "published_at": dg.MetadataValue.timestamp(done.published_at),
            "tables": len(done.row_counts),
            "dagster/row_count": sum(done.row_counts.values()),
            "row_counts": dg.MetadataValue.json(done.row_counts),
            "tables_copied": dg.MetadataValue.json(done.copied),
            "full_publish": done.full_reason or "no: unchanged tables kept from the previous copy",
            "read_lock_seconds": round(done.read_lock_s, 3),
            "publish_seconds": round(done.total_s, 3),
            "size_mib": round(done.bytes / 2**20, 2),
            "stale_files_removed": done.stale_files_removed,
        }
    )
