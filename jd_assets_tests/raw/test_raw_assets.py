"""Raw assets end to end: real Dagster materializations, real clients, the sandbox on loopback, a real
DuckDB file. Every record of the sandbox's ground truth lands exactly once; re-runs change nothing;
refreshes cost what the high-water mark promises; each code class fails as the API notes say."""

from __future__ import annotations

import math
from datetime import date, timedelta

import dagster as dg
import duckdb
import pytest

from jd_assets.raw.assets import raw_comments, raw_item_details, raw_orders, raw_wares
from jd_assets_tests.conftest import gateway_resources
from jd_sandbox import Sandbox, SandboxConfig

CONTENT_COLUMNS = {
    "raw.comments": "sku_id, comment_id, commented_at, record::VARCHAR, page",
    "raw.item_details": "sku_id, ware_id, record::VARCHAR",
    "raw.wares": "ware_id, ware_status, record::VARCHAR",
    "raw.orders": "order_date, order_id, created_at, modified_at, order_state, dialect, record::VARCHAR",
    "raw.order_tracks": "order_date, order_id, record::VARCHAR",
}


def materialize(asset, key, resources, instance, *, raise_on_error=True, run_config=None):
    if asset.partitions_def is not None and isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition):
        instance.add_dynamic_partitions(asset.partitions_def.name, [key])
    return dg.materialize(
        [asset],
        partition_key=key,
        resources=resources,
        instance=instance,
        raise_on_error=raise_on_error,
        run_config=run_config,
    )


def rows(db_path, sql, params=None):
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def content(db_path, table):
    return rows(db_path, f"SELECT {CONTENT_COLUMNS[table]} FROM {table} ORDER BY ALL")


def metadata_of(result, asset_key="raw_comments"):
    node = raw_orders.node_def.name if asset_key.startswith("raw_order") else asset_key
    (event,) = [m for m in result.asset_materializations_for_node(node) if m.asset_key.path == [asset_key]]
    return {k: v.value for k, v in event.metadata.items()}


def failure_message(result) -> str:
    return "\n".join(
        event.step_failure_data.error.message for event in result.all_events if event.is_step_failure
    )


def order_days(sandbox: Sandbox, n: int = 3) -> list[str]:
    today = sandbox.now.date()
    return [(today - timedelta(days=k)).isoformat() for k in range(1, n + 1)]


def test_every_ground_truth_comment_lands_exactly_once(sandbox, resources, instance, db_path):
    for sku in sandbox.truth.sku_ids():
        materialize(raw_comments, sku, resources, instance)

    landed = rows(db_path, "SELECT sku_id, comment_id, record::VARCHAR FROM raw.comments")
    assert len(landed) == len({(sku, cid) for sku, cid, _ in landed})
    expected = {(sku, c["commentId"]) for sku in sandbox.truth.sku_ids() for c in sandbox.truth.comments(sku)}
    assert {(sku, cid) for sku, cid, _ in landed} == expected
    assert len(expected) > 0


def test_rematerializing_every_partition_leaves_identical_tables(sandbox, resources, instance, db_path):
    skus = sandbox.truth.sku_ids()[:3]
    wares = sorted({sandbox.truth.sku_to_ware()[sku] for sku in skus})
    days = order_days(sandbox)

    def everything():
        for sku in skus:
            materialize(raw_comments, sku, resources, instance)
            materialize(raw_item_details, sku, resources, instance)
        for ware in wares:
            materialize(raw_wares, ware, resources, instance)
        for day in days:
            materialize(raw_orders, day, resources, instance)
        return {table: content(db_path, table) for table in CONTENT_COLUMNS}

    first = everything()
    second = everything()
    assert first == second
    assert all(first[table] for table in ("raw.comments", "raw.item_details", "raw.wares", "raw.orders"))


def test_incremental_refresh_costs_at_most_ceil_k_over_10_plus_1_billed_calls(resources, instance, db_path):
    with Sandbox(SandboxConfig(seed=5, scale="tiny")) as sandbox:
        resources = gateway_resources(sandbox.env(), db_path)
        sku = max(sandbox.truth.sku_ids(), key=lambda s: len(sandbox.truth.comments(s)))
        materialize(raw_comments, sku, resources, instance)
        before = len(sandbox.truth.comments(sku))
        sandbox.advance(days=3)
        k = len(sandbox.truth.comments(sku)) - before
        sandbox.reset_counters()

        result = materialize(raw_comments, sku, resources, instance)

        billed = sandbox.counters()["billed"].get("comments", 0)
        assert k > 0, "the sandbox should bring new comments to its busiest SKU in three days"
        assert billed <= math.ceil(k / 10) + 1
        meta = metadata_of(result)
        assert meta["rows_new"] == k
        assert meta["billed_calls"] == billed
        landed = rows(db_path, "SELECT count(*) FROM raw.comments WHERE sku_id = ?", [sku])[0][0]
        assert landed == len(sandbox.truth.comments(sku))


