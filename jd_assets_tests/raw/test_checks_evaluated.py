"""Every asset check is evaluated whenever its asset lands, whatever job lands it (issue 14).

Two proofs: over the definitions, every asset job that selects an asset also selects all its checks (so
Dagster runs them); and, against the sandbox, every job that lands a raw asset — op jobs included, which
Dagster does not give any check — leaves an evaluation of each check of every asset it materialized, in the
same run. A new op job must be added to ``OP_JOB_RUN_CONFIG`` below (or, if it lands no asset, to
``OP_JOBS_WITHOUT_ASSETS``), or this test fails.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from jd_assets.definitions import defs

#: How to run each op job of the definitions here (Dagster gives op jobs no asset checks of their own).
OP_JOB_RUN_CONFIG = {"raw_comments_refresh_job": {}}
#: Op jobs that land no asset at all (upkeep of the warehouse itself), so they have no checks to run.
OP_JOBS_WITHOUT_ASSETS = {"lake_maintenance_job"}


@pytest.fixture(scope="module")
def repo():
    return defs.get_repository_def()


def _lands(repo, job_name: str) -> set[dg.AssetKey]:
    return set(repo.get_job(job_name).asset_layer.selected_asset_keys)


def test_every_raw_asset_has_a_check(repo):
    graph = repo.asset_graph
    raw = [key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "raw"]
    assert len(raw) == 5
    for key in raw:
        assert graph.get_check_keys_for_assets({key}), f"{key.to_user_string()} has no asset check"


def test_every_asset_job_selects_the_checks_of_the_assets_it_lands(repo):
    graph = repo.asset_graph
    for name in repo.job_names:
        job = repo.get_job(name)
        selected = _lands(repo, name)
        if not selected:
            assert name in OP_JOB_RUN_CONFIG or name in OP_JOBS_WITHOUT_ASSETS, (
                f"op job {name}: add it to OP_JOB_RUN_CONFIG (or OP_JOBS_WITHOUT_ASSETS if it lands nothing)"
            )
            continue
        runs = set(job.asset_layer.asset_graph.asset_check_keys)
        missing = graph.get_check_keys_for_assets(selected) - runs
        assert not missing, f"{name} lands assets without running {sorted(map(str, missing))}"


def _run(repo, name, *, resources, instance, partition_key=None):
    return repo.get_job(name).execute_in_process(
        instance=instance,
        resources=resources,
        partition_key=partition_key,
        run_config=OP_JOB_RUN_CONFIG.get(name),
        raise_on_error=False,
    )


def test_every_job_that_lands_a_raw_asset_evaluates_all_its_checks(repo, sandbox, resources, instance):
    graph = repo.asset_graph
    sku = next(s for s in sandbox.truth.sku_ids() if sandbox.truth.comments(s))
    ware = sandbox.truth.sku_to_ware()[sku]
    instance.add_dynamic_partitions("jd_item", [sku])
    instance.add_dynamic_partitions("jd_ware", [ware])
    day = (sandbox.now.date() - timedelta(days=1)).isoformat()
    partition_of = {"raw_orders_job": day, "raw_comments_job": sku, "raw_item_details_job": sku}
    partition_of["raw_wares_job"] = ware
    raw_jobs = [
        name
        for name in repo.job_names
        if name in OP_JOB_RUN_CONFIG
        or (_lands(repo, name) and all(graph.get(k).group_name == "raw" for k in _lands(repo, name)))
    ]
    assert set(raw_jobs) == {*partition_of, *OP_JOB_RUN_CONFIG}, "a new raw job: give it a partition here"

    for name in raw_jobs:
        key = partition_of.get(name)
        result = _run(repo, name, resources=resources, instance=instance, partition_key=key)
        assert result.success, name
        landed = {e.asset_key for e in result.get_asset_materialization_events()}
        assert landed, f"{name} landed nothing"
        evaluated = {e.asset_check_key for e in result.get_asset_check_evaluations()}
        expected = graph.get_check_keys_for_assets(landed)
        assert expected <= evaluated, f"{name} never evaluates {sorted(map(str, expected - evaluated))}"
        for key in expected:
            record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
            assert record is not None and record.run_id == result.run_id, f"{key} not recorded by {name}"
