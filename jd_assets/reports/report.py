"""The review report: what the marts say, as pictures people look at rather than tables they read.

Each materialization renders five charts with matplotlib (Agg backend: no display, no network) from the
marts and writes them under ``data/reports/<time>-<run>/`` (beside the DuckDB file, or
``JD_REPORTS_DIR``): one PNG per chart, ``figures.json`` (the numbers each chart draws) and
``report.html``, one self-contained page (charts embedded as base64 PNGs, no script, no external
resource) that opens offline in any browser. The materialization links the page (path metadata) and shows
a small preview of one chart inline.

Chinese text (product titles, aspect names) needs a CJK font: the project's setup installs Debian's
``fonts-wqy-microhei`` when missing (``make setup``); on a machine without any CJK font the report still
renders, with SKU ids and aspect ids in place of Chinese labels, and says so on the page and in the
metadata (``cjk_font``).
"""

import base64
import html
import io
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb

from jd_assets.clean import clean_orders
from jd_assets.derived.automation import FOLLOW_UPSTREAM
from jd_assets.marts import MART_ASSETS
from jd_assets.warehouse import DuckDBWarehouse

GROUP = "reports"
#: CJK fonts looked for, in order (Debian: fonts-wqy-microhei, fonts-noto-cjk).
CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans SC",
    "Source Han Sans SC",
)
#: A SKU's hidden-complaint rate is shown when it has at least this many reviews.
MIN_REVIEWS = 20
TOP = 12
CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")

#: The numbers each chart draws, straight from the marts (delivery from clean.orders: no mart holds the
#: province). Each query is ordered, so the report is repeatable.
FIGURE_SQL = {
    "score_trend": """
        SELECT CAST(date_trunc('week', day) AS DATE) AS week,
               sum(reviews) AS reviews,
               sum(avg_score * reviews) / sum(reviews) AS avg_score,
               sum(negatives) / sum(reviews) AS negative_share
        FROM marts.review_daily GROUP BY week ORDER BY week""",
    "stars": """
        SELECT score, count(*) AS reviews FROM marts.product_reviews GROUP BY score ORDER BY score""",
    "pain_points": f"""
        SELECT aspect, any_value(aspect_name) AS aspect_name,
               sum(negative_mentions) AS negative_mentions, sum(mentions) AS mentions,
               sum(negative_mentions) / sum(mentions) AS negative_share
        FROM marts.sku_aspects GROUP BY aspect
        ORDER BY negative_mentions DESC, aspect LIMIT {TOP}""",
    "delivery_by_province": f"""
        SELECT province, count(*) AS orders, median(delivery_hours) AS median_hours
        FROM clean.orders
        WHERE NOT is_cancelled AND delivery_hours IS NOT NULL AND province IS NOT NULL
        GROUP BY province ORDER BY median_hours DESC, province LIMIT {TOP}""",
    "hidden_complaints": f"""
        SELECT sku_id, coalesce(product_title, '') AS product_title, n_reviews,
               hidden_complaint_share, avg_score
        FROM marts.product_review_summary
        WHERE n_reviews >= {MIN_REVIEWS} AND hidden_complaint_share IS NOT NULL
        ORDER BY hidden_complaint_share DESC, sku_id LIMIT {TOP}""",
}
TITLES = {
    "score_trend": "Score trend (weekly mean stars, all SKUs) / 评分趋势",
    "stars": "Star distribution / 星级分布",
    "pain_points": "Pain points: reviews negative about each aspect / 痛点",
    "delivery_by_province": "Median delivery hours by province (slowest) / 各省配送时长",
    "hidden_complaints": (
        f"Hidden complaints: 4-5 stars, negative text (SKUs with >= {MIN_REVIEWS} reviews) / 隐性差评"
    ),
}


def reports_dir(warehouse: DuckDBWarehouse) -> Path:
    configured = os.environ.get("JD_REPORTS_DIR")
    if configured:
        return Path(configured)
    database = Path(warehouse.database)
    return (database.parent if database.suffix else Path("data")) / "reports"


