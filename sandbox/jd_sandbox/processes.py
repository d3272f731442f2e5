"""Stopping a child started in a process group of its own (``start_new_session=True``).

The children that need it (Chromium, ``dagster-daemon``, ``dagster dev``) start helpers of their own that
outlive them: a renderer still writing its profile folder, a run process still holding the warehouse.
Stopping the whole group, and waiting until it is empty, leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time


def stop_process_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM to ``process``'s group, SIGKILL after ``grace_s``; then wait until no member is left
    (SIGKILL to stragglers after another ``grace_s``)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
