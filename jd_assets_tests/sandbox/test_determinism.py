"""Determinism and internal consistency: the same seed gives the same bytes (also in another process with
another hash seed), a different seed gives a different catalog, and the catalog's parts agree."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import httpx

from jd_sandbox import Sandbox, SandboxConfig

from .helpers import COMMENTS, DETAILS, fengchao_params, jos_params

DIGEST_SCRIPT = """
import hashlib, json
from jd_sandbox import SandboxConfig
from jd_sandbox.app import App
t = App(SandboxConfig(seed=21, scale="tiny")).truth
blob = [t.comments(s) for s in t.sku_ids()] + [t.orders(d) for d in t.order_days()]
blob += [t.ware(w) for w in t.ware_ids()]
print(hashlib.sha256(json.dumps(blob, ensure_ascii=False).encode()).hexdigest())
"""


def _session_bytes(seed: int) -> list[bytes]:
    cfg = SandboxConfig(seed=seed, scale="demo")
    with Sandbox(cfg) as sb, httpx.Client(base_url=sb.base_url) as client:
        skus = sorted(sb.truth.sku_ids(), key=sb.truth.comment_count)[-3:]  # the same 3 SKUs for a seed
        out = []
        for sku in skus:
            for page in (1, 2):
                out.append(
                    client.get(COMMENTS, params={"token": cfg.token, "itemId": sku, "page": page}).content
                )
        for _ in range(3):
            out.append(client.get(DETAILS, params={"token": cfg.token, "itemId": skus[-1]}).content)
        biz = {
            "start_date": "2026-03-08 00:00:00",
            "end_date": "2026-03-09 23:59:59",
            "optional_fields": "x",
            "page_size": 50,
        }
        out.append(client.post("/routerjson", data=jos_params(sb, "jingdong.pop.order.search", biz)).content)
        out.append(
            client.get("/fengchao/findWareById", params=fengchao_params(sb, sb.truth.ware_ids()[0])).content
        )
        return out


def test_same_seed_gives_same_bytes():
    first, second = _session_bytes(7), _session_bytes(7)
    assert first == second
    assert all(b'"code":0' in body or b'"code":"0"' in body for body in first)


def test_different_seed_gives_different_catalog():
    assert _session_bytes(7)[0] != _session_bytes(8)[0]


def test_same_seed_same_bytes_in_another_process_with_another_hash_seed():
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run(
            [sys.executable, "-c", DIGEST_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        digests.add(out.stdout.strip())
    from jd_sandbox.app import App

    t = App(SandboxConfig(seed=21, scale="tiny")).truth
    blob = [t.comments(s) for s in t.sku_ids()] + [t.orders(d) for d in t.order_days()]
    blob += [t.ware(w) for w in t.ware_ids()]
    digests.add(hashlib.sha256(json.dumps(blob, ensure_ascii=False).encode()).hexdigest())
    assert len(digests) == 1


def test_skus_wares_details_and_orders_agree(demo: Sandbox):
    truth = demo.truth
    sku_to_ware = truth.sku_to_ware()
    assert len(truth.sku_ids()) == 40 and 10 <= len(truth.ware_ids()) <= 20
    assert set(sku_to_ware.values()) == set(truth.ware_ids())
    for sku in truth.sku_ids():
        detail = truth.detail(sku)
        assert detail["itemId"] == sku and detail["wareId"] == sku_to_ware[sku]
    ordered = {i["skuId"] for d in truth.order_days() for o in truth.orders(d) for i in o["itemInfoList"]}
    assert ordered <= set(sku_to_ware)
    on_sale = {w for w in truth.ware_ids() if truth.ware(w)["wareStatus"] in (8, 520)}
    assert {sku_to_ware[s] for s in ordered} <= on_sale


def test_some_commenters_are_buyers_and_repeat_buyers(demo: Sandbox):
    truth = demo.truth
    pins = {o["pin"] for d in truth.order_days() for o in truth.orders(d)}
    masked = {f"{p[3]}***{p[-1]}" for p in pins}
    nicks = [c["userNickName"] for s in truth.sku_ids() for c in truth.comments(s, limit=200)]
    assert sum(n in masked for n in nicks) > 20
    assert len(nicks) > len(set(nicks))  # the same people comment again
