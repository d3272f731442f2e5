"""The two dialects of JD's order records, mapped once: every field, how each dialect spells it, which
fields are buyer PII. The gateway client, the raw table, the schema-drift check, the clean tables, the PII
check and the purge recipe all read this map (SQL fragments are generated from it), so a spelling is
added here or nowhere.

Dialects (API_NOTES §2): ``live`` is the production router (``jingdong.pop.order.search`` /
``order.get``, camelCase, ids and money as strings); ``seed`` is seed 003's (``jingdong.pop.orders.get``
/ ``order.get``, snake_case, JSON numbers). Seed 003 shows two shapes of the seed dialect: the list
record (``order_id``, ``order_total_price``, ``order_state``, ``consignee_info`` ``{name,
full_address}``, no items) and the ``order.get`` record (``items`` ``{sku_id, name, price, num}``,
``payment_type``, ``receiver_info`` ``{name, address}``); the sandbox also serves a fuller snake_case
record (``item_info_list`` ``{sku_id, sku_name, jd_price, item_total}``, ``consignee_info.fullname``).
Every spelling of every shape is listed, the first being the preferred one.

An order is one row of ``raw.orders``: ``record`` (the list record) and ``detail`` (the ``order.get``
record, fetched when the list record carries no items). A field is read from the record first, then from
the detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LIVE, SEED = "live", "seed"
DIALECTS = (LIVE, SEED)
#: The JSON columns of ``raw.orders`` a field is read from, in order.
ORDER_COLUMNS = ("record", "detail")


@dataclass(frozen=True)
class JosField:
    """One field: its spellings per dialect (preferred first), and the dialects that always send it."""

    live: tuple[str, ...]
    seed: tuple[str, ...]
    required_in: tuple[str, ...] = ()

    def names(self, dialect: str) -> tuple[str, ...]:
        return self.live if dialect == LIVE else self.seed

    def every_name(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.live + self.seed))

    def spelled(self, dialect: str) -> str:
        """How ``dialect`` spells the field, for messages (``item_info_list or items``)."""
        return " or ".join(self.names(dialect))


def _f(
    live: str | tuple[str, ...], seed: str | tuple[str, ...], required_in: tuple[str, ...] = ()
) -> JosField:
    as_tuple = lambda v: (v,) if isinstance(v, str) else v  # noqa: E731
    return JosField(as_tuple(live), as_tuple(seed), required_in)


BOTH = DIALECTS

#: Top-level fields of an order record (the list record and the ``order.get`` record).
ORDER: Mapping[str, JosField] = {
    "order_id": _f("orderId", "order_id", BOTH),
    "state": _f("orderState", "order_state", BOTH),
    "created_at": _f("orderStartTime", "order_start_time", (LIVE,)),  # seed 003 shows none
    "modified": _f("modified", "modified"),
    "paid_at": _f("paymentConfirmTime", "payment_confirm_time"),
    "order_total_price": _f("orderTotalPrice", "order_total_price"),
    "order_seller_price": _f("orderSellerPrice", "order_seller_price"),
    "order_payment": _f("orderPayment", "order_payment"),
    "freight_price": _f("freightPrice", "freight_price"),
    "seller_discount": _f("sellerDiscount", "seller_discount"),
    "pay_type": _f("payType", ("pay_type", "payment_type")),
    "pin": _f("pin", "pin"),
    "items": _f("itemInfoList", ("item_info_list", "items")),
    "consignee": _f("consigneeInfo", ("consignee_info", "receiver_info")),
    # Known but not used by the clean tables (the schema-drift check knows them).
    "vender_id": _f("venderId", "vender_id"),
    "order_type": _f("orderType", "order_type"),
    "state_remark": _f("orderStateRemark", "order_state_remark"),
    "end_time": _f("orderEndTime", "order_end_time"),
    "remark": _f("orderRemark", "order_remark"),
    "delivery_type": _f("deliveryType", "delivery_type"),
    "invoice": _f("invoiceInfo", "invoice_info"),
    "waybill": _f("waybill", "waybill"),
    "logistics_id": _f("logisticsId", "logistics_id"),
}

#: Fields of the consignee object (``consigneeInfo`` / ``consignee_info`` / ``receiver_info``).
CONSIGNEE: Mapping[str, JosField] = {
    "name": _f("fullname", ("fullname", "name")),
    "mobile": _f("mobile", "mobile"),
    "telephone": _f("telephone", "telephone"),
    "address": _f("fullAddress", ("full_address", "address")),
    "province": _f("province", "province"),
    "city": _f("city", "city"),
    "county": _f("county", "county"),
    "town": _f("town", "town"),
}

#: Fields of one order item (``itemInfoList[]`` / ``item_info_list[]`` / ``items[]``).
ITEM: Mapping[str, JosField] = {
    "sku_id": _f("skuId", "sku_id"),
    "ware_id": _f("wareId", "ware_id"),
    "sku_name": _f("skuName", ("sku_name", "name")),
    "unit_price": _f("jdPrice", ("jd_price", "price")),
    "quantity": _f("itemTotal", ("item_total", "num")),
    "outer_sku_id": _f("outerSkuId", "outer_sku_id"),
}

#: Buyer PII: the account at the top level, and these consignee fields. Phones are compared by digits.
PII_ORDER_FIELDS = ("pin",)
PII_CONSIGNEE_FIELDS = ("name", "mobile", "telephone", "address")
PHONE_FIELDS = ("mobile", "telephone")

#: Top-level fields of a *list* record each dialect always sends (the schema-drift check's "missing").
#: Live: what ``optional_fields`` asks for and the router always answers; seed: seed 003's list example.
ALWAYS_IN_LIST: Mapping[str, frozenset[str]] = {
    LIVE: frozenset(
        ORDER[f].live[0]
        for f in (
            "order_id",
            "vender_id",
            "order_type",
            "pay_type",
            "order_total_price",
            "order_seller_price",
            "order_payment",
            "freight_price",
            "seller_discount",
            "state",
            "state_remark",
            "created_at",
            "modified",
            "paid_at",
            "pin",
            "consignee",
            "items",
        )
    ),
    SEED: frozenset({"order_id", "order_total_price", "order_state", "consignee_info"}),
}


def known_fields(dialect: str) -> frozenset[str]:
    """Every top-level field ``dialect`` is documented to send."""
    return frozenset(name for f in ORDER.values() for name in f.names(dialect))


# -- Python readers ---------------------------------------------------------------------------------------


def value(record: Mapping[str, Any], field: JosField, dialect: str) -> Any:
    """The field's value in ``record`` under the first spelling of ``dialect`` present (or None)."""
    for name in field.names(dialect):
        if record.get(name) is not None:
            return record[name]
    return None


