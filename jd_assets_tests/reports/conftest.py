"""The report tests use the clean tests' built DuckDB file (hand-written raw records, every table built)."""

from jd_assets_tests.clean.conftest import built_db, scratch_db

__all__ = ["built_db", "scratch_db"]
