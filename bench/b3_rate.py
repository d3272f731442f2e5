"""3. Rate-limit use: pages/s achieved against a gateway that allows R requests/s at 50 ms latency.

The sandbox limits the comments gateway to R = 20 requests/s (token bucket, burst R) and answers after
50 ms. Each contender crawls comment pages with the package's real client (``JustOneResource.open()``,
``comment_pages``), the shared process-wide limiter reset before each one:
- default: the resource as the definitions build it without ``JD_JUSTONE_RPS`` (5 requests/s), one
  partition at a time (a run fetches its partition sequentially);
- at R, sequential: ``requests_per_second=R``, one partition at a time;
- at R, 4 partitions at once: 4 threads in one process, each its own client, one shared limiter;
- at R, 2 processes: two runs at once, each configured at R (Dagster runs each step in its own process,
  and the limiter is per process), each fetching half the pages.
Reported: pages/s / R and the rate-limited answers (302 / HTTP 429) the sandbox counted.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common import Row, justone_resource, run_child

R = 20.0


def crawl(env: dict, skus: list[str], pages: int, rps: float | None, threads: int = 1) -> dict:
    """Fetch ``pages`` comment pages over ``skus`` (each SKU's pages in order), ``threads`` SKUs at once."""
    from jd_assets.http.limiter import reset_shared_limiters

    reset_shared_limiters()
    overrides = {} if rps is None else {"requests_per_second": rps}
    resource = justone_resource(env, **overrides)
    lock = threading.Lock()
    state = {"left": pages, "fetched": 0, "retries": 0, "rate_limited": 0}
    queue = list(skus)

    def worker() -> None:
        while True:
            with lock:
                if not queue or state["left"] <= 0:
                    return
                sku = queue.pop(0)
            with resource.open() as client:
                for _page in client.comment_pages(sku):
                    with lock:
                        state["fetched"] += 1
                        state["left"] -= 1
                        if state["left"] <= 0:
                            break
                with lock:
                    state["retries"] += client.stats.retries
                    state["rate_limited"] += client.stats.rate_limited

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(threads):
            pool.submit(worker)
    elapsed = time.perf_counter() - t0
    return {"pages": state["fetched"], "elapsed": elapsed, "client_rate_limited": state["rate_limited"]}


def run(quick: bool) -> list[Row]:
    from jd_sandbox import Sandbox, SandboxConfig

    pages = 200 if quick else 1000
    default_pages = 50 if quick else 150
    cfg = SandboxConfig(
        seed=7, scale="large", n_skus=40, n_comments=120_000, rate_limit_rps={"justone": R}, latency_ms=50
    )
    results = {}
    with Sandbox(cfg) as sb:
        env = sb.env()
        truth = sb.truth
        skus = sorted(truth.sku_ids(), key=lambda s: -truth.comment_count(s))
        served = sum(min(100, -(-truth.comment_count(s) // 10)) for s in skus)
        assert served >= pages, served
        plan = [
            ("default (5 rps), sequential", dict(pages=default_pages, rps=None, threads=1)),
            ("at R, sequential", dict(pages=pages, rps=R, threads=1)),
            ("at R, 4 partitions at once", dict(pages=pages, rps=R, threads=4)),
        ]
        for name, kw in plan:
            time.sleep(1.5)  # let the sandbox's bucket refill between contenders
            sb.reset_counters()
            out = crawl(env, skus, **kw)
            c = sb.counters()
            out["rate_limited"] = c["rate_limited"].get("justone", 0)
            out["requests"] = c["requests"].get("comments", 0)
            results[name] = out
        # two processes at once, each configured at R (two concurrent Dagster runs)
        time.sleep(1.5)
        sb.reset_counters()
        half = pages // 2
        t0 = time.perf_counter()
        outs = []
        threads = [
            threading.Thread(
                target=lambda part: outs.append(
                    run_child(
                        "b3_rate:crawl", {"env": env, "skus": part, "pages": half, "rps": R, "threads": 1}
                    )
                ),
                args=(part,),
            )
            for part in (skus[0::2], skus[1::2])
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        c = sb.counters()
        # pages/s while both ran: total pages / the longer child's own crawl time
        results["at R, 2 processes (2 runs)"] = {
            "pages": sum(o["pages"] for o in outs),
            "elapsed": max(o["elapsed"] for o in outs),
            "rate_limited": c["rate_limited"].get("justone", 0),
            "requests": c["requests"].get("comments", 0),
        }
        _ = t0
    rows = []
    details = [
        f"sandbox: R = {R:g} requests/s (token bucket, burst {R:g}), latency 50 ms; the {len(skus)} "
        f"busiest SKUs' pages crawled newest first; pages/s = pages fetched / wall time."
    ]
    for name, out in results.items():
        rate = out["pages"] / out["elapsed"]
        details.append(
            f"{name}: {out['pages']} pages in {out['elapsed']:.1f} s = {rate:.1f} pages/s "
            f"({rate / R:.2f} of R); requests {out['requests']}, rate-limited answers "
            f"{out['rate_limited']}."
        )
    for i, (name, out) in enumerate(results.items()):
        rate = out["pages"] / out["elapsed"]
        ok = rate / R >= 0.9 and out["rate_limited"] <= 5
        rows.append(
            Row(
                3,
                f"Rate-limit use: {name}",
                f"{rate:.1f} pages/s, {out['rate_limited']} x 302/429",
                f"R = {R:g}/s",
                f"{rate / R:.2f}",
                ">= 0.9, <= a handful of 302s",
                "yes" if ok else "no",
                details if i == 0 else [],
            )
        )
    return rows
