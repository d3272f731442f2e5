"""12. Scale curve: time and peak memory of refresh, landing, incremental update and full rebuild at 1x,
10x and 100x, and how each grows.

Every timed part runs in a child process of its own (``bench/child.py``: its own VmHWM), built from the
other benchmarks' helpers rather than copies of them:
- refresh: ``raw_comments_refresh_job`` (its defaults, 4 SKUs at once) over 10 / 100 / 1,000 SKUs one
  sandbox day after their history was landed (benchmark 2's seeding), against a sandbox with no rate
  limit and 50 ms latency (benchmark 2's); the sandbox serves from this process, the job runs in the child;
- landing: one ``land()`` of 20k / 200k / 2M comments (benchmark 1's generated pages and its package
  contender), then ``PARTITIONS`` more SKU partitions landed one ``land()`` each into the table that now
  holds those rows (benchmark 1's per-partition contender): what one partition costs as raw grows. The
  pages are generated once at the largest size, cached in ``bench/.work/b12/``, and sliced;
- derived tables: benchmark 4's measurement (its full build, a day's new data, the incremental update and
  the full rebuild of a copy, compared row for row) over 5k / 50k / 500k comments, with its raw files
  cached in ``bench/.work/b4/``. In a run with benchmark 4, a size it measured is taken from it, not redone;
  when it measured 0.5M and 5M (the full run), the curve is 50k / 500k / 5M, one size up, so that only 50k
  is this benchmark's own.
Quick mode measures 1x and 10x only (``B12_POINTS=2`` does the same in a full run), its landing at 2k and 20k. The landing's 100x point
is opt-in, ``B12_LANDING_2M=1``: generating its pages once took 3.3 GiB and 5 minutes, landing them 8 minutes
and 8.4 GiB on a loaded 2-core machine, more than the full bench's 20-minute budget has room for. Growth between two sizes is the exponent ``log(t2/t1) / log(n2/n1)``:
1 is linear, below is sub-linear (fixed costs still count), above is worse than linear.
"""

from __future__ import annotations

import math
import os
import time
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import b4_derived
from common import WORK, Row, justone_resource, run_child, warehouse_resource, workdir

REFRESH_SKUS = [10, 100, 1_000]
LANDING_ROWS = [20_000, 200_000, 2_000_000]
#: Quick mode's landing points, ten times smaller: its 200k point alone was ~20 s of a 5-minute budget.
QUICK_LANDING_ROWS = [2_000, 20_000]
#: b4_derived's sizes, 5k added here: 1x of the curve (b4's "quick" is 10x, its "0.5M" 100x).
DERIVED = ["5k", "quick", "0.5M"]
#: The same three steps of 10x one size up, when benchmark 4 measured 0.5M and 5M earlier in the run.
DERIVED_WITH_B4 = ["quick", "0.5M", "5M"]
b4_derived.SIZES.setdefault("5k", dict(n_skus=100, n_comments=5_000, orders=1_000))
PARTITIONS = 30  # SKU partitions landed one at a time after the bulk land()


def _growth(points: list[tuple[int, float]]) -> str:
    """Per-step exponent of time against size, named."""
    out = []
    for (n1, t1), (n2, t2) in pairwise(points):
        k = math.log(t2 / t1) / math.log(n2 / n1)
        kind = "sub-linear" if k < 0.9 else "linear" if k <= 1.1 else "worse than linear"
        out.append(f"{n1:,} -> {n2:,}: exponent {k:.2f} ({kind})")
    return "; ".join(out)


def _row(what: str, unit: str, points: list[tuple[int, float, float]], lines: list[str]) -> Row:
    """One table row: the per-unit cost at the largest size against the smallest, growth in the details."""
    (n1, t1, _), (n2, t2, _) = points[0], points[-1]
    peaks = ", ".join(f"{n:,}: {p / 1024:.2f} GiB" for n, _, p in points)
    return Row(
        12,
        f"Scale: {what}, {n1:,} -> {n2:,} {unit} (time a {unit.rstrip('s')})",
        f"{t2 / n2 * 1000:.3g} ms at {n2:,}",
        f"{t1 / n1 * 1000:.3g} ms at {n1:,}",
        f"{(t2 / n2) / (t1 / n1):.2f}",
        "report",
        "n/a",
        [*lines, f"{what}: growth {_growth([(n, t) for n, t, _ in points])}; peak memory {peaks}."],
    )


# ------------------------------------------------------------------------------------------ refresh


