"""Orders, their state timelines and logistics tracks, generated day by day on demand.

Orders are created every Beijing day from ``order_days`` before the initial now onwards, with no end:
advancing the clock brings new ones. An order is a pure function of (seed, day, index); its state at
time T is a pure function of (order, T): the timeline only moves forward
(WAIT_SELLER_STOCK_OUT -> WAIT_GOODS_RECEIVE_CONFIRM -> FINISHED_L; ~5% TRADE_CANCELED before shipping;
~1% LOCKED then canceled; ~1% POP_ORDER_PAUSE, then shipped). ``modified`` is the last change <= T.

Order ids are 12 digits ``3DDDDDIIIIII``: the day (days since 2020-01-01) and the index within the
day, so ``order.get`` decodes them without a lookup; within a day ids grow with creation time.
Two serializations share one record: the live dialect (camelCase, ids and money as strings) and the
seed dialect (snake_case, ids and money as JSON numbers). The seed dialect has two shapes
(``SandboxConfig.jos_seed_shape``): ``full`` (every live field in snake_case, the same record from the
list and from ``order.get``) and ``documented`` (exactly what seed 003's examples show: the list record
``order_id, order_total_price, order_state, consignee_info{name, full_address}`` without items; the
``order.get`` record ``order_id, freight_price, order_state, items[{sku_id, name, price, num}],
payment_type, receiver_info{name, address}``; money as two-decimal JSON numbers such as ``8.00``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from . import texts
from ._hash import rng, unit
from ._time import DAY, day_number, day_start, fmt
from .catalog import Catalog, _money

DAY_2020 = 18262  # day number of 2020-01-01
ORDER_BASE = 300_000_000_000
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 9, 8, 7, 7, 7, 7, 8, 10, 12, 12, 9, 4)


Track = tuple[int, str]  # (epoch, content)


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    day: int
    created: int
    paid: int | None  # None for cash on delivery
    pay_type: str
    buyer: int
    items: tuple[tuple[int, int], ...]  # (sku index, quantity)
    total_cents: int
    freight_cents: int
    discount_cents: int
    timeline: tuple[tuple[int, str], ...]  # (epoch, state), ascending
    shipped: int | None
    tracks: tuple[tuple[int, str], ...]
    waybill: str
    logistics_id: str


class OrderBook:
    """Orders over the catalog. Days are generated lazily and cached (bounded LRU)."""

    def __init__(self, catalog: Catalog, pii_marker: str | None = None, seed_shape: str = "full"):
        self.catalog = catalog
        self.seed_shape = seed_shape
        self.seed = catalog.seed
        self.pii_marker = pii_marker or ""
        self.first_day = day_number(catalog.anchor) - catalog.scale.order_days + 1
        self.day_orders = lru_cache(maxsize=128)(self._day_orders)
        self.buyer = lru_cache(maxsize=4096)(self._buyer)

    # ------------------------------------------------------------------ generation
    def orders_on_day_count(self, day: int) -> int:
        if day < self.first_day:
            return 0
        per_day = self.catalog.scale.orders_per_day
        weekday = (day + 3) % 7  # 0 = Monday
        factor = (0.7 + 0.6 * unit(self.seed, "daycount", day)) * (1.25 if weekday >= 5 else 1.0)
        return int(per_day * factor + 0.5)

    def _day_orders(self, day: int) -> tuple[Order, ...]:
        count = self.orders_on_day_count(day)
        if count == 0:
            return ()
        r = rng(self.seed, "dayorders", day)
        offsets = sorted(
            r.choices(range(24), weights=_HOUR_WEIGHTS)[0] * 3600 + r.randrange(3600) for _ in range(count)
        )
        start = day_start(day)
        return tuple(self._order(day, idx, start + off) for idx, off in enumerate(offsets))

    def _order(self, day: int, idx: int, created: int) -> Order:
        cat = self.catalog
        r = rng(self.seed, "order", day, idx)
        order_id = str(ORDER_BASE + (day - DAY_2020) * 1_000_000 + idx)
        buyer = cat.pool_user(r)
        chosen: dict[int, int] = {}
        for _ in range(r.choices((1, 2, 3), weights=(70, 22, 8))[0]):
            chosen.setdefault(cat.popular_sku(r), r.choices((1, 2, 3), weights=(75, 18, 7))[0])
        items = tuple(sorted(chosen.items()))
        total = sum(cat.price_cents(i) * q for i, q in items)
        freight = 0 if total >= 9900 else 600
        discount = r.choice((500, 1000, 2000)) if total >= 19900 and r.random() < 0.25 else 0
        cod = r.random() < 0.05
        paid = None if cod else created + r.randint(20, 600)
        ready = paid or created
        fate = r.random()
        timeline: list[tuple[int, str]] = [(ready, "WAIT_SELLER_STOCK_OUT")]
        shipped = None
        if fate < 0.05:
            timeline.append((ready + r.randint(600, 36 * 3600), "TRADE_CANCELED"))
        elif fate < 0.06:
            locked = ready + r.randint(3600, 20 * 3600)
            timeline += [(locked, "LOCKED"), (locked + r.randint(DAY, 3 * DAY), "TRADE_CANCELED")]
        else:
            at = ready
            if fate < 0.07:
                at += r.randint(3600, 10 * 3600)
                timeline.append((at, "POP_ORDER_PAUSE"))
                at += r.randint(DAY, 2 * DAY)
            else:
                at += r.randint(2 * 3600, 48 * 3600)
            shipped = at
            timeline.append((shipped, "WAIT_GOODS_RECEIVE_CONFIRM"))
        tracks: tuple[tuple[int, str], ...] = ()
        waybill = logistics = ""
        if shipped is not None:
            waybill = f"JDV{r.randint(10**11, 10**12 - 1)}"
            logistics = "467"
            tracks, delivered = self._tracks(r, shipped, waybill, buyer)
            timeline.append((delivered + r.randint(DAY, 4 * DAY), "FINISHED_L"))
        return Order(
            order_id=order_id,
            day=day,
            created=created,
            paid=paid,
            pay_type="1-货到付款" if cod else "4-在线支付",
            buyer=buyer,
            items=items,
            total_cents=total,
            freight_cents=freight,
            discount_cents=discount,
            timeline=tuple(timeline),
            shipped=shipped,
            tracks=tracks,
            waybill=waybill,
            logistics_id=logistics,
        )

    def _tracks(self, r: Any, shipped: int, waybill: str, buyer: int) -> tuple[tuple[Track, ...], int]:
        origin = r.choice(texts.SORT_CENTERS)
        dest = texts.ADDRESSES[self._address_index(buyer)]
        t = shipped
        events = [(t, "您的订单已出库")]
        t += r.randint(1800, 4 * 3600)
        events.append((t, f"京东快递已收取快件,运单号{waybill}"))
        t += r.randint(3 * 3600, 12 * 3600)
        events.append((t, f"快件已到达【{origin}分拣中心】"))
        t += r.randint(2 * 3600, 30 * 3600)
        events.append((t, f"快件已从【{origin}分拣中心】发出,下一站【{dest[1]}{dest[2]}营业部】"))
        t += r.randint(4 * 3600, 20 * 3600)
        events.append((t, f"配送员【{r.choice(texts.COURIERS)}】正在为您派件"))
        t += r.randint(1800, 5 * 3600)
        events.append((t, "您的快件已签收,签收人:本人。感谢您使用京东物流,期待再次为您服务"))
        return tuple(events), t

    def _address_index(self, buyer: int) -> int:
        return int(unit(self.seed, "addr", buyer) * len(texts.ADDRESSES))

    def _buyer(self, u: int) -> dict[str, str]:
        """Buyer PII (pin, consignee). With a PII marker set, every PII string embeds it."""
        r = rng(self.seed, "buyer", u)
        mark = self.pii_marker
        name = r.choice(texts.SURNAMES) + "".join(r.choice(texts.GIVEN_CHARS) for _ in range(r.randint(1, 2)))
        mobile = r.choice(("13", "15", "17", "18", "19")) + f"{r.randrange(10**9):09d}"
        province, city, county, town = texts.ADDRESSES[self._address_index(u)]
        street = (
            f"{r.choice(texts.ROADS)}{r.randint(1, 999)}号{r.choice(texts.COMMUNITIES)}"
            f"{r.randint(1, 30)}栋{r.randint(101, 2605)}室"
        )
        return {
            "pin": self.catalog.user_pin(u) + mark,
            "fullname": name + mark,
            "telephone": mobile + mark,
            "mobile": mobile + mark,
            "fullAddress": f"{province}{city}{county}{town}{street}{mark}",
            "province": province,
            "city": city,
            "county": county,
            "town": town,
        }

    # ------------------------------------------------------------------ queries
    def find(self, order_id: str) -> Order | None:
        if not order_id.isdigit() or len(order_id) != 12:
            return None
        rest = int(order_id) - ORDER_BASE
        if rest < 0:
            return None
        day, idx = DAY_2020 + rest // 1_000_000, rest % 1_000_000
        orders = self.day_orders(day)
        return orders[idx] if idx < len(orders) else None

    def existing(self, order: Order | None, now: int) -> Order | None:
        return order if order is not None and order.created <= now else None

    def in_window(self, start: int, end: int, now: int) -> list[Order]:
        """Orders created in [start, end] (inclusive) that exist at ``now``, by creation then id."""
        end = min(end, now)
        out: list[Order] = []
        for day in range(max(day_number(start), self.first_day), day_number(end) + 1):
            out.extend(o for o in self.day_orders(day) if start <= o.created <= end)
        return out

    @staticmethod
    def state_at(order: Order, now: int) -> tuple[str, int]:
        state, changed = order.timeline[0][1], order.timeline[0][0]
        for t, s in order.timeline:
            if t > now:
                break
            state, changed = s, t
        return state, max(changed, order.created)

    @staticmethod
    def tracks_at(order: Order, now: int) -> list[dict[str, str]]:
        return [{"time": fmt(t), "content": c} for t, c in order.tracks if t <= now]

    # ------------------------------------------------------------------ serialization
    def live(self, order: Order, now: int) -> dict[str, Any]:
        cat = self.catalog
        state, modified = self.state_at(order, now)
        b = self.buyer(order.buyer)
        payment = order.total_cents - order.discount_cents + order.freight_cents
        record: dict[str, Any] = {
            "orderId": order.order_id,
            "venderId": cat.vender_id,
            "orderType": "22",
            "payType": order.pay_type,
            "orderTotalPrice": _money(order.total_cents),
            "orderSellerPrice": _money(order.total_cents - order.discount_cents),
            "orderPayment": _money(payment),
            "freightPrice": _money(order.freight_cents),
            "sellerDiscount": _money(order.discount_cents),
            "orderState": state,
            "orderStateRemark": texts.STATE_REMARKS[state],
            "orderStartTime": fmt(order.created),
            "modified": fmt(modified),
            "paymentConfirmTime": fmt(order.paid) if order.paid else "",
            "pin": b["pin"],
            "consigneeInfo": {
                k: b[k]
                for k in (
                    "fullname",
                    "telephone",
                    "mobile",
                    "fullAddress",
                    "province",
                    "city",
                    "county",
                    "town",
                )
            },
            "itemInfoList": [
                {
                    "skuId": cat.sku_id(i),
                    "wareId": cat.ware_id(cat.ware_of(i)),
                    "skuName": cat.sku_title(i),
                    "jdPrice": _money(cat.price_cents(i)),
                    "itemTotal": str(q),
                    "outerSkuId": f"OS-{cat.sku_id(i)[-6:]}",
                }
                for i, q in order.items
            ],
        }
        if order.shipped is not None and order.shipped <= now:
            record["waybill"] = order.waybill
            record["logisticsId"] = order.logistics_id
        return record

    def seed_dialect(self, order: Order, now: int) -> dict[str, Any]:
        cat = self.catalog
        state, modified = self.state_at(order, now)
        b = self.buyer(order.buyer)
        payment = order.total_cents - order.discount_cents + order.freight_cents
        record: dict[str, Any] = {
            "order_id": int(order.order_id),
            "vender_id": int(cat.vender_id),
            "pay_type": order.pay_type,
            "order_total_price": order.total_cents / 100,
            "order_seller_price": (order.total_cents - order.discount_cents) / 100,
            "order_payment": payment / 100,
            "freight_price": order.freight_cents / 100,
            "seller_discount": order.discount_cents / 100,
            "order_state": state,
            "order_start_time": fmt(order.created),
            "modified": fmt(modified),
            "pin": b["pin"],
            "consignee_info": {
                "fullname": b["fullname"],
                "telephone": b["telephone"],
                "mobile": b["mobile"],
                "full_address": b["fullAddress"],
                "province": b["province"],
                "city": b["city"],
                "county": b["county"],
                "town": b["town"],
            },
            "item_info_list": [
                {
                    "sku_id": int(cat.sku_id(i)),
                    "ware_id": int(cat.ware_id(cat.ware_of(i))),
                    "sku_name": cat.sku_title(i),
                    "jd_price": cat.price_cents(i) / 100,
                    "item_total": q,
                }
                for i, q in order.items
            ],
        }
        if order.shipped is not None and order.shipped <= now:
            record["waybill"] = order.waybill
            record["logistics_id"] = int(order.logistics_id)
        return record

    # ------------------------------------------------------------------ the seed dialect's two calls
    def seed_list(self, order: Order, now: int) -> dict[str, Any]:
        """The record ``jingdong.pop.orders.get`` lists, in the configured seed shape."""
        if self.seed_shape == "full":
            return self.seed_dialect(order, now)
        b = self.buyer(order.buyer)
        return {
            "order_id": int(order.order_id),
            "order_total_price": _decimal(order.total_cents),
            "order_state": self.state_at(order, now)[0],
            "consignee_info": {"name": b["fullname"], "full_address": b["fullAddress"]},
        }

    def seed_get(self, order: Order, now: int) -> dict[str, Any]:
        """The record ``jingdong.pop.order.get`` answers, in the configured seed shape."""
        if self.seed_shape == "full":
            return self.seed_dialect(order, now)
        cat = self.catalog
        b = self.buyer(order.buyer)
        return {
            "order_id": int(order.order_id),
            "freight_price": _decimal(order.freight_cents),
            "order_state": self.state_at(order, now)[0],
            "items": [
                {
                    "sku_id": int(cat.sku_id(i)),
                    "name": cat.sku_title(i),
                    "price": _decimal(cat.price_cents(i)),
                    "num": q,
                }
                for i, q in order.items
            ],
            "payment_type": "Cash on Delivery" if order.paid is None else "Online Payment",
            "receiver_info": {"name": b["fullname"], "address": b["fullAddress"]},
        }


def _decimal(cents: int) -> Decimal:
    """Money as seed 003 writes it: a JSON number with two decimals (``8.00``, ``199.99``)."""
    return Decimal(cents).scaleb(-2)
