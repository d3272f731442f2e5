"""Small clients for the sandbox tests: signed JOS and Fengchao calls, comment paging (test code only)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import httpx

from jd_sandbox import Sandbox, sign

BEIJING = timezone(timedelta(hours=8))
COMMENTS = "/api/jd/get-item-comments/v1"
DETAILS = "/api/jd/get-item-detail/v2"


def wall_timestamp(offset_s: float = 0) -> str:
    return (datetime.now(BEIJING) + timedelta(seconds=offset_s)).strftime("%Y-%m-%d %H:%M:%S")


def jos_params(
    sb: Sandbox,
    method: str,
    biz: dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: str | None = None,
    **overrides: str,
) -> dict[str, str]:
    cfg = sb.config
    params = {
        "method": method,
        "app_key": cfg.jos_app_key,
        "access_token": cfg.jos_access_token,
        "timestamp": wall_timestamp() if timestamp is None else timestamp,
        "v": "2.0",
        "360buy_param_json": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
    }
    params.update(overrides)
    params["sign"] = sign(params, secret or cfg.jos_app_secret)
    return params


def jos(client: httpx.Client, sb: Sandbox, method: str, biz: dict[str, Any], **kw: Any) -> dict[str, Any]:
    response = client.post("/routerjson", data=jos_params(sb, method, biz, **kw))
    return response.json()


def day_window(day: date) -> dict[str, str]:
    return {"start_date": f"{day} 00:00:00", "end_date": f"{day} 23:59:59"}


def search_all(client: httpx.Client, sb: Sandbox, day: date, page_size: int = 7) -> list[dict[str, Any]]:
    """Every order of one day through jingdong.pop.order.search, page by page."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        biz = {
            **day_window(day),
            "optional_fields": "orderId,orderState",
            "page": str(page),
            "page_size": str(page_size),
            "dateType": "1",
        }
        result = jos(client, sb, "jingdong.pop.order.search", biz)
        inner = result["jingdong_pop_order_search_responce"]["searchorderinfo_result"]
        assert inner["apiResult"]["success"] is True
        out.extend(inner["orderInfoList"])
        if page * page_size >= inner["orderTotal"]:
            return out
        page += 1


def fengchao_params(
    sb: Sandbox,
    ware_id: str,
    *,
    field: str | None = None,
    secret: str | None = None,
    timestamp: int | None = None,
    **overrides: str,
) -> dict[str, str]:
    cfg = sb.config
    params = {
        "appid": cfg.fengchao_app_id,
        "timestamp": str(int(time.time()) if timestamp is None else timestamp),
        "seller_nick": cfg.fengchao_seller_nick,
        "wareId": ware_id,
    }
    if field is not None:
        params["field"] = field
    params.update(overrides)
    params["sign"] = sign(params, secret or cfg.fengchao_app_secret)
    return params


def comments_page(client: httpx.Client, sb: Sandbox, sku: str, page: int) -> dict[str, Any]:
    response = client.get(COMMENTS, params={"token": sb.config.token, "itemId": sku, "page": page})
    assert response.status_code == 200
    return response.json()


def all_comment_pages(client: httpx.Client, sb: Sandbox, sku: str) -> list[dict[str, Any]]:
    """Every comment served for ``sku``, pages 1..maxPage in order."""
    first = comments_page(client, sb, sku, 1)
    assert first["code"] == 0
    rows = list(first["data"]["data"])
    for page in range(2, int(first["data"]["pageInfo"]["maxPage"]) + 1):
        body = comments_page(client, sb, sku, page)
        assert body["code"] == 0
        rows.extend(body["data"]["data"])
    return rows
