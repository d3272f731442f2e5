"""Runs one contender in its own process: ``python bench/child.py module:function '<json kwargs>'``.

Prints ``BENCH_RESULT {json}`` with the function's result plus this process's peak RSS.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import time
import warnings
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from common import peak_rss_mib  # noqa: E402


def main() -> None:
    target, raw = sys.argv[1], sys.argv[2]
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    started = time.perf_counter()
    result = fn(**json.loads(raw)) or {}
    result["child_wall_s"] = time.perf_counter() - started
    result["peak_rss_mib"] = peak_rss_mib()
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
