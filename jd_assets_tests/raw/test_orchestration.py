"""Orchestration: the definitions load, sensors keep partitions in step with the tracked-items file and
the landed data, schedules request the right partitions, parallel runs share the DuckDB file, and no
secret reaches the event log, the compute logs, Python logs, exceptions or DuckDB."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from jd_assets.raw import sensors
from jd_assets.raw.assets import raw_comments, raw_item_details, raw_orders, raw_wares
from jd_assets.raw.landing import batch, land
from jd_assets.raw.refresh import raw_comments_refresh_job
from jd_assets.raw.schedules import comments_daily_schedule, orders_daily_schedule
from jd_assets.raw.tables import ITEM_DETAILS, ORDERS
from jd_assets.warehouse import DuckDBWarehouse
from jd_assets_tests.conftest import gateway_resources
from jd_sandbox import Faults, Sandbox, SandboxConfig

FETCHED = datetime(2026, 3, 10, tzinfo=UTC)


def evaluate(sensor, instance, warehouse, cursor=None, *, launch=True):
    """Evaluate a sensor as the daemon does: apply its partition requests, then queue a run per run
    request (``launch=False``: the daemon stopped before launching them)."""
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"warehouse": warehouse}, sensor_name=sensor.name
    ) as context:
        result = sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.AddDynamicPartitionsRequest):
                instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
            else:
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
        for request in result.run_requests if launch else []:
            queue_run(instance, request.partition_key, request.asset_selection, sensor.name)
    return result


def queue_run(instance, partition_key, asset_selection, sensor_name, status=dg.DagsterRunStatus.NOT_STARTED):
    """A run of ``asset_selection`` for one partition, as the daemon creates it before launching it."""
    return instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            run_id=str(uuid.uuid4()),
            tags={"dagster/partition": partition_key, "dagster/sensor_name": sensor_name},
            asset_selection=frozenset(asset_selection),
            status=status,
        )
    )


def write_tracked(path: Path, *lines: str) -> None:
    path.write_text("\n".join(["# tracked SKUs", "sku_id", *lines]) + "\n", encoding="utf-8")


@pytest.fixture
def tracked_file(tmp_path, monkeypatch):
    path = tmp_path / "tracked_items.csv"
    monkeypatch.setenv("JD_TRACKED_ITEMS_PATH", str(path))
    return path


@pytest.fixture
def warehouse(db_path):
    return DuckDBWarehouse(database=str(db_path))


def land_order(warehouse, day: str, sku: str, ware: str) -> None:
    record = {
        "orderId": "5001",
        "orderStartTime": f"{day} 10:00:00",
        "orderState": "FINISHED_L",
        "itemInfoList": [{"skuId": sku, "wareId": ware, "itemTotal": "1", "jdPrice": "9.90"}],
    }
    with warehouse.write() as con:
        land(
            con,
            ORDERS,
            batch([record], page=1, request_key=day),
            partition_key=day,
            partition_value=date.fromisoformat(day),
            run_id="r",
            fetched_at=FETCHED,
        )


def test_definitions_load_with_every_job_schedule_and_sensor(monkeypatch):
    import importlib

    import jd_assets.definitions as module

    defs = importlib.reload(module).defs
    repo = defs.get_repository_def()
    assert {"raw_orders_job", "raw_comments_job", "raw_item_details_job", "raw_wares_job"} <= set(
        repo.job_names
    )
    assert {s.name for s in repo.schedule_defs} >= {"orders_daily_schedule", "comments_daily_schedule"}
    assert {s.name for s in repo.sensor_defs} >= {
        "tracked_items_sensor",
        "order_skus_sensor",
        "ware_links_sensor",
    }
    derived = repo.get_sensor_def("derived_tables_automation_sensor")
    assert derived.default_status == dg.DefaultSensorStatus.RUNNING, "derived tables follow raw unprompted"
    for key in ("raw_comments", "raw_item_details", "raw_wares", "raw_orders", "raw_order_tracks"):
        spec = defs.resolve_assets_def(key).specs_by_key[dg.AssetKey(key)]
        assert spec.group_name == "raw" and spec.kinds and spec.description


def test_tracked_items_sensor_adds_the_file_keys_and_requests_their_runs(tracked_file, instance, warehouse):
    write_tracked(tracked_file, "100001", "100002")

    result = evaluate(sensors.tracked_items_sensor, instance, warehouse)

    assert sorted(instance.get_dynamic_partitions("jd_item")) == ["100001", "100002"]
    assert sorted(r.partition_key for r in result.run_requests) == ["100001", "100002"]
    assert set(result.run_requests[0].asset_selection) == {raw_comments.key, raw_item_details.key}


def test_tracked_items_file_refuses_keys_that_are_not_ids_naming_the_line(tracked_file, instance, warehouse):
    write_tracked(tracked_file, "100001", "12ab", "../../etc/passwd", "1" * 25)

    keys, refused = sensors.read_tracked_items(tracked_file)
    evaluate(sensors.tracked_items_sensor, instance, warehouse)

    assert keys == ["100001"]
    assert len(refused) == 3
    assert "line 4" in refused[0] and "'12ab'" in refused[0]
    assert instance.get_dynamic_partitions("jd_item") == ["100001"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"], ids=["CSV UTF-8 (BOM)", "Unicode text"])
def test_a_tracked_items_file_saved_by_excel_with_a_byte_order_mark_is_read(
    tracked_file, instance, warehouse, encoding
):
    separator = "\t" if encoding == "utf-16" else ","
    lines = [f"sku_id{separator}名称", f"100001{separator}手机", f"100002{separator}耳机"]
    tracked_file.write_bytes("\r\n".join(lines).encode(encoding))

    evaluate(sensors.tracked_items_sensor, instance, warehouse)

    assert sorted(instance.get_dynamic_partitions("jd_item")) == ["100001", "100002"]


def test_a_gbk_tracked_items_file_fails_naming_the_file_the_line_and_what_to_do(
    tracked_file, instance, warehouse
):
    tracked_file.write_bytes("sku_id,名称\r\n100001,phone\r\n100002,手机\r\n".encode("gbk"))

    with pytest.raises(sensors.TrackedItemsError) as raised:
        evaluate(sensors.tracked_items_sensor, instance, warehouse)

    assert str(raised.value).startswith(f"{tracked_file} line 1: not UTF-8 text")
    assert "save it as UTF-8" in str(raised.value)
    tracked_file.write_bytes("sku_id,name\r\n100001,phone\r\n100002,手机\r\n".encode("gbk"))
    with pytest.raises(sensors.TrackedItemsError, match=f"^{tracked_file} line 3: not UTF-8 text"):
        evaluate(sensors.tracked_items_sensor, instance, warehouse)
    assert instance.get_dynamic_partitions("jd_item") == []


def test_a_sensor_adding_more_partitions_than_the_limit_adds_none_until_the_limit_is_raised(
    tracked_file, instance, warehouse, monkeypatch
):
    monkeypatch.delenv(sensors.MAX_NEW_ENV, raising=False)
    write_tracked(tracked_file, *(str(100_000_000 + n) for n in range(100_000)))

    with pytest.raises(sensors.TooManyNewPartitions) as raised:
        evaluate(sensors.tracked_items_sensor, instance, warehouse)

    message = str(raised.value)
    assert "tracked_items_sensor would add 100000 jd_item partitions at once" in message
    assert f"more than {sensors.MAX_NEW_ENV}=1000: nothing was added" in message
    assert instance.get_dynamic_partitions("jd_item") == []
    write_tracked(tracked_file, *(str(100_000_000 + n) for n in range(5)))
    monkeypatch.setenv(sensors.MAX_NEW_ENV, "4")
    with pytest.raises(
        sensors.TooManyNewPartitions, match="raise JD_SENSOR_MAX_NEW_PARTITIONS to at least 5"
    ):
        evaluate(sensors.tracked_items_sensor, instance, warehouse)
    monkeypatch.setenv(sensors.MAX_NEW_ENV, "5")  # the confirmation
    assert len(evaluate(sensors.tracked_items_sensor, instance, warehouse).run_requests) == 5
    assert len(instance.get_dynamic_partitions("jd_item")) == 5


def test_a_key_removed_from_the_file_is_removed_unless_an_order_brought_it(tracked_file, instance, warehouse):
    write_tracked(tracked_file, "100001", "100002", "100003")
    first = evaluate(sensors.tracked_items_sensor, instance, warehouse)
    land_order(warehouse, "2026-03-01", sku="100003", ware="900")
    write_tracked(tracked_file, "100001")

    evaluate(sensors.tracked_items_sensor, instance, warehouse, cursor=first.cursor)

    assert sorted(instance.get_dynamic_partitions("jd_item")) == ["100001", "100003"]


def test_a_known_key_whose_run_was_lost_gets_one_and_a_key_with_any_run_does_not(
    tracked_file, instance, warehouse
):
    write_tracked(tracked_file, "100001", "100002", "100003")
    evaluate(sensors.tracked_items_sensor, instance, warehouse, launch=False)  # the daemon stopped here
    queue_run(instance, "100002", sensors.ITEM_ASSETS, "order_skus_sensor", dg.DagsterRunStatus.FAILURE)

    again = evaluate(sensors.tracked_items_sensor, instance, warehouse)
    after = evaluate(sensors.tracked_items_sensor, instance, warehouse)

    assert sorted(r.partition_key for r in again.run_requests) == ["100001", "100003"], (
        "keys without a run get one; 100002's failed run (JD refused it) is left to the user"
    )
    assert set(again.run_requests[0].asset_selection) == set(sensors.ITEM_ASSETS)
    assert after.skip_reason is not None, "a run that is not finished yet is not requested again"


def test_order_skus_sensor_adds_every_sku_bought_in_landed_orders(instance, warehouse):
    land_order(warehouse, "2026-03-01", sku="100777", ware="900")

    result = evaluate(sensors.order_skus_sensor, instance, warehouse)
    again = evaluate(sensors.order_skus_sensor, instance, warehouse)

    assert instance.get_dynamic_partitions("jd_item") == ["100777"]
    assert [r.partition_key for r in result.run_requests] == ["100777"]
    assert again.skip_reason is not None, "known keys are not requested twice"


def test_ware_links_sensor_adds_wares_from_orders_and_details(instance, warehouse):
    land_order(warehouse, "2026-03-01", sku="100777", ware="900")
    with warehouse.write() as con:
        land(
            con,
            ITEM_DETAILS,
            batch([{"itemId": "100888", "wareId": "901"}], request_key="100888"),
            partition_key="100888",
            partition_value="100888",
            run_id="r",
            fetched_at=FETCHED,
        )

    result = evaluate(sensors.ware_links_sensor, instance, warehouse)

    assert sorted(instance.get_dynamic_partitions("jd_ware")) == ["900", "901"]
    assert {r.partition_key for r in result.run_requests} == {"900", "901"}
    assert result.run_requests[0].asset_selection == [raw_wares.key]


def test_orders_schedule_rematerializes_the_lookback_window(monkeypatch, instance):
    monkeypatch.setenv("JD_ORDERS_LOOKBACK_DAYS", "3")
    tick = datetime(2026, 3, 10, 2, 30)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)

    requests = list(orders_daily_schedule(context))

    assert [r.partition_key for r in requests] == ["2026-03-09", "2026-03-08", "2026-03-07"]


def test_comments_schedule_refreshes_every_tracked_sku_in_one_run(instance):
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=datetime(2026, 3, 10, 4))
    assert isinstance(comments_daily_schedule(context), dg.SkipReason)
    instance.add_dynamic_partitions("jd_item", ["100001", "100002"])

    request = comments_daily_schedule(context)

    assert isinstance(request, dg.RunRequest) and request.partition_key is None
    assert request.run_key == "comments-2026-03-10"


def refresh_run(resources, instance, **config):
    return raw_comments_refresh_job.execute_in_process(
        instance=instance,
        resources={k: resources[k] for k in ("justone", "warehouse")},
        run_config={"ops": {"refresh_comment_partitions": {"config": config}}},
        raise_on_error=False,
    )


def test_the_daily_refresh_run_materializes_each_sku_as_its_own_partition(
    sandbox, resources, instance, db_path
):
    skus = sandbox.truth.sku_ids()
    broken = next(s for s in skus if sandbox.truth.comments(s))
    instance.add_dynamic_partitions("jd_item", skus)
    sandbox.fail_item(broken, code=404)

    result = refresh_run(resources, instance)

    assert not result.success
    message = "\n".join(
        str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure
    )
    assert f"1 of {len(skus)} SKUs failed, 1 of them refused by JD ({broken}:" in message
    materialized = instance.get_materialized_partitions(raw_comments.key)
    assert materialized == set(skus) - {broken}
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    landed = dict(con.execute("SELECT sku_id, count(*) FROM raw.comments GROUP BY 1").fetchall())
    con.close()
    assert landed == {
        s: len(sandbox.truth.comments(s)) for s in skus if s != broken and sandbox.truth.comments(s)
    }


def test_the_daily_refresh_stops_at_once_on_a_quota_error(sandbox, resources, instance):
    instance.add_dynamic_partitions("jd_item", sandbox.truth.sku_ids())
    sandbox.force_code(gateway="justone", code=303)

    result = refresh_run(resources, instance, parallel_items=2)

    assert not result.success
    assert sum(sandbox.counters()["requests"].values()) <= 2, "one call per SKU in flight, then nothing"
    assert not instance.get_materialized_partitions(raw_comments.key)


MATERIALIZE_ONE = textwrap.dedent(
    """
    import sys, dagster as dg
    from jd_assets.raw.assets import raw_comments
    from jd_assets_tests.conftest import gateway_resources
    env = dict(arg.split("=", 1) for arg in sys.argv[3:])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("jd_item", [sys.argv[2]])
        result = dg.materialize([raw_comments], partition_key=sys.argv[2], instance=instance,
                                resources=gateway_resources(env, sys.argv[1]))
    sys.exit(0 if result.success else 1)
    """
)


def test_two_runs_on_different_partitions_at_the_same_time_both_succeed(sandbox, db_path):
    busiest = sorted(sandbox.truth.sku_ids(), key=lambda s: -len(sandbox.truth.comments(s)))[:2]
    env_args = [f"{k}={v}" for k, v in sandbox.env().items()]

    runs = [
        subprocess.Popen(
            [sys.executable, "-c", MATERIALIZE_ONE, str(db_path), sku, *env_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for sku in busiest
    ]
    outputs = [run.communicate(timeout=240)[0].decode(errors="replace") for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    import duckdb

    con = duckdb.connect(str(db_path), read_only=True)
    counts = dict(con.execute("SELECT sku_id, count(*) FROM raw.comments GROUP BY 1").fetchall())
    con.close()
    assert counts == {sku: len(sandbox.truth.comments(sku)) for sku in busiest}


SECRETS = {
    "token": "tok-LEAKCHECK-7c1d9e",
    "jos_app_secret": "jossecret-LEAKCHECK-52ab",
    "jos_access_token": "access-LEAKCHECK-913f",
    "fengchao_app_secret": "fcsecret-LEAKCHECK-0e77",
}


def test_secrets_never_reach_event_logs_compute_logs_python_logs_exceptions_or_duckdb(
    tmp_path, caplog, capfd
):
    caplog.set_level("DEBUG")
    home = tmp_path / "dagster_home"
    home.mkdir()
    db_path = tmp_path / "jd.duckdb"
    errors: list[str] = []
    config = SandboxConfig(seed=11, scale="tiny", details_pending_polls=1, **SECRETS)
    with Sandbox(config) as sandbox, dg.instance_for_test(temp_dir=str(home)) as instance:
        resources = gateway_resources(sandbox.env(), db_path, max_attempts=20)
        sku = sandbox.truth.sku_ids()[0]
        ware = sandbox.truth.sku_to_ware()[sku]
        day = (sandbox.now.date().fromordinal(sandbox.now.date().toordinal() - 1)).isoformat()
        instance.add_dynamic_partitions("jd_item", [sku])
        instance.add_dynamic_partitions("jd_ware", [ware])
        sandbox.set_faults(Faults(code_301=0.2, http_5xx=0.1, malformed=0.05))
        for asset, key in (
            (raw_comments, sku),
            (raw_item_details, sku),
            (raw_wares, ware),
            (raw_orders, day),
        ):
            result = dg.materialize([asset], partition_key=key, resources=resources, instance=instance)
            assert result.success
        sandbox.set_faults(Faults())
        sandbox.force_code(gateway="justone", code=100)
        failed = dg.materialize(
            [raw_comments], partition_key=sku, resources=resources, instance=instance, raise_on_error=False
        )
        assert not failed.success
        errors += [str(e.step_failure_data.error) for e in failed.all_events if e.is_step_failure]
        bad_signature = gateway_resources(
            sandbox.env() | {"JD_JOS_APP_SECRET": SECRETS["jos_app_secret"] + "-wrong"}, db_path
        )
        failed = dg.materialize(
            [raw_orders], partition_key=day, resources=bad_signature, instance=instance, raise_on_error=False
        )
        errors += [str(e.step_failure_data.error) for e in failed.all_events if e.is_step_failure]
        assert "signature" in errors[-1].lower()
        retried = sum(sandbox.counters()["faults"].values())
        assert retried > 0, "the run must have gone through retries for this test to mean anything"

    captured = capfd.readouterr()
    texts = {
        "python logs": caplog.text,
        "stdout/stderr": captured.out + captured.err,
        "exceptions": "\n".join(errors),
    }
    files = [p for p in [*home.rglob("*"), *tmp_path.glob("jd.duckdb*")] if p.is_file()]
    assert any(p.suffix == ".db" for p in files), "the event log storage must have been written"
    assert any("compute_logs" in str(p) for p in files), "the compute logs must have been written"
    assert any(sku.encode() in p.read_bytes() for p in files), "the grep must see what the runs wrote"
    for secret in SECRETS.values():
        for where, text in texts.items():
            assert secret not in text, f"{secret} leaked into {where}"
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path}"
