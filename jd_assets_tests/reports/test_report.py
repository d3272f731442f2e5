"""The review report (issue 14): its figures are the marts' (an independent polars computation over the
mart tables agrees), its page is one self-contained file with every chart embedded, Chinese text renders
when a CJK font is installed and the report still renders (and says so) when none is, and the automation
rebuilds it after the marts."""

from __future__ import annotations

import base64
import json
import re
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from jd_assets.reports import report
from jd_assets.reports.report import MIN_REVIEWS, TOP, review_report
from jd_assets_tests.clean.raw_fixture import derived_resources

PNG = b"\x89PNG\r\n\x1a\n"


def _missing(reason: str) -> None:
    """Fail naming the missing system package: make test installs fonts and Chromium, so a missing one
    means the setup broke (a skipped test would prove nothing)."""
    pytest.fail(f"cannot run: {reason}; make test installs it")


def materialize(path: Path, reports: Path, monkeypatch) -> dict[str, object]:
    monkeypatch.setenv("JD_REPORTS_DIR", str(reports))
    result = dg.materialize([review_report], resources=derived_resources(path))
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def frame(path: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).pl()
    finally:
        con.close()


def test_the_reports_figures_are_the_marts(scratch_db, tmp_path, monkeypatch):
    metadata = materialize(scratch_db, tmp_path / "reports", monkeypatch)
    folder = Path(metadata["folder"])
    got = json.loads((folder / "figures.json").read_text(encoding="utf-8"))

    reviews = frame(scratch_db, "SELECT score FROM marts.product_reviews")
    stars = reviews.group_by("score").len().sort("score")
    assert [(r["score"], r["reviews"]) for r in got["stars"]] == list(stars.iter_rows())
    assert sum(r["reviews"] for r in got["stars"]) == reviews.height > 0

    daily = frame(scratch_db, "SELECT day, reviews, avg_score, negatives FROM marts.review_daily")
    weekly = (
        daily.with_columns(pl.col("day").dt.truncate("1w").alias("week"))
        .group_by("week")
        .agg(
            pl.col("reviews").sum(),
            ((pl.col("avg_score") * pl.col("reviews")).sum() / pl.col("reviews").sum()).alias("avg"),
            (pl.col("negatives").sum() / pl.col("reviews").sum()).alias("neg"),
        )
        .sort("week")
    )
    assert [r["week"] for r in got["score_trend"]] == [d.isoformat() for d in weekly["week"]]
    assert [r["reviews"] for r in got["score_trend"]] == weekly["reviews"].to_list()
    assert [r["avg_score"] for r in got["score_trend"]] == pytest.approx(weekly["avg"].to_list(), abs=1e-6)
    assert [r["negative_share"] for r in got["score_trend"]] == pytest.approx(
        weekly["neg"].to_list(), abs=1e-6
    )

    aspects = (
        frame(scratch_db, "SELECT aspect, mentions, negative_mentions FROM marts.sku_aspects")
        .group_by("aspect")
        .agg(pl.col("negative_mentions").sum(), pl.col("mentions").sum())
        .sort(["negative_mentions", "aspect"], descending=[True, False])
        .head(TOP)
    )
    assert [(r["aspect"], r["negative_mentions"], r["mentions"]) for r in got["pain_points"]] == list(
        aspects.iter_rows()
    )
    assert got["pain_points"], "the fixture's reviews name aspects"

    orders = frame(
        scratch_db,
        "SELECT province, delivery_hours FROM clean.orders "
        "WHERE NOT is_cancelled AND delivery_hours IS NOT NULL AND province IS NOT NULL",
    )
    provinces = orders.group_by("province").agg(pl.len().alias("orders"), pl.col("delivery_hours").median())
    want = {r[0]: (r[1], r[2]) for r in provinces.iter_rows()}
    assert {
        r["province"]: (r["orders"], pytest.approx(r["median_hours"])) for r in got["delivery_by_province"]
    } == {k: (n, pytest.approx(h)) for k, (n, h) in want.items()}

    summary = frame(
        scratch_db, "SELECT sku_id, n_reviews, hidden_complaint_share FROM marts.product_review_summary"
    ).filter((pl.col("n_reviews") >= MIN_REVIEWS) & pl.col("hidden_complaint_share").is_not_null())
    assert [r["sku_id"] for r in got["hidden_complaints"]] == (
        summary.sort(["hidden_complaint_share", "sku_id"], descending=[True, False])
        .head(TOP)["sku_id"]
        .to_list()
    )


