"""The demo's runs look like what they stand for (issue 14): a backfill, a sensor's run, a schedule's run,
each from the code location ``make dev`` loads, so the UI's Overview timeline, each job's page and
re-execution find them. The demo's own launcher runs one of each on the tiny catalog, and the UI's own
GraphQL queries read them back."""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
from datetime import timedelta
from unittest import mock

import dagster as dg
import pytest
from dagster._core.events import DagsterEventType
from dagster._core.execution.backfill import BulkActionStatus
from dagster_graphql.test.utils import execute_dagster_graphql

from jd_assets.raw import schedules, sensors
from jd_sandbox import Sandbox, SandboxConfig, today_start
from jd_sandbox import demo as jd_demo
from jd_sandbox.server import env_for

#: The Overview timeline's query (dagster-webserver 1.13's CompletedRunTimelineQuery and its fragment):
#: a run without ``repositoryOrigin`` has no row on the timeline.
TIMELINE = """
query CompletedRunTimelineQuery($completedFilter: RunsFilter!, $limit: Int!) {
  completed: runsOrError(filter: $completedFilter, limit: $limit) {
    ... on Runs { results { id pipelineName pipelineSnapshotId tags { key value }
                            repositoryOrigin { repositoryName repositoryLocationName } } }
  }
}"""
#: A job's page: its latest run, and the snapshot the UI compares with a run's before re-executing it.
JOB = """
query Job($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    ... on Pipeline { pipelineSnapshotId runs(limit: 1) { runId } }
  }
}"""


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    """One backfill day, one tick of tracked_items_sensor (one SKU), one comments_daily_schedule tick."""
    data = tmp_path_factory.mktemp("demo") / "data"
    with Sandbox(SandboxConfig(seed=7, scale="tiny", details_pending_polls=1, now=today_start())) as sandbox:
        sku = next(s for s in sandbox.truth.sku_ids() if sandbox.truth.detail_supported(s))
        title = sandbox.truth.detail(sku)["title"]
        data.mkdir()
        (data / "tracked_items.csv").write_text(f"sku_id\n{sku}\n", encoding="utf-8")
        environment, _ = jd_demo.demo_environment(dict(os.environ), data)
        home = data / "dagster_home"
        home.mkdir()
        day = (sandbox.now.date() - timedelta(days=1)).isoformat()
        with mock.patch.dict(os.environ, environment | sandbox.env(), clear=True):
            import jd_assets.definitions as module

            defs = importlib.reload(module).defs  # the code location, configured from this environment
            with jd_demo.launcher(home) as launch:
                backfill, runs = launch.backfill("raw_orders_job", [day])
                backfill_runs = list(runs)
                jd_demo._evaluate_sensor(defs, launch, sensors.tracked_items_sensor, "items")
                jd_demo._tick_schedule(launch, schedules.comments_daily_schedule, "comments")
                yield launch, backfill.backfill_id, backfill_runs, sku, title, day
        importlib.reload(module)


def by_tag(runs, key: str) -> dict[str, dg.DagsterRun]:
    return {run.tags[key]: run for run in runs if key in run.tags}


def test_the_demo_records_a_backfill_a_sensor_run_and_a_schedule_run_tagged_as_dagster_tags_them(demo_runs):
    launch, backfill_id, backfill_runs, sku, title, day = demo_runs
    runs = launch.instance.get_runs()

    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 3
    (orders,) = backfill_runs
    assert orders.job_name == "raw_orders_job"
    assert orders.tags["dagster/backfill"] == backfill_id and orders.tags["dagster/partition"] == day
    backfill = launch.instance.get_backfill(backfill_id)
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS and backfill.partition_names == [day]

    sensed = by_tag(runs, "dagster/sensor_name")["tracked_items_sensor"]
    assert sensed.tags["dagster/partition"] == sku
    assert sensed.asset_selection == {dg.AssetKey("raw_comments"), dg.AssetKey("raw_item_details")}
    checked = launch.instance.all_logs(sensed.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    assert {e.dagster_event.asset_check_evaluation_data.asset_check_key for e in checked} == {
        dg.AssetCheckKey(dg.AssetKey("raw_comments"), "schema_drift"),
        dg.AssetCheckKey(dg.AssetKey("raw_item_details"), "schema_drift"),
    }, "the sensor's run evaluates the checks of what it lands"
    details = launch.instance.get_latest_materialization_event(dg.AssetKey("raw_item_details"))
    assert details.asset_materialization.partition == sku
    assert details.asset_materialization.metadata["product_title"].value == title, "a SKU id, named"

    scheduled = by_tag(runs, "dagster/schedule_name")["comments_daily_schedule"]
    assert scheduled.job_name == "raw_comments_refresh_job"
    assert scheduled.tags["dagster/run_key"].startswith("comments-")


def test_every_demo_run_has_the_code_locations_origin_so_the_timeline_and_its_job_show_it(demo_runs):
    launch, *_ = demo_runs
    context = launch.workspace

    timeline = execute_dagster_graphql(
        context, TIMELINE, {"completedFilter": {"statuses": ["SUCCESS"]}, "limit": 10}
    ).data["completed"]["results"]

    assert len(timeline) == 3
    for run in timeline:
        assert run["repositoryOrigin"] == {
            "repositoryName": "__repository__",
            "repositoryLocationName": "jd_assets.definitions",  # workspace.yaml's code location
        }, run["pipelineName"]
        assert {"key": "dagster/code_location", "value": "jd_assets.definitions"} in run["tags"]
    for name in ("raw_orders_job", "raw_comments_refresh_job"):
        selector = {
            "repositoryLocationName": "jd_assets.definitions",
            "repositoryName": "__repository__",
            "pipelineName": name,
        }
        job = execute_dagster_graphql(context, JOB, {"selector": selector}).data["pipelineOrError"]
        (latest,) = job["runs"]
        run = next(r for r in timeline if r["id"] == latest["runId"])
        # the same snapshot: the UI re-executes it without "may be a different version"
        assert run["pipelineSnapshotId"] == job["pipelineSnapshotId"]


def job_snapshots(environment: dict[str, str]) -> dict[str, str]:
    """The code location's raw jobs' snapshot ids, loaded in ``environment``."""
    import jd_assets.definitions as module

    with mock.patch.dict(os.environ, environment, clear=True):
        repo = importlib.reload(module).defs.get_repository_def()
    importlib.reload(module)
    names = ("raw_orders_job", "raw_comments_refresh_job", "raw_item_details_job", "raw_wares_job")
    return {name: repo.get_job(name).get_job_snapshot_id() for name in names}


def test_make_dev_as_the_readme_starts_it_loads_the_job_versions_the_demos_runs_recorded():
    shell = {name: value for name, value in os.environ.items() if not name.startswith("JD_")}
    exports = subprocess.run(
        [sys.executable, "-m", "jd_sandbox", "env", "--port", str(jd_demo.DEV_PORT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    make_dev = shell | dict(
        shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exports.splitlines()
    )
    demo, _ = jd_demo.demo_environment(shell)  # nothing is written: only its variables are compared
    demo |= env_for(f"http://127.0.0.1:{jd_demo.DEV_PORT}", SandboxConfig())

    # resources are configured when the code location loads: the same values give the same snapshots
    # (derived_tables_job is left out: Dagster orders the inputs of its blocking checks anew per process)
    assert job_snapshots(demo) == job_snapshots(make_dev)
