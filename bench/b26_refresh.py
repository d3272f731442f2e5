"""2. Billed calls and 6. Dagster overhead of a daily comments refresh over tracked SKUs.

Setup: a sandbox catalog of N SKUs (1,000 in the full run) whose comments arrive on the sandbox's clock.
Day 0: every SKU's served comments (the newest <= 1,000) are landed through ``land()`` straight from the
sandbox's catalog (state, not measured). The clock then advances one day, so SKU s got k_s new comments
(the distribution is reported), counters are reset, and the refresh runs through the real
``raw_comments`` asset code over HTTP (sandbox latency 50 ms, no rate limit on either side):
- the first M partitions one Dagster run each (``dg.materialize``): what a UI backfill of the partitions
  does, and what the daily schedule did before ``raw_comments_refresh_job``;
- the rest by calling the asset's own function (``raw_comments.op.compute_fn.decorated_fn``) with a
  minimal context: the same fetch, stop rule and landing, without a Dagster run around it;
- the rest as the daily schedule runs them now: ``raw_comments_refresh_job``, one run over all of them
  (4 SKUs at once, one ``raw_comments`` materialization recorded per SKU);
- a few partitions as the daemon really launches one-partition runs: one fresh Python process per run
  (imports ``jd_assets.definitions``, then materializes the partition), timed from spawn to exit.
Billed calls are the sandbox's ``counters()["billed"]["comments"]`` over all N partitions.

2b. Quota-bound refresh: the same setup on a sandbox limited to R = 20 requests/s (50 ms latency) and the
resource configured at R; ``raw_comments_refresh_job`` (its defaults) over N_q SKUs
(``B26_QUOTA_SKUS``, 500 full, 100 quick), wall time against billed calls / R, the time the quota itself
needs, and the time of the op's landing thread (``land_timed``: connect, land a group, commit, close) a SKU.
``B26_QUOTA_ONLY=1`` runs this part alone.
Time inside HTTP calls, ``land`` and the watermark reads is metered by wrapping those functions in the
bench process (the package is not changed).
"""

from __future__ import annotations

import math
import shutil
import statistics
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from common import (
    BENCH,
    PY,
    ROOT,
    Row,
    cached_input,
    fake_context,
    http_wait_meter,
    justone_resource,
    warehouse_resource,
    workdir,
)

LATENCY_MS = 50
QUOTA_RPS = 20.0


def _meter(module, name: str, meter: dict) -> None:
    original = getattr(module, name)

    def timed(*a, **kw):
        t0 = time.perf_counter()
        try:
            return original(*a, **kw)
        finally:
            meter[name] = meter.get(name, 0.0) + time.perf_counter() - t0

    setattr(module, name, timed)


def seeded_file(sb, skus: list[str], path: Path) -> tuple[int, float]:
    """Day 0 in ``path``: :func:`_seed`'s file, made once per catalog (``common.cached_input``); returns
    (comments landed, seconds it took now: seeding or copying).

    The sandbox serves the same bytes for the same catalog knobs (fixed seed and simulated now), so the
    landed file depends only on them, the SKUs and the code, all in the key. The cached rows keep their
    first run's ``fetched_at``; the refresh reads ``commented_at`` (its watermark) and the keys, never that."""
    cfg = sb.config
    knobs = [cfg.seed, cfg.scale, cfg.now, cfg.n_skus, cfg.n_comments, cfg.order_days, cfg.orders_per_day]
    t0 = time.perf_counter()
    cached = cached_input(f"seed{len(skus)}", [knobs, skus], lambda scratch: _seed(sb, skus, scratch))
    shutil.copy(cached, path)
    with warehouse_resource(path).read() as con:
        (total,) = con.execute("SELECT count(*) FROM raw.comments").fetchone()
    return total, time.perf_counter() - t0


def _seed(sb, skus: list[str], path) -> int:
    """Land what the sandbox serves now for every SKU (<= 100 pages)."""
    cat, now = sb.app.catalog, sb.app.clock.now()
    wh = warehouse_resource(path)
    fetched = datetime.now(UTC)
    total = 0
    # One transaction per 500 SKUs: a single one over 10,000 SKUs' history outgrows DuckDB's memory limit.
    for start in range(0, len(skus), 500):
        total += _seed_group(wh, cat, now, skus[start : start + 500], fetched)
    return total