def items_of(record: Mapping[str, Any], dialect: str) -> list | None:
    """The record's items, or None when it carries none (absent, null or empty)."""
    items = value(record, ORDER["items"], dialect)
    return items if isinstance(items, list) and items else None


def dialect_of(record: Mapping[str, Any]) -> str:
    """The dialect a record is written in (live records carry ``orderId``)."""
    return LIVE if any(name in record for name in ORDER["order_id"].live) else SEED


# -- SQL fragments ------------------------------------------------------------------------------------------


def _paths(field: JosField, parents: Sequence[str] = ("",)) -> list[str]:
    return [f"{parent}{name}" for parent in parents for name in field.every_name()]


def sql_json(
    field: JosField, columns: Iterable[str] = ORDER_COLUMNS, *, parent: JosField | None = None
) -> str:
    """SQL: the field's JSON value, the first spelling present, record before detail."""
    parents = [f"{p}." for p in parent.every_name()] if parent else [""]
    return "coalesce(" + ", ".join(f"{c}->'$.{p}'" for c in columns for p in _paths(field, parents)) + ")"


def sql_text(
    field: JosField, columns: Iterable[str] = ORDER_COLUMNS, *, parent: JosField | None = None
) -> str:
    """SQL: the field's value as text (JSON strings unquoted), the first spelling present."""
    parents = [f"{p}." for p in parent.every_name()] if parent else [""]
    return "coalesce(" + ", ".join(f"{c}->>'$.{p}'" for c in columns for p in _paths(field, parents)) + ")"


def order_text(name: str, columns: Iterable[str] = ORDER_COLUMNS) -> str:
    return sql_text(ORDER[name], columns)