def test_full_refresh_config_crawls_every_page(sandbox, resources, instance, db_path):
    sku = max(sandbox.truth.sku_ids(), key=lambda s: len(sandbox.truth.comments(s)))
    materialize(raw_comments, sku, resources, instance)
    sandbox.reset_counters()

    materialize(
        raw_comments,
        sku,
        resources,
        instance,
        run_config={"ops": {"raw_comments": {"config": {"full_refresh": True}}}},
    )

    assert sandbox.counters()["billed"]["comments"] == math.ceil(len(sandbox.truth.comments(sku)) / 10)


@pytest.mark.parametrize("dialect", ["live", "seed"])
def test_orders_of_a_day_match_the_ground_truth_in_both_dialects(sandbox, db_path, instance, dialect):
    resources = gateway_resources(sandbox.env() | {"JD_JOS_DIALECT": dialect}, db_path)
    day = order_days(sandbox)[0]

    materialize(raw_orders, day, resources, instance)

    truth = sandbox.truth.orders(date.fromisoformat(day), dialect=dialect)
    id_field, state_field = ("orderId", "orderState") if dialect == "live" else ("order_id", "order_state")
    expected = sorted((str(o[id_field]), o[state_field], dialect) for o in truth)
    assert rows(db_path, "SELECT order_id, order_state, dialect FROM raw.orders ORDER BY 1") == expected
    assert expected


def test_rematerializing_a_recent_day_picks_up_order_state_changes(sandbox, resources, instance, db_path):
    day = order_days(sandbox)[0]
    materialize(raw_orders, day, resources, instance)
    before = dict(rows(db_path, "SELECT order_id, order_state FROM raw.orders"))

    sandbox.advance(days=5)
    materialize(raw_orders, day, resources, instance)

    after = dict(rows(db_path, "SELECT order_id, order_state FROM raw.orders"))
    truth = {o["orderId"]: o["orderState"] for o in sandbox.truth.orders(date.fromisoformat(day))}
    assert after == truth
    assert after != before, "five days later some orders of the day should have moved on"


def test_tracks_land_for_shipped_orders(sandbox, resources, instance, db_path):
    day = order_days(sandbox)[1]
    materialize(raw_orders, day, resources, instance)

    tracked = rows(db_path, "SELECT order_id, record FROM raw.order_tracks ORDER BY 1")
    assert tracked
    for order_id, record in tracked:
        assert duckdb.sql(f"SELECT json_array_length('{record}')").fetchone()[0] == len(
            sandbox.truth.order_tracks(order_id)
        )


def test_one_order_whose_tracks_are_refused_402_does_not_fail_its_day(sandbox, resources, instance, db_path):
    day = order_days(sandbox)[1]
    shipped = [
        o["orderId"]
        for o in sandbox.truth.orders(date.fromisoformat(day))
        if o["orderState"] not in ("WAIT_SELLER_STOCK_OUT", "WAIT_SELLER_DELIVERY")
    ]
    sandbox.fail_item(shipped[0], 402)  # seed 003: "402 Invalid order ID/No access", for that order only

    result = materialize(raw_orders, day, resources, instance)

    assert result.success
    tracked = {o for (o,) in rows(db_path, "SELECT order_id FROM raw.order_tracks")}
    assert tracked == set(shipped[1:]), "every other shipped order has its tracks; the refused one has none"
    assert len(rows(db_path, "SELECT order_id FROM raw.orders")) == len(
        sandbox.truth.orders(date.fromisoformat(day))
    ), "the refused order itself still lands"
    tracks_metadata = metadata_of(result, "raw_order_tracks")
    assert tracks_metadata["tracks_refused"] == 1
    assert tracks_metadata["tracks_refused_orders"] == [shipped[0]]


def test_pending_details_are_polled_and_never_landed_as_rows(db_path, instance):
    with Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=3)) as sandbox:
        resources = gateway_resources(sandbox.env(), db_path)
        sku = sandbox.truth.sku_ids()[0]

        result = materialize(raw_item_details, sku, resources, instance)

        assert metadata_of(result, "raw_item_details")["polls"] == 4
        assert sandbox.counters()["billed"]["details"] == 4
    landed = rows(db_path, "SELECT sku_id, record->>'$.title', record->'$.taskStatus' FROM raw.item_details")
    assert landed == [(sku, sandbox.truth.detail(sku)["title"], None)]


def test_details_still_pending_at_the_deadline_fail_the_partition_as_retryable(db_path, instance):
    with Sandbox(SandboxConfig(seed=11, scale="tiny", details_pending_polls=10_000)) as sandbox:
        resources = gateway_resources(sandbox.env(), db_path, justone={"details_deadline_s": 0.3})
        sku = sandbox.truth.sku_ids()[0]

        result = materialize(raw_item_details, sku, resources, instance, raise_on_error=False)

    assert not result.success
    assert f"item {sku}" in failure_message(result)
    assert "pending" in failure_message(result)
    assert not db_path.exists(), "nothing may be written for a partition that was never fetched whole"


def test_a_sku_the_gateway_does_not_know_fails_its_partition_naming_it(sandbox, resources, instance):
    result = materialize(raw_comments, "99999999999999", resources, instance, raise_on_error=False)

    assert not result.success
    assert "99999999999999" in failure_message(result)