def refresh(env: dict, db: str, skus: list[str]) -> dict:
    """Child: ``raw_comments_refresh_job`` over ``skus`` with its defaults, as the schedule runs it."""
    import logging

    import dagster as dg

    from jd_assets.raw.refresh import raw_comments_refresh_job

    logging.getLogger("dagster").setLevel(logging.ERROR)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("jd_item", skus)
        t0 = time.perf_counter()
        result = raw_comments_refresh_job.execute_in_process(
            run_config={"ops": {"refresh_comment_partitions": {"config": {"items": skus}}}},
            resources={
                "justone": justone_resource(env, requests_per_second=1000.0),
                "warehouse": warehouse_resource(Path(db)),
            },
            instance=instance,
        )
        wall = time.perf_counter() - t0
    assert result.success
    return {"wall_s": wall}


def _refresh_point(n_skus: int) -> dict:
    from b26_refresh import catalog_config, seeded_file
    from jd_sandbox import Sandbox

    cfg = catalog_config(n_skus, None)
    db = workdir("b12/refresh") / "jd.duckdb"
    with Sandbox(cfg) as sb:
        skus = sb.truth.sku_ids()
        seeded, _ = seeded_file(sb, skus, db)
        sb.advance(days=1)
        sb.reset_counters()
        out = run_child("b12_scale:refresh", {"env": sb.env(), "db": str(db), "skus": skus})
        out["billed"] = sb.counters()["billed"].get("comments", 0)
    out["seeded"] = seeded
    return out


# ------------------------------------------------------------------------------------------ landing


