"""11. DuckLake against the single file: landing, full rebuild, incremental update, 4 writers at once.

The raw tables of benchmark 4 (0.5M and 5M comments, cached in ``bench/.work/b4``) are the starting point
of both backends, with ``clean.review_signals`` already scored: benchmark 4's cached scores of that raw
file (``b4_derived.signals``, made once by the package; seeded by ``b4_derived.with_signals``). Scoring is
incremental by design and a full rebuild does not rescore, while a first scoring of 5M reviews alone takes
about 20 minutes of CPU per backend: without them the 5M rebuild would measure the scoring, not the
rebuild. The file is a copy of benchmark 4's raw file seeded with those scores; the lake is a new DuckLake
(catalog in a throwaway PostgreSQL started here, Parquet files in ``bench/.work/b11``) into which that
file's raw tables and scores are copied (setup, not timed, the same on both sides). Then, each in its own
child process, on each backend, the two backends alternating which goes first from one part to the next:

- landing: 100 new SKU partitions of 100 comments, one ``transact()`` + ``land()`` each (as raw_comments);
- incremental update: 50 SKUs already there re-landed with their comments plus 5 new ones (the merge:
  known comments get ``last_seen_at``, new ones are added);
- full rebuild: every clean and mart asset in one ``dg.materialize`` (as ``derived_tables_job``); no clean
  or mart table exists yet but the preloaded scores, so each is built whole and ``clean_review_signals``
  scores only the reviews the parts before it landed (none when the rebuild runs alone);
- 4 writers: 4 processes landing disjoint new partitions at once (50 SKUs of 100 comments each), against
  one process landing 50 SKUs lying as theirs do (``_writer_rounds``; ``B11_KEYS=blocks``: in one block
  above them all, as before): rows/s together over rows/s alone; lock failures and conflicts counted. One and
  four writers alternate (``B11_REPS`` rounds, default 2), so both see the same machine load and the same
  number of files in the lake; the CPU seconds the writers used per partition are reported beside. Each
  writer run starts after the package's lake maintenance (``maintain_lake``, what ``lake_maintenance_job``
  runs; untimed), as on a lake whose maintenance schedule is on; ``B11_MAINTAIN=0`` leaves it out.

``B11_PARTS`` picks the parts, a comma list in the order above (default all four):
``landing,incremental,rebuild`` is everything but the writers (whose figure needs an idle machine),
``lake-writers`` the writers on the lake alone. ``B11_SESSIONS=1`` starts each writer in a session of its
own (see bench/RESULTS.lake.md: with the kernel's autogroup scheduling, processes of one session share one
session's CPU on a loaded machine).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, ROOT, Row, run_child, workdir

PER_SKU = 100


def _warehouse(database: str, data_path: str = ""):
    from jd_assets.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(database=database, data_path=data_path)


def _records(sku: str, n: int, start: int = 0) -> list[dict]:
    return [
        {
            "commentId": f"{sku}{i:05d}",
            "productId": sku,
            "commentScore": str(1 + i % 5),
            "commentDate": f"2026-03-{1 + i % 9:02d} 10:{i % 60:02d}:00",
            "commentData": "质量很好，物流很快，包装完好，价格实惠" * 2,
            "userNickName": "b***1",
        }
        for i in range(start, start + n)
    ]


def land_new(database: str, data_path: str, first: int, n_skus: int, lanes: int = 1) -> dict:
    """Land ``n_skus`` new SKU partitions of PER_SKU comments each, one transaction per partition.

    ``lanes``: the SKUs taken in turn from that many blocks of 10,000 from ``first`` (see ``_writer_rounds``).
    """
    from datetime import UTC, datetime

    from jd_assets.raw import tables
    from jd_assets.raw.landing import batch, land

    wh = _warehouse(database, data_path)
    wh.transact(lambda con: None)  # attach the landing connection (once per process) before the clock starts
    skus = [str(first + (k % lanes) * 10_000 + k // lanes) for k in range(n_skus)]
    batches = [(sku, batch(_records(sku, PER_SKU), page=1, request_key=sku)) for sku in skus]
    conflicts = failures = 0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for sku, records in batches:
        try:
            _, retried = wh.transact(
                lambda con, sku=sku, records=records: land(
                    con, tables.COMMENTS, records, partition_key=sku, partition_value=sku,
                    run_id="bench", fetched_at=datetime.now(UTC),
                )
            )  # fmt: skip
            conflicts += retried
        except Exception:
            failures += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "rows": n_skus * PER_SKU,
        "wall_s": wall,
        "cpu_s": cpu,
        "conflicts": conflicts,
        "failures": failures,
    }


def relanding(database: str, data_path: str, n_skus: int) -> dict:
    """Re-land the first ``n_skus`` SKUs with their stored comments plus 5 new ones each (the merge)."""
    from datetime import UTC, datetime

    import pyarrow as pa

    from jd_assets.raw import tables
    from jd_assets.raw.landing import batch, land

    wh = _warehouse(database, data_path)
    with wh.read() as con:
        skus = [s for (s,) in con.execute(
            "SELECT sku_id FROM raw.comments GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT ?", [n_skus]
        ).fetchall()]  # fmt: skip
        stored = {
            s: con.execute("SELECT record::VARCHAR FROM raw.comments WHERE sku_id = ?", [s]).fetchall()
            for s in skus
        }
    work = []
    for sku in skus:
        known = batch([json.loads(r) for (r,) in stored[sku]], page=1, request_key=sku)
        new = batch(
            [{**r, "commentId": f"9{r['commentId']}"} for r in _records(sku, 5)], page=1, request_key=sku
        )
        work.append((sku, pa.concat_tables([new, known])))
    rows = sum(t.num_rows for _, t in work)
    wh.transact(lambda con: None)  # the landing connection attached before the clock starts
    t0 = time.perf_counter()
    for sku, records in work:
        wh.transact(
            lambda con, sku=sku, records=records: land(
                con, tables.COMMENTS, records, partition_key=sku, partition_value=sku,
                run_id="bench", fetched_at=datetime.now(UTC),
            )
        )  # fmt: skip
    return {"rows": rows, "partitions": len(work), "wall_s": time.perf_counter() - t0}


def rebuild(database: str, data_path: str) -> dict:
    import logging

    import dagster as dg

    from b4_derived import PII_KEY
    from jd_assets.clean import CLEAN_ASSETS
    from jd_assets.clean.pii import PiiKey
    from jd_assets.marts import MART_ASSETS

    logging.getLogger("dagster").setLevel(logging.ERROR)
    wh = _warehouse(database, data_path)
    with wh.read():
        pass
    t0 = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [*CLEAN_ASSETS, *MART_ASSETS],
            resources={"warehouse": wh, "pii_key": PiiKey(key=PII_KEY)},
            instance=instance,
        )
        assert result.success
        (signals,) = result.asset_materializations_for_node("clean_review_signals")
    wall = time.perf_counter() - t0
    with wh.read() as con:
        (reviews,) = con.execute("SELECT count(*) FROM marts.product_reviews").fetchone()
    return {
        "wall_s": wall,
        "product_reviews": reviews,
        "scored": signals.metadata["scored_this_run"].value,
        "review_signals": signals.metadata["dagster/row_count"].value,
    }


def copy_into_lake(database: str, data_path: str, source: str) -> dict:
    """The raw tables and the scored ``clean.review_signals`` of a DuckDB file copied into a new lake
    (setup, not a contender)."""
    from jd_assets.raw import tables
    from jd_assets.raw.landing import ensure_table

    wh = _warehouse(database, data_path)
    t0 = time.perf_counter()
    with wh.write() as con:
        con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
        for table in (tables.COMMENTS, tables.ITEM_DETAILS, tables.WARES, tables.ORDERS, tables.ORDER_TRACKS):
            ensure_table(con, table)
            # BY NAME: older caches lack new columns
            con.execute(f"INSERT INTO {table.name} BY NAME SELECT * FROM src.{table.name}")
        con.execute("CREATE SCHEMA IF NOT EXISTS clean")
        con.execute("CREATE TABLE clean.review_signals AS SELECT * FROM src.clean.review_signals")
    return {"wall_s": time.perf_counter() - t0}


def _at_once(database: str, data_path: str, first: int, n_skus: int, writers: int, lanes: int = 1) -> dict:
    """``writers`` child processes landing disjoint new partitions at the same time (writer ``w`` from
    ``first + w * 10,000``, in ``lanes`` blocks; see ``land_new``)."""
    env = {**os.environ, "PYTHONPATH": f"{BENCH}{os.pathsep}{ROOT}"}
    code = (
        "import json, sys, b11_lake; "
        "print(json.dumps(b11_lake.land_new(sys.argv[1], sys.argv[2], *map(int, sys.argv[3:]))))"
    )
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database, data_path, *map(str, (first + w * 10_000, n_skus, lanes))],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            # B11_SESSIONS=1: each writer in a session of its own, so Linux's autogroup scheduler gives it
            # its own share of the cores, as runs on separate hosts or containers would have (a diagnostic)
            start_new_session=os.environ.get("B11_SESSIONS") == "1",
        )
        for w in range(writers)
    ]
    outs = [p.communicate(timeout=3600) for p in procs]
    spread = time.perf_counter() - t0
    results = []
    crashed = 0
    for p, (out, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            crashed += 1
            print(err[-2000:], file=sys.stderr)
        else:
            results.append(json.loads(out.strip().splitlines()[-1]))
    rows = sum(r["rows"] for r in results)
    # rows/s of the group: all rows over the longest landing loop (process start and attach excluded)
    wall = max(r["wall_s"] for r in results) if results else spread
    return {
        "rows": rows,
        "wall_s": wall,
        "cpu_per_partition_s": sum(r["cpu_s"] for r in results) / max(1, writers * n_skus),
        "cpu_per_partition_each_s": [r["cpu_s"] / n_skus for r in results],
        "rows_per_s": rows / wall,
        "conflicts": sum(r["conflicts"] for r in results),
        "failures": sum(r["failures"] for r in results) + crashed,
    }


#: The parts of a measurement, in the order they run on each backend (``B11_PARTS``, a comma list).
PARTS = ("landing", "incremental", "rebuild", "writers")


def _parts() -> list[str]:
    """The parts ``B11_PARTS`` names (default all), in PARTS order; ``lake-writers`` is the writers on the
    lake alone."""
    named = os.environ.get("B11_PARTS", ",".join(PARTS)).split(",")
    unknown = set(named) - {*PARTS, "lake-writers"}
    if unknown:
        raise ValueError(f"B11_PARTS: unknown part(s) {sorted(unknown)}; known: {[*PARTS, 'lake-writers']}")
    return [p for p in (*PARTS, "lake-writers") if p in named]


def _measure(size: str, pg) -> dict:
    from b4_derived import generate, with_signals

    source, counts, _ = generate(size)
    base = workdir(f"b11/{size}")
    file_db = str(base / "jd.duckdb")
    shutil.copy(source, file_db)
    with_signals(Path(file_db), size)  # bench 4's cached scores (untimed); the lake gets the same copied
    name = f"b11_{size.replace('.', '_').lower()}"
    lake = f"ducklake:postgres:{pg.create_database(name)}"
    lake_data = str(base / "lake_data")
    setup = run_child(
        "b11_lake:copy_into_lake", {"database": lake, "data_path": lake_data, "source": file_db}
    )
    out: dict = {"counts": counts, "copy_s": setup["wall_s"], "file": {}, "lake": {}}
    backends = {"file": (file_db, ""), "lake": (lake, lake_data)}
    for k, part in enumerate(_parts()):
        # each part's two backends side by side, the one that goes first alternating from part to part
        order = ["lake"] if part == "lake-writers" else ["file", "lake"][:: 1 if k % 2 == 0 else -1]
        for who in order:
            database, data_path = backends[who]
            args = {"database": database, "data_path": data_path}
            if part == "landing":
                out[who][part] = run_child("b11_lake:land_new", {**args, "first": 8_000_000, "n_skus": 100})
            elif part == "incremental":
                out[who][part] = run_child("b11_lake:relanding", {**args, "n_skus": 50})
            elif part == "rebuild":
                out[who][part] = run_child("b11_lake:rebuild", args)
            else:
                out[who]["writers"] = _writer_rounds(database, data_path)
    shutil.rmtree(base, ignore_errors=True)
    return out


def maintain(database: str, data_path: str) -> dict:
    """The package's lake maintenance (``lake_maintenance_job``'s step), as a user's schedule runs it."""
    from dataclasses import asdict

    from jd_assets.warehouse import maintain_lake

    t0 = time.perf_counter()
    done = maintain_lake(_warehouse(database, data_path))
    return {**asdict(done), "wall_s": time.perf_counter() - t0}


