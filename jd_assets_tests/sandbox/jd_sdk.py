"""JD's own Python SDK (PyPI ``jd-sdk``) in a venv of its own, built once and cached.

The SDK pulls apscheduler, psutil, pycryptodome, rsa and wincertstore, none of which jd_assets needs, so
it never enters the project's environment: ``.venv/jd-sdk`` holds it, pinned by ``jd-sdk.lock`` beside
this file. ``make test`` builds it before the suite (``python -m jd_assets_tests.sandbox.jd_sdk``); the
test builds it too when it is missing. It is rebuilt only when the lock changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = Path(__file__).with_name("jd-sdk.lock")
VENV = ROOT / ".venv" / "jd-sdk"
STAMP = VENV / ".installed"
CLIENT = Path(__file__).with_name("jd_sdk_client.py")


def sdk_python() -> Path:
    """The venv's python, building the venv first if it is missing or was built from another lock."""
    wanted = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    python = VENV / "bin" / "python"
    if STAMP.exists() and STAMP.read_text().strip() == wanted and python.exists():
        return python
    shutil.rmtree(VENV, ignore_errors=True)  # a half-built venv has no stamp: start again
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(LOCK)], check=True, timeout=600)
    STAMP.write_text(wanted + "\n")
    return python


if __name__ == "__main__":
    print(sdk_python())
