"""The schema-drift check (WARN) of the raw wares: a field seed 004 documents is never drift, a field
nobody documented is, and so is an always-sent field that a record lacks."""

from __future__ import annotations

import json

import duckdb
import pytest

from jd_assets.raw import tables
from jd_assets.raw.checks import drift_sql, schema_drift
from jd_assets_tests.conftest import land_record

# Seed 004's response example, verbatim.
SEED_004_WARE = json.loads(
    """{
"brandId": 362679,
"categoryId": 11222,
"colType": 0,
"created": 1653938314000,
"itemNum": "rjMX8wWW",
"logo": "jfs/t1/55102/16/18472/99056/6291471aEae12ff31/886dab8270b0fb86.jpg",
"modified": 1657201041000,
"multiCategoryId": 11222,
"offlineTime": 1657201042000,
"onlineTime": 1653939561000,
"title": "依迪筱 男童篮球服休闲风短袖套装背心夏装2022新款帅气男孩夏季中大童儿童洋气",
"wareId": 10022660724067,
"wareLocation": 1,
"wareStatus": -1
}"""
)
# The top-level names of seed 004's field table (the Ware object) that its example does not carry.
SEED_004_MORE_FIELDS = [
    "templateId",
    "transportId",
    "outerId",
    "barCode",
    "delivery",
    "adWords",
    "wrap",
    "packListing",
    "weight",
    "width",
    "height",
    "length",
    "props",
    "features",
    "images",
    "shopCategorys",
    "mobileDesc",
    "introduction",
    "zhuangBaIntroduction",
    "zhuangBaId",
    "introductionUseFlag",
    "afterSales",
    "marketPrice",
    "costPrice",
    "jdPrice",
    "brandName",
    "stockNum",
    "categorySecId",
    "shopId",
    "promiseId",
    "multiCateProps",
    "sellPoint",
    "wareTax",
    "afterSaleDesc",
    "zhuangBaMobileDesc",
    "mobileZhuangBaId",
    "mobileDescUseFlag",
    "fitCaseHtmlPc",
    "fitCaseHtmlApp",
    "specialServices",
    "parentId",
    "wareGroupId",
    "businessType",
    "designConcept",
    "isArchival",
    "templateIds",
]


def drift_of(tmp_path, record: dict) -> dict[str, list[str]]:
    con = duckdb.connect(str(tmp_path / "drift.duckdb"))
    try:
        land_record(con, tables.WARES, record, str(record.get("wareId", 9)))
        return schema_drift(tables.WARES.name, con.execute(drift_sql(tables.WARES.name)).fetchall())
    finally:
        con.close()


def test_every_field_seed_004_documents_is_known(tmp_path):
    record = SEED_004_WARE | {field: None for field in SEED_004_MORE_FIELDS}
    assert drift_of(tmp_path, record) == {"new_fields": [], "missing_fields": []}


@pytest.mark.parametrize(
    ("record", "drift"),
    [
        (SEED_004_WARE | {"newThing": 1}, {"new_fields": ["newThing"], "missing_fields": []}),
        (
            {k: v for k, v in SEED_004_WARE.items() if k != "title"},
            {"new_fields": [], "missing_fields": ["title"]},
        ),
    ],
    ids=["an undocumented field", "an always-sent field missing"],
)
def test_drift_names_new_and_missing_fields(tmp_path, record, drift):
    assert drift_of(tmp_path, record) == drift
