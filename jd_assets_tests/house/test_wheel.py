"""The jd_assets wheel holds only what runs in production: no sandbox, no demo, no tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_runtime_wheel_holds_only_the_production_package(tmp_path: Path):
    # built from a copy, so that setuptools' build/ folder never lands in the working tree
    source = tmp_path / "source"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".*", "data", "bench", "__pycache__", "build")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("jd_assets-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("jd_assets-")}
    assert packages == {"jd_assets"}
    assert not [name for name in names if "sandbox" in name or name.endswith("demo.py")]
    assert "jd_assets/definitions.py" in names
