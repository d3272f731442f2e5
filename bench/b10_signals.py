"""10. Review signals: a daily refresh scores only the new reviews.

On benchmark 4's raw file (sandbox-generated comments, cached in ``bench/.work/b4/``), in one process:
1. ``clean_comments`` is built (not timed; the file with it built is made once per size and code and
   cached in ``bench/.work/inputs/``);
2. **full**: ``clean_review_signals`` scores every review (the baseline: what a new model version costs);
3. 1% new reviews are added to ``raw.comments`` (copies of existing ones under new ids, a day later),
   ``clean_comments`` is rebuilt (not timed);
4. **incremental**: ``clean_review_signals`` runs again and scores only those.
The ratio incremental / full is the bar: the refresh must cost about what its new reviews cost (<= 0.1 at 1%).
Both are real ``dg.materialize`` runs of the package's asset on the same file.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from b4_derived import PII_KEY, generate
from common import Row, cached_input, workdir

SIZES = {"quick": "quick", "full": "0.5M"}
#: B10_SIZE=5M picks benchmark 4's 5M-comment raw file instead (generated once, about 11 minutes here).
SIZE_OVERRIDE = os.environ.get("B10_SIZE")
INCREMENT = 0.01


def _materialize(db: str, assets) -> tuple[float, dict]:
    import dagster as dg

    from jd_assets.clean.pii import PiiKey
    from jd_assets.warehouse import DuckDBWarehouse

    t0 = time.perf_counter()
    result = dg.materialize(
        assets, resources={"warehouse": DuckDBWarehouse(database=db), "pii_key": PiiKey(key=PII_KEY)}
    )
    wall = time.perf_counter() - t0
    assert result.success
    metadata = {}
    for event in result.get_asset_materialization_events():
        metadata.update({k: v.value for k, v in event.materialization.metadata.items() if k != "preview"})
    return wall, metadata


def _add_new_reviews(db: str, share: float) -> int:
    """Copy ``share`` of the reviews under new digit ids, one day later: the next day's new reviews."""
    import duckdb

    con = duckdb.connect(db)
    (n,) = con.execute(
        f"""INSERT INTO raw.comments
            SELECT sku_id, '9' || comment_id, commented_at + INTERVAL 1 DAY,
                   json_merge_patch(record, json_object('commentId', '9' || comment_id)),
                   page, partition_key, fetched_at + INTERVAL 1 DAY, run_id, last_seen_at + INTERVAL 1 DAY
            FROM raw.comments USING SAMPLE {share * 100}% (bernoulli, 7)"""
    ).fetchone()
    con.close()
    return int(n)


def _with_clean_comments(source: Path, path: Path) -> None:
    """Step 1: a copy of benchmark 4's raw file ``source`` with ``clean_comments`` built (untimed set-up)."""
    from jd_assets.clean import clean_comments

    shutil.copy(source, path)
    _materialize(str(path), [clean_comments])


def run(quick: bool) -> list[Row]:
    from jd_assets.clean import clean_comments, clean_review_signals

    logging.getLogger("dagster").setLevel(logging.ERROR)
    name = SIZE_OVERRIDE or SIZES["quick" if quick else "full"]
    db = str(workdir("b10") / "jd.duckdb")
    source, _, _ = generate(name)
    key = [name, source.stat().st_size, source.stat().st_mtime_ns]  # a regenerated raw file: a new input
    shutil.copy(cached_input(f"b10_{name}", key, lambda path: _with_clean_comments(source, path)), db)
    full_s, full = _materialize(db, [clean_review_signals])
    added = _add_new_reviews(db, INCREMENT)
    _materialize(db, [clean_comments])
    incremental_s, incremental = _materialize(db, [clean_review_signals])
    again_s, again = _materialize(db, [clean_review_signals])
    ratio = incremental_s / full_s
    reviews = full["dagster/row_count"]
    details = [
        f"{name}: {reviews:,} reviews scored in {full_s:.1f} s ({reviews / full_s:,.0f} reviews/s, "
        f"model {full['model_version']}); then {added:,} new reviews ({INCREMENT:.0%}): the refresh scored "
        f"{incremental['scored_this_run']:,} in {incremental_s:.1f} s; a run with nothing new scored "
        f"{again['scored_this_run']} in {again_s:.1f} s (reading the ids to score and settling templates).",
        f"hidden complaints {full['hidden_complaint_share']:.1%}, templated {full['template_share']:.1%}, "
        f"text negative {full['text_negative_share']:.1%} of the generated reviews.",
    ]
    return [
        Row(
            10,
            f"Review signals refresh after {INCREMENT:.0%} new reviews ({name}): wall time",
            f"{incremental_s:.1f} s ({incremental['scored_this_run']:,} scored)",
            f"{full_s:.1f} s (scoring all {reviews:,})",
            f"{ratio:.3f}",
            "<= 0.1",
            "yes" if ratio <= 0.1 and incremental["scored_this_run"] == added else "no",
            details,
        )
    ]
