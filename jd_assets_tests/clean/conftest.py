"""A DuckDB file with the hand-written raw records landed, and every clean and mart table built on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jd_assets_tests.clean.raw_fixture import build_derived, build_raw


@pytest.fixture(scope="package")
def built_db(tmp_path_factory) -> Path:
    path = build_raw(tmp_path_factory.mktemp("built") / "jd.duckdb")
    result = build_derived(path)
    assert result.success
    return path


@pytest.fixture
def scratch_db(built_db: Path, tmp_path: Path) -> Path:
    """A private copy of the built file, for tests that break or rebuild tables."""
    copy = tmp_path / "jd.duckdb"
    shutil.copy(built_db, copy)
    return copy