def _maintained(database: str, data_path: str, first: int, writers: int, lanes: int = 1) -> dict:
    """One writer run of 50 partitions each, after the lake's maintenance (untimed) unless
    ``B11_MAINTAIN=0``: a lake whose maintenance is scheduled, as the README asks, has its landings'
    small files merged; without it each run starts on every file the runs before it left."""
    upkeep = None
    if os.environ.get("B11_MAINTAIN", "1") != "0" and database.startswith("ducklake:"):
        upkeep = run_child("b11_lake:maintain", {"database": database, "data_path": data_path})
    return {**_at_once(database, data_path, first, 50, writers, lanes), "maintenance": upkeep}


def _writer_rounds(database: str, data_path: str) -> list[tuple[dict, dict]]:
    """``B11_REPS`` rounds (default 2) of one writer then four, so both see the same load and lake.

    The four writers land blocks of SKUs 10,000 apart, so three of them land keys below the others' newest
    ones: inside the range of the table's ``sku_id`` statistics, where the read of the partition's rows
    before the landing scans the files it cannot rule out (4-6 ms more CPU a landing than a key above that
    range, which DuckDB answers from the statistics alone; bench/RESULTS.lake-writers6.md). The one writer
    takes its SKUs in turn from four such blocks, so its keys lie as the four writers' do; with
    ``B11_KEYS=blocks`` it lands one block (every key above the table's, as before 2026-11-27).
    """
    lanes = 1 if os.environ.get("B11_KEYS") == "blocks" else 4
    return [
        (_maintained(database, data_path, 8_100_000 + rep * 200_000, 1, lanes),
         _maintained(database, data_path, 8_200_000 + rep * 200_000, 4))
        for rep in range(int(os.environ.get("B11_REPS", "2")))
    ]  # fmt: skip


