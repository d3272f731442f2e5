"""A partition JD refuses reads as a refusal (issue 14): the failure says "JD refused" with JD's code and
reason in its metadata, the asset's own page gets an observation of that partition with the reason, and
the asset says how many partitions JD refuses (until they land)."""

from __future__ import annotations

import dagster as dg
import duckdb

from jd_assets.raw.assets import raw_comments, raw_item_details
from jd_assets.raw.refresh import raw_comments_refresh_job


def _materialize(asset, key, resources, instance):
    instance.add_dynamic_partitions("jd_item", [key])
    return dg.materialize(
        [asset], partition_key=key, resources=resources, instance=instance, raise_on_error=False
    )


def _refusals(db_path):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("SELECT source, partition_key, code FROM raw.refusals ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_an_unsupported_product_is_a_refusal_with_its_reason_on_the_partition(
    sandbox, resources, instance, db_path
):
    supported, unsupported = [s for s in sandbox.truth.sku_ids() if sandbox.truth.detail_supported(s)][:2]
    sandbox.fail_item(unsupported, code=202)  # as JD answers for a product it does not support

    result = _materialize(raw_item_details, unsupported, resources, instance)

    assert not result.success
    (failure,) = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    data = failure.user_failure_data
    assert data.description.startswith(f"JD refused details of item {unsupported} (code 202")
    assert data.metadata["jd_refused"].value is True
    assert data.metadata["jd_code"].value == "202"
    assert "product not supported" in data.metadata["jd_reason"].value
    # the asset's page: an observation of that partition, with JD's reason
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=raw_item_details.key, asset_partitions=[unsupported]), limit=5
    ).records
    (observation,) = [r.asset_observation for r in records]
    assert observation.partition == unsupported
    assert "product not supported" in observation.metadata["jd_reason"].value
    assert observation.metadata["partitions_refused_by_jd"].value == 1
    assert _refusals(db_path) == [("item_details", unsupported, "202")]

    # the next partition that lands says how many JD refuses
    landed = _materialize(raw_item_details, supported, resources, instance)
    (event,) = landed.get_asset_materialization_events()
    assert event.materialization.metadata["partitions_refused_by_jd"].value == 1


def test_a_refused_partition_that_lands_later_is_no_longer_counted(sandbox, resources, instance, db_path):
    sku = next(s for s in sandbox.truth.sku_ids() if sandbox.truth.comments(s))
    sandbox.fail_item(sku, code=404)
    assert not _materialize(raw_comments, sku, resources, instance).success
    assert _refusals(db_path) == [("comments", sku, "404")]

    sandbox.clear_item_failures()
    result = _materialize(raw_comments, sku, resources, instance)

    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert event.materialization.metadata["partitions_refused_by_jd"].value == 0
    assert _refusals(db_path) == []


def test_the_daily_refresh_observes_each_refused_sku(sandbox, resources, instance):
    skus = [s for s in sandbox.truth.sku_ids() if sandbox.truth.comments(s)][:3]
    instance.add_dynamic_partitions("jd_item", skus)
    sandbox.fail_item(skus[0], code=202)

    result = raw_comments_refresh_job.execute_in_process(
        instance=instance,
        resources={k: resources[k] for k in ("justone", "warehouse")},
        run_config={"ops": {"refresh_comment_partitions": {"config": {"items": skus}}}},
        raise_on_error=False,
    )

    assert not result.success
    (failure,) = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    assert "1 of them refused by JD" in failure.user_failure_data.description
    assert failure.user_failure_data.metadata["skus_refused_by_jd"].value == 1
    # events logged before the step failed are in the instance's event log (not in the result's list)
    observed = instance.fetch_observations(raw_comments.key, limit=10).records
    assert [r.asset_observation.partition for r in observed] == [skus[0]]
    assert {r.run_id for r in observed} == {result.run_id}
