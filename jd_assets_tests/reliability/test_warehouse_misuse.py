"""The DuckDB file misused (issue 15, items 2, 3 and 9): a damaged file, a file held by an analyst, a
bad ``JD_DUCKDB_PATH``. Each fails at once and clearly, or waits visibly, never silently or late."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_assets.raw.assets import raw_comments, raw_item_details
from jd_assets.warehouse import DuckDBWarehouse, WarehouseFileError, WarehouseLockTimeout
from jd_assets_tests.conftest import gateway_resources

pytestmark = pytest.mark.reliability


def failure_text(result) -> str:
    """Every error of the run: a step's, or a resource's that failed to start (before any step ran)."""
    errors = (getattr(e.event_specific_data, "error", None) for e in result.all_events)
    return "\n".join(str(error) for error in errors if error)


def materialize(asset, key, resources, instance):
    instance.add_dynamic_partitions(asset.partitions_def.name, [key])
    return dg.materialize(
        [asset], partition_key=key, resources=resources, instance=instance, raise_on_error=False
    )


# -- item 2: a damaged file is not a lock --------------------------------------------------------------


def damaged_file(path: Path) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA raw")
    con.execute("CREATE TABLE raw.t AS SELECT range AS i, repeat('x', 100) AS s FROM range(100000)")
    con.close()
    with open(path, "r+b") as handle:  # a bad sector in the first data block: its checksum fails
        handle.seek(8192 + 100)
        handle.write(b"\xff" * 64)
    return path


@pytest.mark.parametrize("damage", ["checksum", "not a database"])
def test_a_corrupt_file_fails_at_once_naming_the_file_and_what_to_do(tmp_path, damage):
    path = tmp_path / "jd.duckdb"
    if damage == "checksum":
        damaged_file(path)
    else:
        path.write_bytes(b"this is not a DuckDB file, lock or no lock\n" * 200)
    warehouse = DuckDBWarehouse(database=str(path), lock_timeout_s=600)

    started = time.monotonic()
    with pytest.raises(WarehouseFileError) as raised, warehouse.write() as con:
        con.execute("SELECT count(*) FROM raw.t").fetchall()
    elapsed = time.monotonic() - started

    message = str(raised.value)
    assert elapsed < 5, f"a damaged file must fail at once, not wait {elapsed:.0f}s of the lock timeout"
    assert str(path) in message and "JD_DUCKDB_PATH" in message
    assert "waited" not in message
    if damage == "checksum":
        assert "damaged" in message and "block at location 8192" in message
        assert "Restore it from a backup" in message and "raw from the gateways" in message
        assert "clean and marts, which are derived" in message


# -- item 3: waiting for an analyst is visible ---------------------------------------------------------

ANALYST = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print("holding", flush=True)
    sys.stdin.readline()
    print(time.time(), flush=True)
    con.close()
    """
)


