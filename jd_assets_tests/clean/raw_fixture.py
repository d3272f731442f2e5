"""Hand-written raw records, landed through the real landing path into a DuckDB file.

The records cover what the clean layer must decode: both order dialects (live camelCase with strings,
seed snake_case with JSON numbers, a ware id above 2^53), full-width text, JD's filler texts, emoji,
CRLF, media lists that are null or empty, epoch-ms and text ware times, a SKU without details, a SKU
linked to a ware only by an order, and one invalid record per source that raw rejects.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.definitions import CHECKS as CLEAN_DEFINITION_CHECKS
from jd_assets.clean.pii import PiiKey
from jd_assets.derived.building import FULLWIDTH, HALFWIDTH
from jd_assets.marts import MART_ASSETS
from jd_assets.marts.definitions import CHECKS as MART_DEFINITION_CHECKS
from jd_assets.raw import tables
from jd_assets.raw.landing import batch, land
from jd_assets.warehouse import DuckDBWarehouse

FETCHED = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 Beijing
BIG_WARE = "9007199254740993"  # 2^53 + 1: a float would make it ...992

PII = {  # every buyer identifier in the orders below; none may appear outside raw
    "pins": ["jd_buyer_alice", "jd_buyer_bob"],
    "names": ["张晓明", "李秀英"],
    "mobiles": ["13800138000", "13912345678"],
    "addresses": [
        "北京市朝阳区望京街道阳光花园3号楼2单元501",
        "上海市浦东新区张江镇建设路88号锦绣家园6-1203",
    ],
}


def picture(media: str = "1", live: str = "0") -> dict:
    return {
        "picURL": "https://img30.360buyimg.com/shaidan/s300x300_jfs/t1/1/a.jpg.dpg",
        "largePicURL": "https://img30.360buyimg.com/shaidan/s1080x1080_jfs/t1/1/a.jpg.dpg",
        "mediaType": media,
        "liveShooting": live,
    }


def comment(cid: str, sku: str, when: str, score, text, pictures, buy_count=1, nick="4***f") -> dict:
    record = {
        "userNickName": nick,
        "userImgURL": "https://storage.360buyimg.com/default.image/x_sma.jpg",
        "commentId": cid,
        "productId": sku,
        "commentDate": when,
        "commentData": text,
        "pictureInfoList": pictures,
        "commentScore": score,
        "guid": f"guid-{cid}",
    }
    if buy_count is not None:
        record["buyCount"] = buy_count
    return record


COMMENTS = {
    "100001": [
        comment(
            "501",
            "100001",
            "2026-03-09 15:21:20",
            "5",
            "非常好！ＡＢＣ　很棒\n推荐",
            [picture(), picture(live="1"), picture(media="2")],
            buy_count=3,
            nick="发***桑",
        ),
        comment("502", "100001", "2026-03-08 10:00:00", 1, "此用户未填写评价内容", None),
        comment("503", "100001", "2026-01-02 08:00:00", "3", "", [], buy_count=None),
        comment("504", "100001", "2026-03-09 11:00:00", "6", "score out of range", []),  # rejected
    ],
    "100002": [
        comment(
            "601", "100002", "2026-03-07 00:30:41", "4", "  还行吧 👍\r\n第二行  ", [picture()], buy_count=2
        ),
        comment("602", "100002", "2026-03-07 09:00:00", "5", "好", [], buy_count=1),
        comment("603", "100002", "2026-03-08 21:00:00", "1", "收到就是坏的，差评", [picture()], buy_count=1),
    ],
    "100003": [  # no details and no ware for this SKU: its reviews must still reach the marts
        comment("701", "100003", "2026-03-05 12:00:00", "2", "此用户未及时填写评价内容，系统默认好评！", []),
    ],
}

DETAILS = {
    "100001": {
        "itemId": "100001",
        "wareId": "900001",
        "title": "兰蔻小黑瓶精华肌底液 50ml",
        "brandName": "兰蔻",
        "brandId": "9547",
        "shopId": "1000001",
        "shopName": "京选优品旗舰店",
        "categoryPath": ["美妆护肤", "面部护肤", "精华"],
        "categoryId": "13544",
        "price": "129.00",
        "originalPrice": "159.00",
        "mainImageUrl": "//img14.360buyimg.com/n1/jfs/t1/main.jpg",
    },
    "100002": {  # no wareId in the details (the order links it); price as a JSON number
        "itemId": "100002",
        "title": "无线蓝牙鼠标 石墨黑",
        "brandName": "罗技",
        "shopName": "沙盒数码专营店",
        "categoryPath": ["电脑、办公", "外设产品", "鼠标"],
        "price": 59.9,
        "mainImageUrl": "jfs/t1/mouse.jpg",
    },
    "100004": {"taskStatus": "PENDING", "taskId": "t-1"},  # rejected: never a product row
}

WARES = {
    "900001": {
        "wareId": 900001,
        "title": "兰蔻小黑瓶",
        "categoryId": 13544,
        "brandId": 9547,
        "wareStatus": 8,
        "itemNum": "LC-50",
        "barCode": "3614272623545",
        "wareLocation": 1,
        "colType": 0,
        "created": 1653938314000,  # 2022-05-30 19:18:34 UTC = 2022-05-31 03:18:34 Beijing
        "modified": "2026-02-01 10:00:00",
        "onlineTime": 1653939561000,
        "logo": "jfs/t1/55102/logo.jpg",
        "images": [
            {"colorId": "0000000000", "imgId": 2, "imgIndex": 2, "imgUrl": "jfs/t1/b.jpg"},
            {"colorId": "0000000000", "imgId": 1, "imgIndex": 1, "imgUrl": "jfs/t1/a.jpg"},
        ],
        "jdPrice": 129.0,
        "marketPrice": 159,
    },
    BIG_WARE: {
        "wareId": int(BIG_WARE),
        "title": "罗技鼠标",
        "categoryId": 690,
        "brandId": 8740,
        "wareStatus": 2,
        "created": "2025-06-01 09:30:00",
        "offlineTime": "2026-03-01 00:00:00",
    },
    "900003": {"wareId": 900003, "wareStatus": 99},  # rejected: unknown status
}


def live_order(order_id, created, state, items, pin, name, mobile, address, payment="318.00", total="318.00"):
    return {
        "orderId": order_id,
        "venderId": "77",
        "payType": "4-在线支付",
        "orderTotalPrice": total,
        "orderSellerPrice": "310.00",
        "orderPayment": payment,
        "freightPrice": "0.00",
        "sellerDiscount": "8.00",
        "orderState": state,
        "orderStartTime": created,
        "modified": created,
        "paymentConfirmTime": created,
        "pin": pin,
        "consigneeInfo": {
            "fullname": name,
            "telephone": "",
            "mobile": mobile,
            "fullAddress": address,
            "province": address[:2],
            "city": address[:3],
            "county": "朝阳区",
            "town": "望京街道",
        },
        "itemInfoList": items,
    }


def seed_order(order_id, created, state, items, pin, name, mobile, address, payment=59.7, total=59.7):
    return {
        "order_id": order_id,
        "pay_type": "4-在线支付",
        "order_total_price": total,
        "order_seller_price": 59.7,
        "order_payment": payment,
        "freight_price": 0.1,
        "order_state": state,
        "order_start_time": created,
        "modified": created,
        "pin": pin,
        "consignee_info": {
            "fullname": name,
            "telephone": "",
            "mobile": mobile,
            "full_address": address,
            "province": address[:2],
            "city": address[:3],
            "county": "浦东新区",
            "town": "张江镇",
        },
        "item_info_list": items,
    }


ALICE = ("jd_buyer_alice", "张晓明", "13800138000", PII["addresses"][0])
BOB = ("jd_buyer_bob", "李秀英", "13912345678", PII["addresses"][1])

ORDERS = {
    "2026-03-01": [
        live_order(
            "3001",
            "2026-03-01 10:00:00",
            "FINISHED_L",
            [
                {
                    "skuId": "100001",
                    "wareId": "900001",
                    "skuName": "兰蔻小黑瓶 50ml",
                    "jdPrice": "129.00",
                    "itemTotal": "2",
                    "outerSkuId": "LC-50",
                },
                {
                    "skuId": "100002",
                    "wareId": BIG_WARE,
                    "skuName": "鼠标 黑",
                    "jdPrice": "59.90",
                    "itemTotal": "1",
                },
            ],
            *ALICE,
        ),
        live_order(
            "3002",
            "2026-03-01 11:00:00",
            "TRADE_CANCELED",
            [
                {
                    "skuId": "100001",
                    "wareId": "900001",
                    "skuName": "兰蔻小黑瓶 50ml",
                    "jdPrice": "129.00",
                    "itemTotal": "5",
                },
            ],
            *BOB,
            payment="645.00",
            total="645.00",
        ),
        {"orderId": "3999", "orderState": "FINISHED_L"},  # rejected: no orderStartTime
    ],
    "2026-03-02": [
        seed_order(
            3003,
            "2026-03-02 09:15:00",
            "WAIT_GOODS_RECEIVE_CONFIRM",
            [
                {
                    "sku_id": 100002,
                    "ware_id": int(BIG_WARE),
                    "sku_name": "鼠标 黑",
                    "jd_price": 19.9,
                    "item_total": 3,
                },
            ],
            *BOB,
        ),
        seed_order(
            3004,
            "2026-03-02 20:00:00",
            "FINISHED_L",
            [
                {
                    "sku_id": 100001,
                    "ware_id": 900001,
                    "sku_name": "兰蔻小黑瓶 50ml",
                    "jd_price": 129,
                    "item_total": 1,
                },
            ],
            *ALICE,
            payment=129,
            total=129,
        ),
    ],
}

TRACKS = {
    ("2026-03-01", "3001"): [
        {"time": "2026-03-01 18:00:00", "content": "您的订单已出库"},
        {"time": "2026-03-02 09:00:00", "content": "配送员张师傅正在为您派件"},
        {"time": "2026-03-02 20:30:00", "content": "您的订单已签收，感谢使用京东物流"},
    ],
    ("2026-03-02", "3003"): [{"time": "2026-03-02 21:00:00", "content": "您的订单已出库"}],
    ("2026-03-02", "3004"): [
        {"time": "2026-03-03 08:00:00", "content": "Package picked up"},
        {"time": "2026-03-05 10:00:00", "content": "Delivered to the recipient"},
    ],
}


def land_all(con: duckdb.DuckDBPyConnection, *, fetched_at: datetime = FETCHED, orders=None) -> None:
    """Land every record above (or the given orders) through ``jd_assets.raw.landing.land``."""

    def go(table, records, key, value, request_key=None):
        land(
            con,
            table,
            batch(records, page=1, request_key=request_key or key),
            partition_key=key,
            partition_value=value,
            run_id="fixture",
            fetched_at=fetched_at,
        )

    for sku, records in COMMENTS.items():
        go(tables.COMMENTS, records, sku, sku)
    for sku, record in DETAILS.items():
        go(tables.ITEM_DETAILS, [record], sku, sku)
    for ware, record in WARES.items():
        go(tables.WARES, [record], ware, ware)
    for day, records in (ORDERS if orders is None else orders).items():
        go(tables.ORDERS, records, day, date.fromisoformat(day))
    by_day: dict[str, list] = {}
    for (day, order_id), events in TRACKS.items():
        by_day.setdefault(day, []).append((order_id, events))
    for day, entries in by_day.items():
        stacked = [batch([events], page=1, request_key=f"{day}/{oid}") for oid, events in entries]
        land(
            con,
            tables.ORDER_TRACKS,
            pa.concat_tables(stacked),
            partition_key=day,
            partition_value=date.fromisoformat(day),
            run_id="fixture",
            fetched_at=fetched_at,
        )


def build_raw(path: Path, **kwargs) -> Path:
    con = duckdb.connect(str(path))
    try:
        land_all(con, **kwargs)
    finally:
        con.close()
    return path


PII_KEY = "test-pii-key-0123456789"


def derived_resources(path: Path | DuckDBWarehouse, key: str = PII_KEY) -> dict[str, object]:
    warehouse = path if isinstance(path, DuckDBWarehouse) else DuckDBWarehouse(database=str(path))
    return {"warehouse": warehouse, "pii_key": PiiKey(key=key)}


def build_derived(path: Path | DuckDBWarehouse, *, with_checks: bool = True, **kwargs):
    """Materialize every clean and mart asset (and their checks) over the raw tables in ``path``.

    ``path`` is a DuckDB file, or a warehouse (a DuckLake one).
    """
    checks = [*CLEAN_DEFINITION_CHECKS, *MART_DEFINITION_CHECKS] if with_checks else []
    return dg.materialize([*CLEAN_ASSETS, *MART_ASSETS, *checks], resources=derived_resources(path), **kwargs)


def table_rows(path: Path | DuckDBWarehouse, table: str) -> list[tuple]:
    if isinstance(path, DuckDBWarehouse):
        with path.read() as con:
            return con.execute(f"SELECT * FROM {table}").fetchall()
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        con.close()


def halfwidth_py(text: str) -> str:
    """The same mapping as :func:`halfwidth` (without NFC), in Python, for the tests' expected values."""
    return text.translate(str.maketrans(FULLWIDTH, HALFWIDTH))


def failed_blocking_checks(result) -> tuple[int, list[str]]:
    """How many checks a run evaluated, and the keys of those that failed at ERROR severity."""
    evaluations = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    failed = [
        e.asset_check_key.to_user_string()
        for e in evaluations
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    ]
    return len(evaluations), failed