def _writers_ratio(rounds: list[tuple[dict, dict]]) -> float:
    """Rows/s of the four-writer runs over those of the one-writer runs, each summed over the rounds."""
    one = sum(o["rows"] for o, _ in rounds) / sum(o["wall_s"] for o, _ in rounds)
    four = sum(f["rows"] for _, f in rounds) / sum(f["wall_s"] for _, f in rounds)
    return four / one


def _writer_details(backend: str, rounds: list[tuple[dict, dict]]) -> list[str]:
    lines = [
        f"{backend}, round {rep}: one writer x 50 partitions {one['rows_per_s']:,.0f} rows/s "
        f"({one['wall_s']:.1f} s, {one['cpu_per_partition_s'] * 1000:.0f} ms CPU per partition), "
        f"then 4 writers x 50: {four['rows_per_s']:,.0f} rows/s together ({four['wall_s']:.1f} s, "
        f"{four['cpu_per_partition_s'] * 1000:.0f} ms CPU per partition; each writer "
        f"{', '.join(f'{each * 1000:.0f}' for each in four['cpu_per_partition_each_s'])}) -> "
        f"{four['rows_per_s'] / one['rows_per_s']:.2f}x; failures {four['failures'] + one['failures']}, "
        f"conflicts retried {four['conflicts']} (none lost: a failure would count above)."
        + "".join(
            f" Before the {who} run the lake's maintenance (untimed) merged {m['files_merged']} files into "
            f"{m['files_written']} in {m['wall_s']:.1f} s."
            for who, run in (("one-writer", one), ("four-writer", four))
            if (m := run.get("maintenance"))
        )
        for rep, (one, four) in enumerate(rounds, start=1)
    ]
    return [
        *lines,
        f"{backend}: all rounds, 4 writers' rows/s over one writer's -> {_writers_ratio(rounds):.2f}x.",
    ]