def _seed_group(wh, cat, now, skus: list[str], fetched: datetime) -> int:
    from jd_assets.raw import tables
    from jd_assets.raw.landing import batch, land

    total = 0
    with wh.write() as con:
        for sku in skus:
            i = cat.sku_index(sku)
            pages, p = [batch([])], 1
            while True:
                records, max_page = cat.comment_page(i, now, p)
                if not records:
                    break
                pages.append(batch(records, page=p, request_key=sku))
                total += len(records)
                if p >= max_page:
                    break
                p += 1
            land(
                con,
                tables.COMMENTS,
                pa.concat_tables(pages),
                partition_key=sku,
                partition_value=sku,
                run_id="seed",
                fetched_at=fetched,
            )
    return total


def one_run(env: dict, db: str, sku: str, home: str) -> dict:
    """Child: what one daemon-launched run does: import the code location, materialize one partition."""
    import os

    os.environ["DAGSTER_HOME"] = home
    import dagster as dg

    import jd_assets.definitions  # noqa: F401  (the code location the daemon loads)
    from jd_assets.raw.assets import raw_comments

    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions("jd_item", [sku])
    res = {
        "justone": justone_resource(env, requests_per_second=1000.0),
        "warehouse": warehouse_resource(db),
    }
    dg.materialize([raw_comments], partition_key=sku, resources=res, instance=instance)
    return {}


def _spread(times: list[float]) -> str:
    """How much the per-partition times vary: what the mean of a few dozen partitions is worth."""
    q = statistics.quantiles(times, n=10)
    return (
        f"a partition's time: median {statistics.median(times):.3f} s, p10-p90 {q[0]:.3f}-{q[-1]:.3f} s, "
        f"standard error of the mean {statistics.stdev(times) / len(times) ** 0.5:.3f} s"
    )


def catalog_config(n_skus: int, rps: float | None):
    """The benches' sandbox: ``n_skus`` SKUs of about 150 comments each, 50 ms latency, the token gateway
    limited to ``rps`` requests/s (None: unlimited)."""
    from jd_sandbox import SandboxConfig

    return SandboxConfig(
        seed=7,
        scale="large",
        n_skus=n_skus,
        n_comments=n_skus * 150,
        rate_limit_rps={"justone": rps},
        latency_ms=LATENCY_MS,
    )


