"""What the Dagster UI shows about the assets (issue 14): owners and tags on every asset, ``pii`` on the
tables with buyer data, documented columns that are the table's real columns, code references that land
on each derived table's SQL, and a description on every schedule and job."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_assets.definitions import defs
from jd_assets.raw import tables
from jd_assets.raw.landing import ensure_table


@pytest.fixture(scope="module")
def repo():
    return defs.get_repository_def()


def test_every_asset_has_owners_and_a_domain_and_pii_is_tagged(repo):
    graph = repo.asset_graph
    keys = graph.get_all_asset_keys()
    for key in keys:
        node = graph.get(key)
        assert node.owners == ["team:jd-data"], key
        assert node.tags.get("domain") in {"reviews", "orders", "catalog", "analytics"}, key
    pii = {key.to_user_string() for key in keys if "pii" in graph.get(key).tags}
    assert pii == {"raw_orders", "raw_order_tracks"}


def test_raw_column_docs_are_the_tables_real_columns(repo, tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    for table in (tables.COMMENTS, tables.ITEM_DETAILS, tables.WARES, tables.ORDERS, tables.ORDER_TRACKS):
        ensure_table(con, table)
        real = [
            name for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table.name})").fetchall()
        ]
        key = next(
            k
            for k in repo.asset_graph.get_all_asset_keys()
            if repo.asset_graph.get(k).metadata.get("dagster/table_name") == table.name
        )
        schema = repo.asset_graph.get(key).metadata["dagster/column_schema"]
        assert sorted(c.name for c in schema.columns) == sorted(real), table.name
        assert all(c.description for c in schema.columns)


def test_every_derived_asset_links_to_the_sql_that_creates_its_table(repo):
    graph = repo.asset_graph
    derived = [k for k in graph.get_all_asset_keys() if graph.get(k).group_name in {"clean", "marts"}]
    assert len(derived) >= 13
    for key in derived:
        metadata = graph.get(key).metadata
        table = metadata["dagster/table_name"]
        references = metadata["dagster/code_references"].code_references
        sql = next(r for r in references if r.label == f"SQL: {table}")
        line = Path(sql.file_path).read_text(encoding="utf-8").splitlines()[sql.line_number - 1]
        assert f"TABLE {table} " in line or f"EXISTS {table} " in line, (key, line)


def test_every_schedule_and_job_is_described(repo):
    for schedule in repo.schedule_defs:
        assert schedule.description and len(schedule.description) > 30, schedule.name
    for name in repo.job_names:
        if name.startswith("__"):
            continue
        assert repo.get_job(name).description, name


def test_code_references_link_to_git_when_a_repository_url_is_given(monkeypatch):
    from jd_assets.annotate import annotate
    from jd_assets.marts import MART_ASSETS

    monkeypatch.setenv("JD_ASSETS_GIT_URL", "https://github.com/example/jd_assets")
    (summary,) = (a for a in annotate(MART_ASSETS) if a.key == dg.AssetKey("product_review_summary"))
    urls = [
        r.url for r in summary.specs_by_key[summary.key].metadata["dagster/code_references"].code_references
    ]
    assert urls[0].startswith("https://github.com/example/jd_assets/tree/main/jd_assets/marts/assets.py#L")


def test_every_run_the_automation_or_a_job_launches_executes_in_one_process(repo):
    # a process per step cost 11x the rebuild itself (bench/executor.py); the automation's runs use the
    # implicit asset job, which takes the Definitions' executor
    assert repo.get_implicit_global_asset_job_def().executor_def.name == "in_process"
    for name in repo.job_names:
        assert repo.get_job(name).executor_def.name == "in_process", name


def test_the_code_location_loads_as_dagster_dev_loads_it():
    # workspace.yaml names the module: Dagster refuses one with several Definitions at its top level
    from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module

    (target,) = loadable_targets_from_python_module("jd_assets.definitions", None)
    assert target.attribute == "defs"
