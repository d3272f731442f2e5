"""The simulated clock: letting days pass brings new comments (old ones keep their ids and move down the
pages), new orders, and order states that only move forward; the admin endpoints drive it too."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from jd_sandbox import DEFAULT_NOW, Sandbox, SandboxConfig
from jd_sandbox.config import BEIJING

from .helpers import comments_page, search_all

STATE_RANK = {
    "WAIT_SELLER_STOCK_OUT": 0,
    "LOCKED": 1,
    "POP_ORDER_PAUSE": 1,
    "WAIT_GOODS_RECEIVE_CONFIRM": 2,
    "FINISHED_L": 3,
    "TRADE_CANCELED": 3,
}


def test_default_now_is_fixed_not_the_wall_clock(tiny: Sandbox):
    assert tiny.now == DEFAULT_NOW == datetime(2026, 3, 10, 12, 0, tzinfo=BEIJING)


def test_advancing_days_brings_new_comments_and_keeps_old_ones(demo: Sandbox, demo_client: httpx.Client):
    sku = max(demo.truth.sku_ids(), key=demo.truth.comment_count)
    before = demo.truth.comment_ids(sku)
    first_page = comments_page(demo_client, demo, sku, 1)["data"]["data"]
    demo.advance(days=2)
    after = demo.truth.comment_ids(sku)
    assert len(after) > len(before)
    assert after[len(after) - len(before) :] == before  # old comments unchanged, new ones on top
    new_first = comments_page(demo_client, demo, sku, 1)["data"]["data"]
    assert new_first[0]["commentDate"] > first_page[0]["commentDate"]
    assert new_first[0]["commentDate"] <= demo.now.strftime("%Y-%m-%d %H:%M:%S")


def test_total_comments_grow_with_time(tiny: Sandbox):
    before = tiny.truth.total_comments()
    tiny.advance(days=10)
    assert tiny.truth.total_comments() > before


def test_new_orders_appear_and_states_move_forward(demo: Sandbox, demo_client: httpx.Client):
    today = demo.now.date()
    before = {o["orderId"]: o for o in search_all(demo_client, demo, today - timedelta(days=1))}
    today_before = demo.truth.order_ids(today)
    demo.advance(days=3)
    after = {o["orderId"]: o for o in search_all(demo_client, demo, today - timedelta(days=1))}
    assert after.keys() == before.keys()
    moved = 0
    for order_id, old in before.items():
        new = after[order_id]
        assert STATE_RANK[new["orderState"]] >= STATE_RANK[old["orderState"]]
        assert new["modified"] >= old["modified"]
        moved += new["orderState"] != old["orderState"]
    assert moved > 0
    assert len(demo.truth.order_ids(today)) > len(today_before)
    assert demo.truth.orders(today + timedelta(days=2))


def test_records_never_postdate_now(demo: Sandbox):
    now = demo.now.strftime("%Y-%m-%d %H:%M:%S")
    for sku in demo.truth.sku_ids():
        assert all(c["commentDate"] <= now for c in demo.truth.comments(sku, limit=3))
    for order in demo.truth.orders(demo.now.date()):
        assert order["orderStartTime"] <= now and order["modified"] <= now


def test_set_now_moves_the_clock_both_ways(tiny: Sandbox):
    sku = max(tiny.truth.sku_ids(), key=tiny.truth.comment_count)
    n = tiny.truth.comment_count(sku)
    tiny.set_now(DEFAULT_NOW - timedelta(days=30))
    assert tiny.truth.comment_count(sku) < n
    tiny.set_now(DEFAULT_NOW)
    assert tiny.truth.comment_count(sku) == n


def test_admin_endpoints_drive_the_clock_and_show_truth(tiny: Sandbox, tiny_client: httpx.Client):
    assert tiny_client.get("/_sandbox/now").json()["now"] == "2026-03-10 12:00:00"
    state = tiny_client.post("/_sandbox/advance", params={"days": 1, "hours": 2}).json()
    assert state["now"] == "2026-03-11 14:00:00" == tiny.now.strftime("%Y-%m-%d %H:%M:%S")
    sku = tiny.truth.sku_ids()[0]
    assert tiny_client.get("/_sandbox/truth/comments", params={"sku": sku}).json() == tiny.truth.comments(sku)
    day = "2026-03-10"
    orders = tiny_client.get("/_sandbox/truth/orders", params={"day": day, "dialect": "seed"}).json()
    assert orders == tiny.truth.orders(datetime(2026, 3, 10).date(), dialect="seed")
    assert tiny_client.get("/_sandbox/truth/comments", params={"sku": "1"}).status_code == 404
    assert tiny_client.get("/_sandbox/advance").status_code == 405


def test_custom_start_now_anchors_the_catalog():
    start = datetime(2025, 6, 1, 9, 30, tzinfo=BEIJING)
    with Sandbox(SandboxConfig(seed=2, scale="tiny", now=start)) as sb:
        assert sb.now == start
        assert sb.truth.order_days()[-1] == start.date()
        assert len(sb.truth.order_days()) == 5