def consignee_text(name: str, columns: Iterable[str] = ORDER_COLUMNS) -> str:
    return sql_text(CONSIGNEE[name], columns, parent=ORDER["consignee"])


def item_text(name: str, item: str = "item") -> str:
    return sql_text(ITEM[name], [item])


def items_sql(columns: Iterable[str] = ORDER_COLUMNS) -> str:
    """SQL: the order's item list (JSON array): the record's if it has any, else the detail's."""
    lists = [f"{c}->'$.{n}'" for c in columns for n in ORDER["items"].every_name()]
    return "coalesce(" + ", ".join(f"CASE WHEN json_array_length({x}) > 0 THEN {x} END" for x in lists) + ")"


def consignee_sql(columns: Iterable[str] = ORDER_COLUMNS) -> str:
    """SQL: the first consignee object present (record before detail), or NULL."""
    return sql_json(ORDER["consignee"], columns)


def dialect_sql(record: str = "record") -> str:
    """SQL: the dialect of a raw order record, as :func:`dialect_of`."""
    live = " OR ".join(f"({record}->'$.{n}') IS NOT NULL" for n in ORDER["order_id"].live)
    return f"CASE WHEN {live} THEN '{LIVE}' ELSE '{SEED}' END"


def spelled_sql(field: JosField, dialect: str = "dialect") -> str:
    """SQL: the field's name as the row's dialect spells it, for reject reasons."""
    return f"CASE {dialect} WHEN '{LIVE}' THEN '{field.spelled(LIVE)}' ELSE '{field.spelled(SEED)}' END"


def pii_values_sql(columns: Iterable[str] = ORDER_COLUMNS) -> list[str]:
    """SQL expressions (over ``raw.orders``) of every documented buyer identifier, both dialects, both
    calls: the account, and each consignee name, phone and address."""
    columns = tuple(columns)
    out = [f"{c}->>'$.{n}'" for f in PII_ORDER_FIELDS for c in columns for n in ORDER[f].every_name()]
    for f in PII_CONSIGNEE_FIELDS:
        out += [
            f"{c}->>'$.{p}.{n}'"
            for c in columns
            for p in ORDER["consignee"].every_name()
            for n in CONSIGNEE[f].every_name()
        ]
    return out


def phone_values_sql(columns: Iterable[str] = ORDER_COLUMNS) -> list[str]:
    """SQL expressions of every documented buyer phone (mobile, telephone), both dialects, both calls."""
    columns = tuple(columns)
    return [
        f"{c}->>'$.{p}.{n}'"
        for c in columns
        for p in ORDER["consignee"].every_name()
        for f in PHONE_FIELDS
        for n in CONSIGNEE[f].every_name()
    ]


def purge_sql(table: str = "raw.orders", columns: Iterable[str] = ORDER_COLUMNS) -> str:
    """SQL statements that delete every documented buyer field from ``table``'s JSON columns, keeping
    everything else (JSON merge-patch deletes a key patched with null; a consignee object is patched only
    where it exists, so no empty object is added to a record that had none). The rows it touches are
    rewritten by DuckDB's JSON functions, which write numbers in their shortest form (``899.00`` becomes
    ``899.0``: the same value)."""
    pin_names = [n for f in PII_ORDER_FIELDS for n in ORDER[f].every_name()]
    pins = ", ".join(f'"{n}": null' for n in pin_names)
    people = ", ".join(f'"{n}": null' for f in PII_CONSIGNEE_FIELDS for n in CONSIGNEE[f].every_name())
    statements = []
    for column in columns:
        has_pin = " OR ".join(f"({column}->'$.{n}') IS NOT NULL" for n in pin_names)
        statements.append(
            f"UPDATE {table} SET {column} = json_merge_patch({column}, '{{{pins}}}')\n    WHERE {has_pin};"
        )
        for parent in ORDER["consignee"].every_name():
            patch = f'{{"{parent}": {{{people}}}}}'
            statements.append(
                f"UPDATE {table} SET {column} = json_merge_patch({column}, '{patch}')\n"
                f"    WHERE json_type({column}->'$.{parent}') = 'OBJECT';"
            )
    return "\n".join(statements)
