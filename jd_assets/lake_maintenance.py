"""DuckLake maintenance as a job and an hourly schedule (turn it on with a lake warehouse).

Each landing adds a small Parquet file to the lake, and every statement that reads a table pays for each
of its files, so a lake that is never maintained lands more slowly the longer it runs
(bench/RESULTS.lake-writers.md). The job merges the small files, expires snapshots older than a week and
deletes the files nothing uses any more (``jd_assets.warehouse.maintain_lake``); on the single DuckDB file
it has nothing to do.
"""

import dagster as dg

from jd_assets.warehouse import DuckDBWarehouse, maintain_lake


@dg.op(description="Merge the lake's small files, expire snapshots older than a week, delete unused files.")
def maintain_lake_files(context: dg.OpExecutionContext, warehouse: DuckDBWarehouse) -> dg.Output[None]:
    if not warehouse.is_lake:
        context.log.info("the warehouse is one DuckDB file, not a DuckLake: nothing to maintain")
        return dg.Output(None, metadata={"maintained": False})
    done = maintain_lake(warehouse)
    context.log.info(f"lake maintained: {done}")
    return dg.Output(
        None,
        metadata={
            "maintained": True,
            "files_merged": done.files_merged,
            "files_written": done.files_written,
            "snapshots_expired": done.snapshots_expired,
            "files_deleted": done.files_deleted,
        },
    )


@dg.job(
    description=(
        "DuckLake maintenance: merge the small Parquet files landings leave, expire snapshots older than a "
        "week (time travel reaches that far), delete files nothing uses any more. Nothing on the file."
    ),
    tags={"domain": "warehouse"},
)
def lake_maintenance_job():
    maintain_lake_files()


lake_maintenance_schedule = dg.ScheduleDefinition(
    name="lake_maintenance_schedule",
    job=lake_maintenance_job,
    cron_schedule="17 * * * *",
    description=(
        "Hourly (at :17): keeps a DuckLake's landings from slowing down as their small files pile up. Turn "
        "it on when JD_DUCKLAKE_CATALOG is set; on the single DuckDB file the job does nothing."
    ),
)

defs = dg.Definitions(jobs=[lake_maintenance_job], schedules=[lake_maintenance_schedule])