def quota_refresh(n_skus: int) -> Row:
    """2b: the daily refresh job at R against a sandbox limited to R: is the quota the bottleneck?"""
    import dagster as dg

    from jd_assets.raw import assets as raw_assets
    from jd_assets.raw.refresh import raw_comments_refresh_job
    from jd_sandbox import Sandbox

    cfg = catalog_config(n_skus, QUOTA_RPS)
    work = workdir("b26q")
    db = work / "jd.duckdb"
    with Sandbox(cfg) as sb, dg.instance_for_test() as instance:
        env = sb.env()
        skus = sb.truth.sku_ids()
        seeded, t_seed = seeded_file(sb, skus, db)
        sb.advance(days=1)
        instance.add_dynamic_partitions("jd_item", skus)
        res = {
            "justone": justone_resource(env, requests_per_second=QUOTA_RPS),
            "warehouse": warehouse_resource(db),
        }
        sb.reset_counters()
        meters: dict[str, float] = {}
        _meter(raw_assets, "land_timed", meters)  # the op's landing thread, every group's transaction
        t0 = time.perf_counter()
        result = raw_comments_refresh_job.execute_in_process(
            run_config={"ops": {"refresh_comment_partitions": {"config": {"items": skus}}}},
            resources=res,
            instance=instance,
        )
        wall = time.perf_counter() - t0
        assert result.success
        counters = sb.counters()
        with warehouse_resource(db).read() as con:
            rows_after = con.execute("SELECT count(*) FROM raw.comments").fetchone()[0]
    landing = meters.get("land_timed", 0.0)
    billed = counters["billed"].get("comments", 0)
    requests = counters["requests"].get("comments", 0)
    limited = counters["rate_limited"].get("justone", 0)
    floor = billed / QUOTA_RPS
    ratio = wall / floor
    return Row(
        2,
        f"Quota-bound refresh: {n_skus:,} SKUs at R = {QUOTA_RPS:g}/s, raw_comments_refresh_job (s)",
        f"{wall:,.1f} s",
        f"{floor:,.1f} s = {billed:,} billed / R",
        f"{ratio:.2f}",
        "<= 1.1",
        "yes" if ratio <= 1.1 else "no",
        [
            f"{n_skus:,} SKUs, {seeded:,} comments landed on day 0 (not timed; {t_seed:.0f} s, "
            f"a copy of the cached file when it exists), one sandbox day "
            f"later; sandbox limited to R = {QUOTA_RPS:g} requests/s (token bucket), latency {LATENCY_MS} ms; "
            f"resource at R; the job's defaults (4 SKUs fetched at once).",
            f"{wall:.1f} s for {billed:,} billed calls ({requests:,} requests, {limited} rate-limited answers) = "
            f"{wall / n_skus * 1000:.0f} ms a SKU; the quota alone needs {floor:.1f} s -> {ratio:.2f}x. "
            f"Extrapolated linearly to 10,000 SKUs: {wall / n_skus * 10_000:,.0f} s against "
            f"{floor / n_skus * 10_000:,.0f} s.",
            f"the op's landing thread (land_timed: connect, land the group, commit, close) {landing:.1f} s = "
            f"{landing / n_skus * 1000:.1f} ms a SKU, raw.comments {seeded:,} -> {rows_after:,} rows.",
        ],
    )


