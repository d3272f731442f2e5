"""clean.review_signals: one row per review, scored incrementally, never crashing on odd text.

The asset runs for real (``dg.materialize``) over raw comments landed through the landing path; the
incremental proofs look at ``scored_at`` and at the run's ``scored_this_run`` metadata.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from jd_assets.clean import clean_comments, clean_review_signals, review_signals
from jd_assets.clean.review_signals import review_signals_checks, signals_version
from jd_assets.raw import tables
from jd_assets.raw.landing import batch, land
from jd_assets_tests.clean.check_helpers import execute
from jd_assets_tests.clean.raw_fixture import build_raw, comment, derived_resources

ODD_TEXTS = {
    "901": "",
    "902": "👍👍👍😊",
    "903": "好用" * 50_000,  # 100 KB of text
    "904": "質量很好，物流也很快，會回購",  # traditional characters
    "905": "iPhone 15 Pro 的 camera 真的 nice，battery 一般",
    "906": "包装很好&hellip;&amp;物流很快&#128077;",
    "907": "<b>质量</b>不错",
}


def _land_comments(path: Path, sku: str, records: list[dict]) -> None:
    con = duckdb.connect(str(path))
    try:
        land(
            con,
            tables.COMMENTS,
            batch(records, page=1, request_key=sku),
            partition_key=sku,
            partition_value=sku,
            run_id="test",
            fetched_at=datetime(2026, 3, 11, tzinfo=UTC),
        )
    finally:
        con.close()


def _signals(path: Path, config: dict | None = None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(
        [clean_comments, clean_review_signals, *review_signals_checks],
        resources=derived_resources(path),
        run_config={"ops": {"clean_review_signals": {"config": config}}} if config else None,
    )
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    return result


def _scored_this_run(result: dg.ExecuteInProcessResult) -> int:
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key == clean_review_signals.key
    ]
    return event.materialization.metadata["scored_this_run"].value


def _rows(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def raw_db(tmp_path: Path) -> Path:
    return build_raw(tmp_path / "jd.duckdb")


def test_every_clean_review_gets_one_row_of_the_current_version(raw_db: Path):
    _signals(raw_db)
    reviews = _rows(raw_db, "SELECT comment_id FROM clean.comments ORDER BY 1")
    signals = _rows(raw_db, "SELECT comment_id, model_version FROM clean.review_signals ORDER BY 1")
    assert [cid for cid, _ in signals] == [cid for (cid,) in reviews]
    assert {version for _, version in signals} == {signals_version()}


def test_a_refresh_scores_only_new_reviews_and_keeps_the_others_untouched(raw_db: Path):
    first = _signals(raw_db)
    before = dict(_rows(raw_db, "SELECT comment_id, scored_at FROM clean.review_signals"))
    assert _scored_this_run(first) == len(before)

    _land_comments(raw_db, "100002", [comment("604", "100002", "2026-03-10 09:00:00", "5", "物流很快", [])])
    second = _signals(raw_db)

    after = dict(_rows(raw_db, "SELECT comment_id, scored_at FROM clean.review_signals"))
    assert _scored_this_run(second) == 1
    assert set(after) == set(before) | {"604"}
    assert {cid: after[cid] for cid in before} == before  # unchanged reviews were not rescored
    assert _scored_this_run(_signals(raw_db)) == 0


def test_a_new_model_version_rescores_every_review(raw_db: Path):
    _signals(raw_db)
    execute(raw_db, "UPDATE clean.review_signals SET model_version = 'sentiment-old+lexicon-old'")

    result = _signals(raw_db)

    assert _scored_this_run(result) == len(_rows(raw_db, "SELECT * FROM clean.comments"))
    assert _rows(raw_db, "SELECT DISTINCT model_version FROM clean.review_signals") == [(signals_version(),)]


def test_rescore_all_in_the_run_config_scores_everything_again(raw_db: Path):
    _signals(raw_db)
    result = _signals(raw_db, {"rescore_all": True})
    assert _scored_this_run(result) == len(_rows(raw_db, "SELECT * FROM clean.comments"))


#: A text pasted under several reviews (a template once three reviews share it).
PASTED = "东西收到了，质量很好，和描述的一样，好评！"


def _templates_of(raw_db: Path, *comment_ids: str) -> list[tuple]:
    """Each review's (comment_id, how many reviews share its template key, is_templated), by id: the
    count is not stored per review."""
    listed = ", ".join(f"'{c}'" for c in comment_ids)
    return _rows(
        raw_db,
        f"""SELECT * FROM (
                SELECT comment_id, count(*) OVER (PARTITION BY template_key) AS template_count, is_templated
                FROM clean.review_signals)
            WHERE comment_id IN ({listed}) ORDER BY 1""",
    )


def test_a_third_copy_of_a_text_makes_all_three_templates(raw_db: Path):
    _land_comments(raw_db, "100002", [comment("611", "100002", "2026-03-09 09:00:00", "5", PASTED, [])])
    _land_comments(raw_db, "100003", [comment("711", "100003", "2026-03-09 10:00:00", "5", PASTED, [])])
    _signals(raw_db)
    assert _templates_of(raw_db, "611", "711") == [("611", 2, False), ("711", 2, False)]

    _land_comments(raw_db, "100001", [comment("511", "100001", "2026-03-10 11:00:00", "4", PASTED, [])])
    result = _signals(raw_db)

    assert _scored_this_run(result) == 1
    assert _templates_of(raw_db, "511", "611", "711") == [
        ("511", 3, True),
        ("611", 3, True),
        ("711", 3, True),
    ]


def _three_copies_scored(raw_db: Path) -> None:
    """Reviews 611, 711 and 511 of three SKUs, one pasted text, landed and scored: a template of three."""
    for comment_id, sku, hour, score in (
        ("611", "100002", 9, "5"),
        ("711", "100003", 10, "5"),
        ("511", "100001", 11, "4"),
    ):
        _land_comments(
            raw_db, sku, [comment(comment_id, sku, f"2026-03-09 {hour:02d}:00:00", score, PASTED, [])]
        )
    _signals(raw_db)


def test_a_flag_left_wrong_outside_the_run_is_settled_when_its_text_is_seen_again(raw_db: Path):
    # a wrong flag (set by hand here, as a run killed between its scoring and its recount would leave
    # it) is settled by the recount of every row of a text the run touches
    _three_copies_scored(raw_db)
    execute(raw_db, "UPDATE clean.review_signals SET is_templated = false WHERE comment_id = '611'")

    _land_comments(raw_db, "100004", [comment("811", "100004", "2026-03-10 11:00:00", "5", PASTED, [])])
    result = _signals(raw_db)

    assert _scored_this_run(result) == 1
    assert _templates_of(raw_db, "511", "611", "711", "811") == [
        ("511", 4, True),
        ("611", 4, True),
        ("711", 4, True),
        ("811", 4, True),
    ]


def test_a_purge_that_leaves_two_copies_of_a_text_unflags_them(raw_db: Path):
    _three_copies_scored(raw_db)
    execute(raw_db, "DELETE FROM raw.comments WHERE comment_id = '511'")

    result = _signals(raw_db)

    assert _scored_this_run(result) == 0
    assert _templates_of(raw_db, "511", "611", "711") == [("611", 2, False), ("711", 2, False)]


def test_reviews_scored_in_several_batches_give_the_table_one_batch_gives(
    raw_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # the first batches are written in sessions of their own, the last one with the template recount:
    # three copies of a text in different batches are still all templates, and every review has one row
    for comment_id, sku, hour in (("611", "100002", 9), ("711", "100003", 10), ("511", "100001", 11)):
        _land_comments(
            raw_db, sku, [comment(comment_id, sku, f"2026-03-09 {hour:02d}:00:00", "5", PASTED, [])]
        )
    one_batch = tmp_path / "one_batch.duckdb"
    shutil.copy(raw_db, one_batch)
    _signals(one_batch)
    monkeypatch.setattr(review_signals, "BATCH_ROWS", 2)

    result = _signals(raw_db)

    columns = "* EXCLUDE (scored_at)"
    assert _scored_this_run(result) == len(_rows(raw_db, "SELECT * FROM clean.comments")) > 4
    assert _rows(raw_db, f"SELECT {columns} FROM clean.review_signals ORDER BY comment_id") == _rows(
        one_batch, f"SELECT {columns} FROM clean.review_signals ORDER BY comment_id"
    )
    assert _templates_of(raw_db, "511", "611", "711") == [
        ("511", 3, True),
        ("611", 3, True),
        ("711", 3, True),
    ]


def test_jd_filler_is_templated_and_unscored(raw_db: Path):
    _signals(raw_db)
    assert _rows(
        raw_db,
        """SELECT comment_id, text_positive_prob, unscorable_reason, is_templated, is_hidden_complaint
           FROM clean.review_signals WHERE comment_id IN ('502', '701') ORDER BY 1""",
    ) == [("502", None, "default_text", True, False), ("701", None, "default_text", True, False)]


def test_a_purged_review_loses_its_signals(raw_db: Path):
    _signals(raw_db)
    execute(raw_db, "DELETE FROM raw.comments WHERE comment_id = '603'")
    _signals(raw_db)
    assert _rows(raw_db, "SELECT count(*) FROM clean.review_signals WHERE comment_id = '603'") == [(0,)]


def test_after_a_whole_rebuild_of_clean_comments_every_review_is_checked_not_only_the_logged_ones(
    raw_db: Path,
):
    # a day's run finds its work in clean.comments' change log; a whole rebuild of clean.comments logs no
    # keys, so the next run compares both tables whole: a review without a row (lost here by hand) is scored
    _signals(raw_db)
    execute(raw_db, "DELETE FROM clean.review_signals WHERE comment_id = '603'")

    rebuilt = dg.materialize(
        [clean_comments, clean_review_signals],
        resources=derived_resources(raw_db),
        run_config={"ops": {"clean_comments": {"config": {"full_rebuild": True}}}},
    )

    assert rebuilt.success
    assert _scored_this_run(rebuilt) == 1
    assert _rows(raw_db, "SELECT count(*) FROM clean.review_signals WHERE comment_id = '603'") == [(1,)]
    assert _scored_this_run(_signals(raw_db)) == 0


def test_odd_texts_are_scored_or_marked_unscorable_with_a_reason_and_the_batch_lands(raw_db: Path):
    _land_comments(
        raw_db,
        "100002",
        [comment(cid, "100002", "2026-03-10 12:00:00", "5", text, []) for cid, text in ODD_TEXTS.items()],
    )
    _signals(raw_db)
    rows = {
        cid: (prob, reason)
        for cid, prob, reason in _rows(
            raw_db,
            f"""SELECT comment_id, text_positive_prob, unscorable_reason FROM clean.review_signals
                WHERE comment_id IN ({", ".join(repr(c) for c in ODD_TEXTS)})""",
        )
    }
    assert set(rows) == set(ODD_TEXTS)
    assert rows["901"] == (None, "empty")
    assert rows["902"] == (None, "no_text")
    for cid in ("903", "904", "905", "906", "907"):
        prob, reason = rows[cid]
        assert reason is None and 0 <= prob <= 1, (cid, rows[cid])
    assert rows["904"][0] > 0.6  # traditional characters read as the praise they are


def test_hidden_complaint_is_a_good_score_over_a_negative_text_or_aspect(raw_db: Path):
    _land_comments(
        raw_db,
        "100002",
        [
            comment("621", "100002", "2026-03-10 08:00:00", "5", "还没收到。为什么不送上门。", []),
            comment("622", "100002", "2026-03-10 08:01:00", "5", "质量很好，就是价格比较贵", []),
            comment("623", "100002", "2026-03-10 08:02:00", "5", "质量很好，价格也便宜", []),
            comment("624", "100002", "2026-03-10 08:03:00", "1", "质量太差了", []),
        ],
    )
    _signals(raw_db)
    got = dict(
        _rows(
            raw_db,
            """SELECT comment_id, is_hidden_complaint FROM clean.review_signals
               WHERE comment_id IN ('621', '622', '623', '624')""",
        )
    )
    assert got == {"621": True, "622": True, "623": False, "624": False}
    aspects = _rows(
        raw_db,
        """SELECT list_sort(list_transform(aspects, a -> a.aspect || ':' || a.polarity))
           FROM clean.review_signals WHERE comment_id = '622'""",
    )
    assert aspects == [(["price:negative", "quality:positive"],)]


def test_a_table_with_the_former_per_review_count_loses_it_and_keeps_its_flags(raw_db: Path):
    _signals(raw_db)
    flags = "SELECT comment_id, is_templated FROM clean.review_signals ORDER BY 1"
    before = _rows(raw_db, flags)
    execute(raw_db, "ALTER TABLE clean.review_signals ADD COLUMN template_count INTEGER")

    _signals(raw_db)

    columns = "SELECT column_name FROM duckdb_columns() WHERE table_name = 'review_signals'"
    assert ("template_count",) not in _rows(raw_db, columns)
    assert _rows(raw_db, flags) == before