def test_the_page_is_one_self_contained_file_with_every_chart(scratch_db, tmp_path, monkeypatch):
    metadata = materialize(scratch_db, tmp_path / "reports", monkeypatch)

    page = Path(metadata["path"])
    assert page.name == "report.html" and page.parent.parent == tmp_path / "reports"
    text = page.read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == metadata["charts"] == 5
    assert all(base64.b64decode(image).startswith(PNG) for image in images)
    assert not re.search(r'(src|href)="(https?:)?//', text), "nothing is fetched from the network"
    assert "<script" not in text
    for name in report.FIGURE_SQL:
        assert (page.parent / f"{name}.png").read_bytes().startswith(PNG)
    preview = metadata["preview"]
    assert preview.startswith("![") and len(preview) < 40_000


def test_without_a_cjk_font_the_report_still_renders_and_says_so(scratch_db, tmp_path, monkeypatch):
    monkeypatch.setattr(report, "cjk_font", lambda: None)
    metadata = materialize(scratch_db, tmp_path / "reports", monkeypatch)

    assert metadata["cjk_font"].startswith("none")
    text = Path(metadata["path"]).read_text(encoding="utf-8")
    assert "No CJK font installed" in text


def test_chinese_labels_render_with_the_installed_font(scratch_db):
    font = report.cjk_font()
    if font is None:
        _missing("no CJK font on this machine: make setup installs fonts-wqy-microhei (Debian)")
    con = duckdb.connect(str(scratch_db), read_only=True)
    data = report.figures(con)
    con.close()
    data["hidden_complaints"] = [
        {
            "sku_id": "1",
            "product_title": "罗技无线鼠标",
            "n_reviews": 30,
            "hidden_complaint_share": 0.2,
            "avg_score": 4,
        }
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" otherwise
        pngs = report.render(data, font)
    assert all(png.startswith(PNG) for png in pngs.values())


def test_the_automation_and_the_rebuild_job_bring_the_report_after_the_marts():
    from jd_assets.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    sensor = repo.get_sensor_def("derived_tables_automation_sensor")
    assert review_report.key in sensor.asset_selection.resolve(graph)
    assert review_report.key in repo.get_job("derived_tables_job").asset_layer.selected_asset_keys
    assert {dg.AssetKey("product_review_summary"), dg.AssetKey("sku_aspects")} <= graph.get(
        review_report.key
    ).parent_keys
    assert graph.get(review_report.key).automation_condition is not None


def test_the_page_renders_in_headless_chromium_with_its_charts_and_no_console_errors(
    scratch_db, tmp_path, monkeypatch
):
    from jd_assets_tests.browser import browser, chromium_path

    if chromium_path() is None:
        _missing("Chromium is not installed (Debian: apt-get install chromium; make test does it as root)")
    metadata = materialize(scratch_db, tmp_path / "reports", monkeypatch)

    with browser() as page:
        page.goto(Path(metadata["path"]).as_uri())
        assert page.wait_for("Array.from(document.images).every(i => i.complete)")
        images = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
        title = page.evaluate("document.querySelector('h1').textContent")
        shot = page.screenshot(tmp_path / "report.png", full_page=True)

    assert len(images) == 5 and all(w >= 600 and h >= 300 for w, h in images), images
    assert "京东评价报告" in title
    assert page.console_errors == []
    assert shot.read_bytes().startswith(PNG) and shot.stat().st_size > 20_000