def analyst_holding(path: Path) -> subprocess.Popen:
    """An analyst's read-only session (as the README recommends) holding the file until told to go."""
    process = subprocess.Popen(
        [sys.executable, "-c", ANALYST, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "holding"
    return process


def release_once_logged(
    analyst: subprocess.Popen, instance: dg.DagsterInstance, message: str
) -> threading.Thread:
    """Let the analyst go once a run of ``instance`` has logged ``message`` (or after 120 s, so a
    failing run fails the test instead of hanging it)."""

    def watch() -> None:
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up and not any(
            message in (entry.user_message or "")
            for run in instance.get_runs()
            for entry in instance.all_logs(run.run_id)
        ):
            time.sleep(0.1)
        analyst.stdin.write("go\n")
        analyst.stdin.flush()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def test_waiting_for_an_analyst_is_logged_naming_the_holder_and_recorded_in_the_metadata(
    sandbox, db_path, instance
):
    duckdb.connect(str(db_path)).close()
    resources = gateway_resources(sandbox.env(), db_path)
    resources["warehouse"] = DuckDBWarehouse(database=str(db_path), wait_log_every_s=1.0)
    sku = sandbox.truth.sku_ids()[0]
    analyst = analyst_holding(db_path)
    watcher = release_once_logged(analyst, instance, "still waiting for DuckDB's file lock")
    try:
        result = materialize(raw_comments, sku, resources, instance)
    finally:
        watcher.join()
        released_at = float(analyst.stdout.readline())
        analyst.wait()

    assert result.success, failure_text(result)
    (event,) = result.get_asset_materialization_events()
    waited = event.materialization.metadata["wait_seconds"].value
    entries = [e for e in instance.all_logs(result.run_id) if e.user_message]
    waiting = [e.user_message for e in entries if "waiting for DuckDB's file lock" in e.user_message]
    (got,) = [e for e in entries if e.user_message.startswith("got DuckDB's file lock")]
    print(f"waited {waited:.2f}s; {len(waiting)} wait lines, first: {waiting[0] if waiting else None}")
    assert waiting[0].startswith("waiting for DuckDB's file lock on " + str(db_path))
    assert f"(PID {analyst.pid})" in waiting[0], "the log names the holding process"
    assert any(m.startswith("still waiting") for m in waiting), "the wait is logged again every few seconds"
    assert waited >= 1.0, "the metadata records the wait, which lasted past the first repeat of the log line"
    assert got.timestamp >= released_at, "the run got the lock only once the analyst let go of the file"


def test_the_lock_timeout_names_the_holding_process(db_path):
    duckdb.connect(str(db_path)).close()
    analyst = analyst_holding(db_path)
    try:
        with (
            pytest.raises(WarehouseLockTimeout) as raised,
            DuckDBWarehouse(database=str(db_path), lock_timeout_s=0.5).write(),
        ):
            pass
    finally:
        analyst.kill()
        analyst.wait()

    assert f"waited 0s for DuckDB's file lock on {db_path}" in str(raised.value)
    assert f"(PID {analyst.pid})" in str(raised.value)


# -- item 9: a bad JD_DUCKDB_PATH fails before the first billed call -----------------------------------


def bad_path(tmp_path: Path, kind: str) -> Path:
    if kind == "a folder":
        (tmp_path / "warehouse").mkdir()
        return tmp_path / "warehouse"
    if kind == "a parent that is a file":
        (tmp_path / "data").write_text("a file where a folder should be")
        return tmp_path / "data" / "jd.duckdb"
    raise ValueError(kind)


@pytest.mark.parametrize(
    ("kind", "says"), [("a folder", "is a folder"), ("a parent that is a file", "is a file, not a folder")]
)
def test_a_bad_duckdb_path_fails_before_any_billed_call_naming_the_variable(
    kind, says, sandbox, tmp_path, instance
):
    path = bad_path(tmp_path, kind)
    resources = gateway_resources(sandbox.env(), path)
    sku = sandbox.truth.sku_ids()[0]
    sandbox.reset_counters()

    result = materialize(raw_item_details, sku, resources, instance)

    assert not result.success
    text = failure_text(result)
    assert f"JD_DUCKDB_PATH={path}" in text and says in text
    assert "PermissionError" not in text and "FileExistsError" not in text
    assert sum(sandbox.counters()["requests"].values()) == 0, "no details call was made (nor billed)"


def test_a_read_only_folder_is_refused_naming_the_variable(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    # root writes through file modes: as root, the folder is made immutable (chattr +i) instead
    as_root = os.geteuid() == 0
    if as_root:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    else:
        folder.chmod(0o555)
    try:
        with pytest.raises(WarehouseFileError) as raised:
            DuckDBWarehouse(database=str(folder / "jd.duckdb")).check_path()
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        folder.chmod(0o755)

    assert str(raised.value).startswith(f"JD_DUCKDB_PATH={folder / 'jd.duckdb'}: cannot write in {folder}")
    assert "not permitted" in str(raised.value) or "denied" in str(raised.value)
