"""The "large" catalog (100k SKUs, ~10M comments) is served lazily: building it keeps a few MB of
compact columns, and serving thousands of pages over HTTP leaves memory flat (RSS and tracemalloc)."""

from __future__ import annotations

import random
import time
import tracemalloc

import httpx

from jd_sandbox import Sandbox, SandboxConfig

from .helpers import COMMENTS

UNLIMITED = {"justone": None, "jos": None, "fengchao": None}


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_large_catalog_is_served_lazily_with_flat_memory():
    rss_start = _rss_mb()
    started = time.monotonic()
    cfg = SandboxConfig(seed=7, scale="large", rate_limit_rps=dict(UNLIMITED))
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url, timeout=10) as client:
        assert time.monotonic() - started < 10
        catalog = sb.app.catalog
        assert catalog.scale.n_skus == 100_000
        assert abs(catalog.initial_comment_total() - 10_000_000) < 100_000
        assert _rss_mb() - rss_start < 80  # compact columns only, no comments materialized
        hottest = catalog.sku_id(catalog.top_sku_index)
        assert sb.truth.comment_count(hottest) > 50_000
        rng = random.Random(1)
        busy = [
            catalog.sku_id(i)
            for i in rng.sample(range(100_000), 4000)
            if catalog.comment_count(i, catalog.anchor) > 0
        ]

        def serve(n: int) -> None:
            for k in range(n):
                sku = hottest if k % 10 == 0 else rng.choice(busy)
                body = client.get(
                    COMMENTS,
                    params={
                        "token": cfg.token,
                        "itemId": sku,
                        "page": rng.randint(1, 3) if sku != hottest else k % 100 + 1,
                    },
                )
                assert body.json()["code"] == 0

        serve(200)  # warm up caches and connections
        rss_warm = _rss_mb()
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        serve(400)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        serve(1000)
        rss_end = _rss_mb()
        page_100 = client.get(COMMENTS, params={"token": cfg.token, "itemId": hottest, "page": 100}).json()
        assert page_100["data"]["data"] == sb.truth.comments(hottest, limit=1000)[990:]
        assert page_100["data"]["pageInfo"] == {"maxPage": "100", "nowPage": "100"}
    assert current - base < 3 * 2**20
    assert peak - base < 8 * 2**20
    assert rss_end - rss_warm < 25