def figures(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, object]]]:
    """Every chart's numbers, as JSON-ready rows (dates as ISO text, floats rounded to 6 places)."""
    out: dict[str, list[dict[str, object]]] = {}
    for name, sql in FIGURE_SQL.items():
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        out[name] = [
            {c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in cursor.fetchall()
        ]
    return out


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, 6)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return round(float(value), 6)


def cjk_font() -> str | None:
    """The first installed CJK font matplotlib can use, or None."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found is None:
        # matplotlib's font cache predates a font installed since (make setup): add the system's CJK files
        for path in font_manager.findSystemFonts():
            if re.search(r"wqy|cjk|sourcehan", Path(path).name, re.IGNORECASE):
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
        found = next((name for name in CJK_FONTS if name in installed), None)
    return found


def _label(text: str, fallback: str, font: str | None, width: int = 18) -> str:
    if CJK.search(text or "") and font is None:
        return fallback
    text = text or fallback
    return text if len(text) <= width else text[: width - 1] + "…"


def render(data: dict[str, list[dict]], font: str | None) -> dict[str, bytes]:
    """One PNG per chart (a chart without data says so instead of drawing nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = ["sans-serif"]
    plt.rcParams["font.sans-serif"] = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    title = {k: v if font else v.split(" / ")[0] for k, v in TITLES.items()}
    pngs: dict[str, bytes] = {}
    for name in FIGURE_SQL:
        rows = data[name]
        fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
        ax.set_title(title[name], fontsize=11)
        if not rows:
            ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        elif name == "score_trend":
            weeks = [r["week"] for r in rows]
            ax.plot(weeks, [r["avg_score"] for r in rows], marker="o", color="#c0392b", label="mean stars")
            ax.set_ylim(1, 5)
            ax.set_ylabel("mean stars (1-5)")
            twin = ax.twinx()
            twin.bar(weeks, [r["reviews"] for r in rows], alpha=0.25, color="#7f8c8d", label="reviews")
            twin.set_ylabel("reviews per week")
            ax.set_zorder(twin.get_zorder() + 1)
            ax.patch.set_visible(False)
            step = max(1, len(weeks) // 8)
            ax.set_xticks(range(0, len(weeks), step), [weeks[i][2:] for i in range(0, len(weeks), step)])
            ax.tick_params(axis="x", labelsize=8, rotation=30)
        elif name == "stars":
            colors = ["#c0392b", "#e67e22", "#f1c40f", "#7dcea0", "#27ae60"]
            scores = [int(r["score"]) for r in rows]
            bars = ax.bar(
                [f"{s}★" if font else f"{s} stars" for s in scores],
                [r["reviews"] for r in rows],
                color=[colors[s - 1] for s in scores],
            )
            ax.bar_label(bars, fontsize=8)
            ax.set_ylabel("reviews")
        elif name == "pain_points":
            labels = [_label(r["aspect_name"] or "", r["aspect"], font) for r in rows][::-1]
            ax.barh(labels, [r["mentions"] for r in rows][::-1], color="#d5dbdb", label="mentions")
            ax.barh(labels, [r["negative_mentions"] for r in rows][::-1], color="#c0392b", label="negative")
            ax.legend(loc="lower right", fontsize=8)
            ax.set_xlabel("reviews")
        elif name == "delivery_by_province":
            labels = [_label(r["province"], f"province {i + 1}", font) for i, r in enumerate(rows)][::-1]
            bars = ax.barh(labels, [r["median_hours"] for r in rows][::-1], color="#2e86c1")
            ax.bar_label(bars, labels=[f"{r['orders']} orders" for r in rows][::-1], fontsize=7, padding=2)
            ax.set_xlabel("median hours from shipping to delivery")
        elif name == "hidden_complaints":
            labels = [_label(r["product_title"], r["sku_id"], font) for r in rows][::-1]
            bars = ax.barh(labels, [100 * r["hidden_complaint_share"] for r in rows][::-1], color="#8e44ad")
            ax.bar_label(
                bars, labels=[f"{r['n_reviews']} reviews" for r in rows][::-1], fontsize=7, padding=2
            )
            ax.set_xlabel("% of reviews: good stars, negative text")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        pngs[name] = buffer.getvalue()
    return pngs


def page(
    data: dict[str, list[dict]], pngs: dict[str, bytes], *, font: str | None, built_at: str, run_id: str
) -> str:
    """One self-contained HTML page: the charts embedded, the numbers beneath each, nothing fetched."""
    font_note = (
        f"Chinese text rendered with {html.escape(font)}."
        if font
        else "No CJK font installed (run make setup, which installs fonts-wqy-microhei): Chinese labels "
        "are replaced by SKU and aspect ids."
    )
    sections = []
    for name, png in pngs.items():
        rows = data[name]
        head = "".join(f"<th>{html.escape(c)}</th>" for c in (rows[0] if rows else {}))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
            for row in rows
        )
        encoded = base64.b64encode(png).decode()
        sections.append(
            f'<section id="{name}"><h2>{html.escape(TITLES[name])}</h2>'
            f'<img alt="{html.escape(TITLES[name])}" src="data:image/png;base64,{encoded}">'
            f"<details><summary>numbers ({len(rows)} rows)</summary><table><tr>{head}</tr>{body}</table>"
            "</details></section>"
        )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>JD reviews report {html.escape(built_at)}</title>
<style>body{{font-family:sans-serif;max-width:860px;margin:2em auto;color:#222}}img{{max-width:100%}}
table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px}}
section{{margin-bottom:2em}}.note{{color:#666;font-size:13px}}</style></head>
<body><h1>JD reviews report / 京东评价报告</h1>
<p class="note">Built {html.escape(built_at)} by Dagster run {html.escape(run_id)} from the marts (delivery
from clean.orders). {font_note}</p>
{"".join(sections)}
</body></html>
"""


def _preview(png: bytes) -> dg.MetadataValue:
    """A small inline copy of one chart (the UI renders markdown images)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    image.thumbnail((400, 220))
    buffer = io.BytesIO()
    image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(buffer, format="PNG", optimize=True)
    return dg.MetadataValue.md(
        f"![score trend](data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()})"
    )


@dg.asset(
    deps=[*MART_ASSETS, clean_orders],
    group_name=GROUP,
    kinds={"matplotlib", "html"},
    automation_condition=FOLLOW_UPSTREAM,
)
def review_report(context: dg.AssetExecutionContext, warehouse: DuckDBWarehouse) -> dg.MaterializeResult:
    """Charts of the marts: score trend, star distribution, pain points, delivery time by province and
    hidden-complaint rates, as PNG files and one offline HTML page under data/reports/."""
    with warehouse.read() as con:
        data = figures(con)
    font = cjk_font()
    if font is None:
        context.log.warning(
            "no CJK font installed: the report uses ids for Chinese labels (make setup installs one)"
        )
    pngs = render(data, font)
    built = datetime.now(UTC)
    run_id = context.run.run_id
    folder = reports_dir(warehouse) / f"{built:%Y%m%d-%H%M%S}-{run_id[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, png in pngs.items():
        (folder / f"{name}.png").write_bytes(png)
    (folder / "figures.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    report = folder / "report.html"
    report.write_text(
        page(data, pngs, font=font, built_at=f"{built:%Y-%m-%d %H:%M:%S} UTC", run_id=run_id),
        encoding="utf-8",
    )
    trend = data["score_trend"]
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(report.resolve())),
            "folder": dg.MetadataValue.path(str(folder.resolve())),
            "charts": len(pngs),
            "html_kib": round(report.stat().st_size / 1024, 1),
            "cjk_font": font or "none (ids replace Chinese labels)",
            "weeks": len(trend),
            "latest_week_avg_score": trend[-1]["avg_score"] if trend else 0.0,
            "preview": _preview(pngs["score_trend"]),
        }
    )
