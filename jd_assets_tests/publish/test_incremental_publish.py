"""A publish copies only the tables whose content changed since the last; the copy still equals the source.

The previous copy is copied as a plain file and every table whose fingerprint (columns and types, row
count, sum of row hashes) equals the one it recorded is kept as it is there, not written again: the proof
is DuckDB's own storage, the kept table's blocks are the very ones of the previous copy. A changed table
is copied anew, whatever the change (a value, a type, rows swapped between columns, duplicates), and a
session open on the previous copy keeps reading it.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from jd_assets.publish.copy import published_tables
from jd_assets_tests.clean.check_helpers import execute
from jd_assets_tests.publish.test_publish import check, make_writable, publish_to, query, tables_of


def blocks(path: Path, table: str) -> list[int]:
    """The storage blocks holding a table's data in a DuckDB file."""
    return [
        b
        for (b,) in query(
            path,
            f"SELECT DISTINCT block_id FROM pragma_storage_info('{table}') WHERE block_id >= 0 ORDER BY 1",
        )
    ]


def assert_copy_equals_source(source: Path, target: Path) -> None:
    """The copy holds exactly the source's clean and mart tables, with the same column types, row for row."""
    con = duckdb.connect(str(source), read_only=True)
    try:
        tables = published_tables(con)
    finally:
        con.close()
    assert tables_of(target, ("clean", "marts")) == tables
    columns = "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name || '.' || table_name = ?"
    for table in tables:
        assert query(target, columns, [table]) == query(source, columns, [table]), table
        assert query(target, f"FROM {table} ORDER BY ALL") == query(source, f"FROM {table} ORDER BY ALL"), (
            table
        )


def copied_at(target: Path) -> dict[str, object]:
    return {
        f"{s}.{t}": at
        for s, t, at in query(target, "SELECT schema_name, table_name, copied_at FROM meta.tables")
    }


def test_an_unchanged_table_is_kept_as_it_was_and_a_changed_one_is_copied_again(scratch_db, tmp_path):
    target = tmp_path / "jd_analytics.duckdb"
    first = publish_to(scratch_db, target, run_id="first")
    assert sorted(first.copied) == tables_of(scratch_db, ("clean", "marts"))
    assert first.full_reason == "no previous copy"
    kept_blocks = blocks(target, "marts.product_review_summary")
    analyst = duckdb.connect(str(target), read_only=True)  # a session on the first copy, left open
    text_before = analyst.execute("SELECT text FROM clean.comments WHERE comment_id = '601'").fetchone()
    # the builder changes one comment's text (same row count) and drops a day of review_daily
    execute(
        scratch_db,
        """UPDATE clean.comments SET text = text || ' (edited)' WHERE comment_id = '601';
           DELETE FROM marts.review_daily WHERE day = (SELECT min(day) FROM marts.review_daily)""",
    )

    second = publish_to(scratch_db, target, run_id="second")

    # the session opened on the first copy still reads it, unchanged (closed before the new copy is read:
    # in one process, DuckDB gives a new connection to a path the database already open there)
    assert (
        analyst.execute("SELECT text FROM clean.comments WHERE comment_id = '601'").fetchone() == text_before
    )
    analyst.close()
    assert sorted(second.copied) == ["clean.comments", "marts.review_daily"]
    assert second.full_reason is None
    # the unchanged table was not written again: its data sits in the same blocks of the file copy
    assert blocks(target, "marts.product_review_summary") == kept_blocks
    assert copied_at(target) == {
        table: second.published_at if table in second.copied else first.published_at for table in first.copied
    }
    assert_copy_equals_source(scratch_db, target)
    edited = query(target, "SELECT text FROM clean.comments WHERE comment_id = '601'")
    assert edited[0][0] == text_before[0] + " (edited)"
    assert query(target, "SELECT run_id FROM meta.publish") == [("second",)]
    # and the check that recomputes every fingerprint on the copy passes on it
    assert check("row_counts_match", scratch_db, target).passed


def test_changes_that_keep_the_row_count_and_sums_are_seen_and_dropped_or_new_tables_follow(tmp_path):
    db, target = tmp_path / "jd.duckdb", tmp_path / "jd_analytics.duckdb"
    execute(
        db,
        """CREATE SCHEMA clean; CREATE SCHEMA marts;
           CREATE TABLE clean.twins AS SELECT * FROM (VALUES (1), (1)) t(n);
           CREATE TABLE clean.typed AS SELECT range::INTEGER AS n FROM range(3);
           CREATE TABLE clean.swapped AS SELECT * FROM (VALUES (1, 'x'), (2, 'y')) t(n, s);
           CREATE TABLE marts.same AS SELECT range AS n FROM range(10);
           CREATE TABLE marts.gone AS SELECT 1 AS n""",
    )
    publish_to(db, target)
    execute(
        db,
        """UPDATE clean.twins SET n = 2;                                  -- duplicates: XOR would not move
           ALTER TABLE clean.typed ALTER n SET DATA TYPE BIGINT;          -- same values, another type
           UPDATE clean.swapped SET s = CASE s WHEN 'x' THEN 'y' ELSE 'x' END;  -- same values per column
           DROP TABLE marts.gone;
           CREATE TABLE marts.new AS SELECT 'fresh' AS s""",
    )

    done = publish_to(db, target)

    assert sorted(done.copied) == ["clean.swapped", "clean.twins", "clean.typed", "marts.new"]
    assert_copy_equals_source(db, target)
    assert query(target, "SELECT data_type FROM duckdb_columns() WHERE table_name = 'typed'") == [("BIGINT",)]
    assert sorted(copied_at(target)) == [
        "clean.swapped",
        "clean.twins",
        "clean.typed",
        "marts.new",
        "marts.same",
    ]


def test_a_copy_that_is_mostly_free_space_is_written_anew(tmp_path):
    db, target = tmp_path / "jd.duckdb", tmp_path / "jd_analytics.duckdb"
    execute(
        db,
        """CREATE SCHEMA clean; CREATE SCHEMA marts;
           CREATE TABLE clean.big AS SELECT range AS i, md5(range::VARCHAR) AS s FROM range(50000);
           CREATE TABLE marts.small AS SELECT range AS n FROM range(10)""",
    )
    publish_to(db, target)
    execute(db, "DROP TABLE clean.big")
    publish_to(db, target)  # big dropped from the file copy: its blocks are now free space in it
    size_with_free_space = target.stat().st_size

    done = publish_to(db, target)

    assert done.full_reason.startswith("compacting the previous copy")
    assert done.copied == ["marts.small"]
    assert target.stat().st_size < size_with_free_space / 2
    assert_copy_equals_source(db, target)


def test_the_row_count_check_sees_a_table_whose_content_no_longer_matches_its_fingerprint(built_db, tmp_path):
    broken = tmp_path / "jd_analytics.duckdb"
    publish_to(built_db, broken)
    make_writable(broken)

    execute(broken, "UPDATE clean.comments SET text = 'not what was published' WHERE comment_id = '601'")
    result = check("row_counts_match", built_db, broken)

    assert not result.passed
    assert "clean.comments (7 rows, content differs from its fingerprint)" in result.description