def _pages(n_rows: int) -> Path:
    """Benchmark 1's pages (sandbox answer bodies) of ``n_rows`` comments plus ``PARTITIONS`` more SKUs,
    cached as Parquet (sku, body) in page order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from b1_landing import bodies, generate

    # a cached file of more rows serves too: a point reads only the whole SKUs it needs, in page order
    cached = sorted((int(p.stem.split("_")[1]), p) for p in (WORK / "b12").glob("pages_*.parquet"))
    bigger = [p for n, p in cached if n >= n_rows]
    if bigger:
        return bigger[0]
    path = WORK / "b12" / f"pages_{n_rows}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    # generous: the first SKUs beyond n_rows give the PARTITIONS extra ones (<= 1,000 comments each)
    parts = bodies(generate(n_rows + PARTITIONS * 1_000))
    table = pa.table(
        {
            "sku": [sku for sku, pages in parts for _ in pages],
            "body": pa.array([body for _, pages in parts for body in pages], pa.binary()),
            "rows": [body.count(b'"commentId"') for _, pages in parts for body in pages],
        }
    )
    pq.write_table(table, path)
    return path


def landing(pages: str, n_rows: int, db: str) -> dict:
    """Child: one land() of the first ``n_rows`` comments (whole SKUs), then ``PARTITIONS`` SKU partitions
    one land() each into the same table (benchmark 1's two package contenders)."""
    import duckdb

    from b1_landing import _package, _package_one_batch

    # whole SKUs in page order: the bulk is the SKUs before the running total reaches n_rows, then PARTITIONS
    # more; only their pages are read (a smaller point's peak must not hold the largest size's pages)
    source = f"read_parquet('{pages}', file_row_number = true)"
    skus = duckdb.sql(
        f"""WITH per AS (SELECT sku, sum(rows) AS rows, min(file_row_number) AS first FROM {source} GROUP BY sku),
            ordered AS (
                SELECT sku, rows, first, coalesce(sum(rows) OVER (ORDER BY first ROWS BETWEEN UNBOUNDED PRECEDING
                                                                  AND 1 PRECEDING), 0) < {n_rows} AS bulk FROM per),
            picked AS (SELECT * FROM ordered WHERE bulk
                       OR sku IN (SELECT sku FROM ordered WHERE NOT bulk ORDER BY first LIMIT {PARTITIONS}))
            SELECT sku, list(body ORDER BY file_row_number), any_value(p.rows), any_value(bulk)
            FROM {source} JOIN picked AS p USING (sku) GROUP BY sku ORDER BY any_value(p.first)"""
    ).fetchall()
    bulk = [(sku, bodies_) for sku, bodies_, _, in_bulk in skus if in_bulk]
    tail = [(sku, bodies_, n) for sku, bodies_, n, in_bulk in skus if not in_bulk][:PARTITIONS]
    total = sum(n for _, _, n, in_bulk in skus if in_bulk)
    fetched = datetime.now(UTC)
    one_s = _package_one_batch(bulk, Path(db), fetched)
    per_s = _package([(sku, bodies_) for sku, bodies_, _ in tail], Path(db), fetched)
    return {"rows": total, "one_s": one_s, "per_s": per_s, "tail_rows": sum(n for *_, n in tail)}


# ------------------------------------------------------------------------------------------ run


def _derived_sizes(count: int) -> list[str]:
    """5k, 50k and 0.5M; or 50k, 0.5M and 5M when benchmark 4 already measured the last two in this run
    (``run.py`` shares its measurement): one measurement of this benchmark's own instead of two, and a
    curve that reaches the size issue 11 names."""
    done = set(getattr(b4_derived._measure, "done", ()))
    return (DERIVED_WITH_B4 if set(DERIVED_WITH_B4[1:]) <= done else DERIVED)[:count]


def run(quick: bool) -> list[Row]:
    count = int(os.environ.get("B12_POINTS", 2 if quick else 3))
    rows: list[Row] = []

    points, lines = [], []
    for n in REFRESH_SKUS[:count]:
        r = _refresh_point(n)
        points.append((n, r["wall_s"], r["peak_rss_mib"]))
        lines.append(
            f"refresh of {n:,} SKUs ({r['seeded']:,} comments landed the day before, not timed): {r['wall_s']:.1f} s "
            f"for {r['billed']:,} billed calls = {r['wall_s'] / n * 1000:.0f} ms a SKU, peak {r['peak_rss_mib']:,.0f} MiB."
        )
    rows.append(_row("refresh (raw_comments_refresh_job, no rate limit)", "SKUs", points, lines))

    sizes = (
        QUICK_LANDING_ROWS
        if quick
        else LANDING_ROWS[: count if os.environ.get("B12_LANDING_2M") else min(count, 2)]
    )
    pages = _pages(sizes[-1])
    points, per_points, lines = [], [], []
    for n in sizes:
        db = workdir("b12/landing") / "jd.duckdb"
        r = run_child("b12_scale:landing", {"pages": str(pages), "n_rows": n, "db": str(db)})
        points.append((r["rows"], r["one_s"], r["peak_rss_mib"]))
        per_points.append((r["rows"], r["per_s"] / PARTITIONS, r["peak_rss_mib"]))
        lines.append(
            f"landing {r['rows']:,} comments in one land(): {r['one_s']:.1f} s = {r['rows'] / r['one_s']:,.0f} rows/s, "
            f"peak {r['peak_rss_mib']:,.0f} MiB; then {PARTITIONS} SKU partitions ({r['tail_rows']:,} comments) one "
            f"land() each into that table: {r['per_s'] / PARTITIONS * 1000:.0f} ms a partition."
        )
    rows.append(_row("landing, one land()", "rows", points, lines))
    per = per_points[-1][1] / per_points[0][1]
    rows.append(
        Row(
            12,
            f"Scale: landing one SKU partition into raw.comments of {per_points[0][0]:,} -> {per_points[-1][0]:,} rows",
            f"{per_points[-1][1] * 1000:.0f} ms at {per_points[-1][0]:,}",
            f"{per_points[0][1] * 1000:.0f} ms at {per_points[0][0]:,}",
            f"{per:.2f}",
            "report",
            "n/a",
            ["per partition, the table's size as x: " + _growth([(n, t) for n, t, _ in per_points]) + "."],
        )
    )

    names = _derived_sizes(count)
    # b4's own measurement (run.py shares it with benchmark 4 when both run)
    res = {name: b4_derived._measure(name, reps=1) for name in names}
    for what, key in (
        ("full rebuild (jd/full_rebuild run on built tables)", "full"),
        ("incremental update after a day's new data", "incremental"),
    ):
        points, lines = [], []
        for name in names:
            r, c = res[name], res[name]["counts"]["comments"]
            out = r["incremental"][key]
            points.append((c, out["wall_s"], out["peak_rss_mib"]))
            lines.append(
                f"{what}, {c:,} raw comments: {out['wall_s']:.1f} s, peak {out['peak_rss_mib']:,.0f} MiB (full rebuild "
                f"{r['package']['wall_s']:.1f} s, hand-written SQL {r['hand_written']['wall_s']:.1f} s)."
            )
        rows.append(_row(f"derived tables, {what}", "comments", points, lines))
    return rows