def test_a_partition_key_that_is_not_an_id_is_refused_before_any_call(sandbox, resources, instance):
    result = materialize(raw_comments, "../etc", resources, instance, raise_on_error=False)

    assert "invalid jd_item '../etc'" in failure_message(result)
    assert sum(sandbox.counters()["requests"].values()) == 0


@pytest.mark.parametrize(("code", "advice"), [(100, "JD_JUSTONE_TOKEN"), (303, "quota"), (601, "balance")])
def test_run_stop_codes_fail_at_once_without_retrying(sandbox, resources, instance, code, advice):
    sku = sandbox.truth.sku_ids()[0]
    sandbox.force_code(gateway="justone", code=code)

    result = materialize(raw_comments, sku, resources, instance, raise_on_error=False)

    assert not result.success
    assert advice.lower() in failure_message(result).lower()
    assert sandbox.counters()["requests"]["comments"] == 1


def test_transient_faults_are_retried_and_counted(db_path, instance):
    faults = {"code_301": 0.3, "http_5xx": 0.1, "malformed": 0.1}
    with Sandbox(SandboxConfig(seed=3, scale="tiny")) as sandbox:
        from jd_sandbox import Faults

        sandbox.set_faults(Faults(**faults))
        resources = gateway_resources(sandbox.env(), db_path, max_attempts=12)
        sku = max(sandbox.truth.sku_ids(), key=lambda s: len(sandbox.truth.comments(s)))

        result = materialize(raw_comments, sku, resources, instance)

        meta = metadata_of(result)
        injected = sum(sandbox.counters()["faults"].values())
        assert injected > 0
        assert meta["retries"] == injected
        assert meta["rows_new"] == len(sandbox.truth.comments(sku))


def test_wares_land_with_ids_beyond_two_to_the_53(sandbox, resources, instance, db_path):
    ware = max(sandbox.truth.ware_ids(), key=int)

    materialize(raw_wares, ware, resources, instance)

    assert rows(db_path, "SELECT ware_id, record->>'$.wareId' FROM raw.wares") == [(ware, ware)]


def test_every_raw_materialization_carries_counts_and_a_preview(sandbox, resources, instance, db_path):
    sku = max(sandbox.truth.sku_ids(), key=lambda s: len(sandbox.truth.comments(s)))
    day = order_days(sandbox)[0]

    results = [
        materialize(raw_comments, sku, resources, instance),
        materialize(raw_orders, day, resources, instance),
    ]

    other = next(s for s in sandbox.truth.sku_ids() if s != sku and sandbox.truth.comments(s))
    materialize(raw_comments, other, resources, instance)
    events = [e for r in results for e in r.get_asset_materialization_events()]
    assert len(events) == 3  # comments, orders, tracks
    for event in events:
        metadata = event.materialization.metadata
        assert metadata["dagster/partition_row_count"].value > 0
        assert metadata["dagster/row_count"].value >= metadata["dagster/partition_row_count"].value
        preview = metadata["preview"].value
        assert preview.count("\n") >= 2, preview  # a header, a rule and at least one row
    # the table's count covers every partition, the partition's only its own
    table_rows = rows(db_path, "SELECT count(*), count(*) FILTER (WHERE sku_id = ?) FROM raw.comments", [sku])
    comments = next(e for e in events if e.asset_key == dg.AssetKey("raw_comments")).materialization.metadata
    assert comments["dagster/partition_row_count"].value == table_rows[0][1]
    later = instance.get_latest_materialization_event(raw_comments.key).asset_materialization.metadata
    assert later["dagster/row_count"].value == table_rows[0][0] > table_rows[0][1]
    orders_preview = next(e for e in events if e.asset_key == dg.AssetKey("raw_orders")).materialization
    assert "consignee" not in orders_preview.metadata["preview"].value.lower()


def test_a_day_that_has_not_begun_is_refused_naming_today(resources):
    future = (date.today() + timedelta(days=3)).isoformat()
    context = dg.build_asset_context(partition_key=future)
    with pytest.raises(dg.Failure, match=f"orders of {future}: that Beijing day has not begun"):
        next(iter(raw_orders(context, jos=resources["jos"], warehouse=resources["warehouse"])))


def test_an_empty_day_says_so(sandbox, resources, instance):
    empty = next(
        (sandbox.now.date() - timedelta(days=k)).isoformat()
        for k in range(1, 400)
        if not sandbox.truth.orders(sandbox.now.date() - timedelta(days=k))
    )
    result = materialize(raw_orders, empty, resources, instance)
    assert metadata_of(result, "raw_orders")["empty_day"] is True


def test_the_demo_and_the_served_sandbox_follow_the_real_date():
    from datetime import UTC, datetime

    from jd_sandbox import today_start

    assert today_start(datetime(2026, 11, 25, 17, 30, tzinfo=UTC)).isoformat() == "2026-11-26T00:00:00+08:00"
    assert today_start().date() >= date(2026, 1, 1)