def run(quick: bool) -> list[Row]:
    import logging
    import os

    import dagster as dg

    from jd_assets.raw import assets as raw_assets
    from jd_assets.raw.assets import CommentsConfig, raw_comments
    from jd_sandbox import Sandbox

    logging.getLogger("dagster").setLevel(logging.ERROR)
    quota = quota_refresh(int(os.environ.get("B26_QUOTA_SKUS", 100 if quick else 500)))
    if os.environ.get("B26_QUOTA_ONLY"):
        return [quota]
    n_skus = 100 if quick else 1000
    # 25 runs and 75 calls (50 and 150 before: 28 s and 24 s of an idle run): the per-partition times are
    # mostly fixed costs, their spread is printed beside the mean so the precision shows
    n_materialize = 10 if quick else 25
    n_sequential = 40 if quick else 75
    n_process = 2 if quick else 3
    cfg = catalog_config(n_skus, None)
    work = workdir("b26")
    db = work / "jd.duckdb"
    rows: list[Row] = []
    with Sandbox(cfg) as sb, dg.instance_for_test() as instance:
        env = sb.env()
        skus = sb.truth.sku_ids()
        seeded, t_seed = seeded_file(sb, skus, db)
        before = {s: sb.truth.comment_count(s) for s in skus}
        sb.advance(days=1)
        after = {s: sb.truth.comment_count(s) for s in skus}
        ks = {s: after[s] - before[s] for s in skus}
        formula = sum(math.ceil(k / 10) + 1 for k in ks.values())
        lower = sum(
            max(1, math.ceil((k + 1) / 10)) if before[s] else max(1, math.ceil(k / 10)) for s, k in ks.items()
        )
        full_crawl = sum(max(1, min(math.ceil(after[s] / 10), 100)) for s in skus)
        instance.add_dynamic_partitions("jd_item", skus)
        res = {
            "justone": justone_resource(env, requests_per_second=1000.0),
            "warehouse": warehouse_resource(db),
        }
        http = http_wait_meter()
        meters: dict[str, float] = {}
        for name in ("land_timed", "comments_watermarks"):
            _meter(raw_assets, name, meters)
        sb.reset_counters()

        # 6a. the schedule's way: one Dagster run per partition
        dag_skus, direct_skus = skus[:n_materialize], skus[n_materialize:]
        http0 = http["s"]
        dag_times = []
        for sku in dag_skus:
            t0 = time.perf_counter()
            result = dg.materialize([raw_comments], partition_key=sku, resources=res, instance=instance)
            assert result.success
            dag_times.append(time.perf_counter() - t0)
        t_dag = sum(dag_times)
        http_dag = http["s"] - http0
        land_dag = dict(meters)

        # the next ones: the asset's own function, no run around it, one at a time
        fn = raw_comments.op.compute_fn.decorated_fn
        seq_skus, pool_skus = direct_skus[:n_sequential], direct_skus[n_sequential:]

        def one(sku):
            fn(fake_context(sku), config=CommentsConfig(), justone=res["justone"], warehouse=res["warehouse"])

        http0 = http["s"]
        meters.clear()
        direct_times = []
        for sku in seq_skus:
            t0 = time.perf_counter()
            one(sku)
            direct_times.append(time.perf_counter() - t0)
        t_direct = sum(direct_times)
        http_direct = http["s"] - http0
        land_direct = dict(meters)
        direct_skus = seq_skus
        # the rest: the daily schedule's job as it is now, one run over many SKUs (4 at once by default)
        from jd_assets.raw.refresh import raw_comments_refresh_job

        t0 = time.perf_counter()
        result = raw_comments_refresh_job.execute_in_process(
            run_config={"ops": {"refresh_comment_partitions": {"config": {"items": pool_skus}}}},
            resources=res,
            instance=instance,
        )
        assert result.success
        t_pool = time.perf_counter() - t0
        counters = sb.counters()
        billed = counters["billed"].get("comments", 0)

        # 6b. one fresh process per run, as the daemon's run launcher does (k = 0 now: one page each)
        proc_times = []
        home = workdir("b26/dagster_home")
        for sku in seq_skus[:n_process]:
            t0 = time.perf_counter()
            import json

            subprocess.run(
                [
                    PY,
                    str(BENCH / "child.py"),
                    "b26_refresh:one_run",
                    json.dumps({"env": env, "db": str(db), "sku": sku, "home": str(home)}),
                ],
                check=True,
                capture_output=True,
                cwd=ROOT,
                env={**__import__("os").environ, "PYTHONPATH": f"{BENCH}:{ROOT}"},
            )
            proc_times.append(time.perf_counter() - t0)

    kdist = Counter(min(k, 51) for k in ks.values())
    buckets = [("0", 0, 0), ("1-10", 1, 10), ("11-20", 11, 20), ("21-50", 21, 50), (">50", 51, 10**9)]
    dist = ", ".join(
        f"k {lbl}: {sum(v for k, v in kdist.items() if lo <= k <= hi)}" for lbl, lo, hi in buckets
    )
    new_total = sum(ks.values())
    rows.append(
        Row(
            2,
            f"Billed calls, daily refresh of {n_skus:,} SKUs",
            f"{billed:,}",
            f"{formula:,} = sum(ceil(k/10)+1); naive crawl {full_crawl:,}",
            f"{billed / formula:.3f}",
            "= minimum",
            "yes" if billed <= formula else "no",
            [
                f"{n_skus:,} SKUs, {seeded:,} comments landed on day 0 (not timed; {t_seed:.0f} s, "
                f"a copy of the cached file when it exists); one sandbox day "
                f"later {new_total:,} new comments: {dist} (max k {max(ks.values())}, "
                f"{sum(1 for s in skus if before[s] == 0)} SKUs without any comment yet).",
                f"billed {billed:,} calls (requests {counters['requests'].get('comments', 0):,}); the promise "
                f"sum(ceil(k/10)+1) = {formula:,}; the true floor (a page must show one known comment to stop; a SKU "
                f"without history needs its pages only) = {lower:,}; a naive full crawl (every served page) = "
                f"{full_crawl:,} -> the refresh bills {billed / full_crawl:.1%} of the naive crawl.",
                "The stop rule beats ceil(k/10)+1 whenever k % 10 != 0: the page holding the k-th new comment "
                "already shows a known one."
                if billed < formula
                else "billed equals the promised formula.",
            ],
        )
    )

    per_dag = t_dag / len(dag_skus)
    per_direct = t_direct / max(1, len(direct_skus))
    http_per_dag = http_dag / len(dag_skus)
    http_per_direct = http_direct / max(1, len(direct_skus))
    land_per_dag = land_dag.get("land_timed", 0) / len(dag_skus)
    wm_per_dag = land_dag.get("comments_watermarks", 0) / len(dag_skus)
    land_per_direct = land_direct.get("land_timed", 0) / max(1, len(direct_skus))
    wm_per_direct = land_direct.get("comments_watermarks", 0) / max(1, len(direct_skus))
    per_proc = statistics.median(proc_times)
    est_sched = per_dag * n_skus
    est_proc = per_proc * n_skus
    est_direct = per_direct * n_skus
    outside = 1 - http_per_dag / per_dag
    rows.append(
        Row(
            6,
            f"Dagster overhead: refresh of {n_skus:,} SKU partitions, one run per partition (in-process, extrapolated)",
            f"{est_sched:,.0f} s ({outside:.0%} outside HTTP)",
            f"{est_direct:,.0f} s asset code, no run",
            f"{est_sched / est_direct:.1f}x",
            "report",
            "n/a",
            [
                f"measured {len(dag_skus)} partitions as one dg.materialize each: {per_dag:.3f} s a partition "
                f"(HTTP wait {http_per_dag:.3f} s, landing {land_per_dag:.3f} s, watermark reads {wm_per_dag:.3f} s, "
                f"Dagster run machinery ~{per_dag - http_per_dag - land_per_dag - wm_per_dag:.3f} s) -> "
                f"{est_sched:,.0f} s for {n_skus:,} (extrapolated from {len(dag_skus)}; {_spread(dag_times)}).",
                f"the same asset function called in one process for the other {len(direct_skus)} partitions: "
                f"{per_direct:.3f} s a partition (HTTP {http_per_direct:.3f} s, landing {land_per_direct:.3f} s, "
                f"watermark reads {wm_per_direct:.3f} s) -> {est_direct:,.0f} s for {n_skus:,} "
                f"({_spread(direct_times)}).",
                f"as the daemon launches runs (one fresh Python process per run, imports + run): median "
                f"{per_proc:.2f} s a run over {len(proc_times)} runs -> ~{est_proc:,.0f} s of CPU-bound work for "
                f"{n_skus:,} runs ({est_proc / 2:,.0f} s wall at best on 2 cores); HTTP is "
                f"{http_per_dag / per_proc:.1%} of it.",
                f"the daily schedule's job now (raw_comments_refresh_job: one run, 4 SKUs at once, one materialization per SKU): {len(pool_skus)} partitions in {t_pool:.1f} s = "
                f"{t_pool / max(1, len(pool_skus)):.3f} s a partition -> {t_pool / max(1, len(pool_skus)) * n_skus:,.0f} s "
                f"for {n_skus:,}.",
                f"what dominates: per-run Dagster machinery (in-process {per_dag - http_per_direct:.2f} s, "
                f"process-per-run {per_proc - http_per_direct:.2f} s) against {http_per_direct:.3f} s of HTTP and "
                f"{land_per_direct:.3f} s of landing per partition. Sandbox latency {LATENCY_MS} ms, no rate limit.",
            ],
        )
    )
    rows.append(
        Row(
            6,
            "Dagster overhead: same, one process per run as the daemon launches them (extrapolated)",
            f"{est_proc:,.0f} s CPU",
            f"{est_direct:,.0f} s asset code, no run",
            f"{est_proc / est_direct:.1f}x",
            "report",
            "n/a",
        )
    )
    rows.append(
        Row(
            6,
            "Dagster overhead: the schedule's job now, one run over all SKUs (raw_comments_refresh_job)",
            f"{t_pool / max(1, len(pool_skus)) * n_skus:,.0f} s",
            f"{est_sched:,.0f} s one run per partition (in-process)",
            f"{(t_pool / max(1, len(pool_skus)) * n_skus) / est_sched:.2f}",
            "report",
            "n/a",
        )
    )
    return [*rows, quota]