def run(quick: bool) -> list[Row]:
    sys.path.insert(0, str(ROOT / "sandbox"))
    from jd_sandbox.postgres import ThrowawayPostgres

    sizes = ["quick"] if quick else ["0.5M", "5M"]
    if os.environ.get("B11_SIZES"):  # e.g. B11_SIZES=0.5M: one size of the full run
        sizes = os.environ["B11_SIZES"].split(",")
    with ThrowawayPostgres() as pg:
        res = {size: _measure(size, pg) for size in sizes}
    rows: list[Row] = []
    for size, r in res.items():
        rows += _rows(size, r)
    return rows


def _rows(size: str, r: dict) -> list[Row]:
    """The table rows of one size: one per part measured, the details on the first."""
    f, lk, c = r["file"], r["lake"], r["counts"]
    details = [
        f"{size}: raw {c['comments']:,} comments, {c['orders']:,} orders, {c['order_tracks']:,} tracks, "
        f"{c['item_details']:,} details, {c['wares']:,} wares, with clean.review_signals already scored "
        f"(bench 4's cache); copied into the lake in {r['copy_s']:.1f} s (not timed)."
    ]
    rows: list[Row] = []
    if "landing" in lk:
        land_f = f["landing"]["rows"] / f["landing"]["wall_s"]
        land_l = lk["landing"]["rows"] / lk["landing"]["wall_s"]
        details.append(
            f"landing {lk['landing']['rows']:,} rows as 100 new partitions: file {f['landing']['wall_s']:.1f} s "
            f"({land_f:,.0f} rows/s), lake {lk['landing']['wall_s']:.1f} s ({land_l:,.0f} rows/s)."
        )
        rows.append(Row(11, f"DuckLake: landing, {size} (rows/s)", f"{land_l:,.0f}", f"{land_f:,.0f} (file)",
                        f"{land_l / land_f:.2f}", "report", "n/a"))  # fmt: skip
    if "incremental" in lk:
        inc_f, inc_l = f["incremental"]["wall_s"], lk["incremental"]["wall_s"]
        details.append(
            f"incremental: {lk['incremental']['partitions']} SKUs re-landed ({lk['incremental']['rows']:,} "
            f"records, 5 new each): file {inc_f:.1f} s, lake {inc_l:.1f} s."
        )
        rows.append(Row(11, f"DuckLake: incremental update, {size}", f"{inc_l:.1f} s", f"{inc_f:.1f} s (file)",
                        f"{inc_l / inc_f:.2f}", "report", "n/a"))  # fmt: skip
    if "rebuild" in lk:
        reb_f, reb_l = f["rebuild"]["wall_s"], lk["rebuild"]["wall_s"]
        details.append(
            f"full rebuild (every clean and mart table): file {reb_f:.1f} s (peak "
            f"{f['rebuild']['peak_rss_mib']:,.0f} MiB), lake {reb_l:.1f} s (peak "
            f"{lk['rebuild']['peak_rss_mib']:,.0f} MiB); reviews scored in the rebuild (landed by the parts "
            f"before it) {f['rebuild']['scored']:,} / {lk['rebuild']['scored']:,} of "
            f"{f['rebuild']['review_signals']:,} / {lk['rebuild']['review_signals']:,}; product_reviews "
            f"{f['rebuild']['product_reviews']:,} / {lk['rebuild']['product_reviews']:,} rows."
        )
        rows.append(Row(11, f"DuckLake: full rebuild, {size}", f"{reb_l:.1f} s", f"{reb_f:.1f} s (file)",
                        f"{reb_l / reb_f:.2f}", "<= 1.5", "yes" if reb_l / reb_f <= 1.5 else "no"))  # fmt: skip
    if "writers" in lk:
        measured = [b for b in ("file", "lake") if "writers" in r[b]]
        details += [line for b in measured for line in _writer_details(b, r[b]["writers"])]
        scale = {b: _writers_ratio(r[b]["writers"]) for b in measured}
        lost = sum(one["failures"] + four["failures"] for one, four in lk["writers"])
        rows.append(
            Row(11, f"DuckLake: 4 writers / 1 writer, {size} (rows/s)", f"{scale['lake']:.2f}x, {lost} failures",
                f"{scale['file']:.2f}x (file)" if "file" in scale else "not measured (file)",
                f"{scale['lake']:.2f}", ">= 1.6, 0 failures", "yes" if scale["lake"] >= 1.6 and not lost else "no")
        )  # fmt: skip
    rows[0].details = details
    return rows


if __name__ == "__main__":
    print(json.dumps([r.__dict__ for r in run("--quick" in sys.argv)], indent=1, default=str))
    Path(BENCH / ".work" / "b11").mkdir(parents=True, exist_ok=True)
