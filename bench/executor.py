"""How long an automatic rebuild of the derived tables takes, against the demo's in-process build.

Issue 14: the automation's runs took 42-67 s against 5 s for the demo's in-process build of the same
tables, because Dagster's default executor starts a process per step. This script times, on a copy of a
DuckDB file that already holds raw data (``make demo``'s ``data/jd.duckdb``):

- ``in_process``: ``derived_tables_job.execute_in_process`` (what the demo does);
- ``as_launched``: a fresh Python process that loads the code location and executes the implicit asset
  job over the automation sensor's targets with the Definitions' executor, as the daemon's run worker
  does (``dg.execute_job`` of a reconstructable job; the run launcher's own process start is included in
  the wall time).

    python bench/executor.py --duckdb data/jd.duckdb [--repeat 2]

Prints each time and the ratio as_launched / in_process (goal: at most 2).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
started = time.monotonic()
import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository
mode = sys.argv[1]
with dg.DagsterInstance.get() as instance:
    if mode == "in_process":
        from jd_assets.definitions import defs
        job = defs.resolve_job_def("derived_tables_job")
        loaded = time.monotonic()
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        success, executor = result.success, "in_process (execute_in_process)"
    else:
        from jd_assets.definitions import defs
        sensor = defs.get_repository_def().get_sensor_def("derived_tables_automation_sensor")
        graph = defs.get_repository_def().asset_graph
        keys = sensor.asset_selection.resolve(graph)
        recon = ReconstructableRepository.for_module("jd_assets.definitions", "defs", working_directory=None)
        job = recon.get_reconstructable_job("__ASSET_JOB")
        executor = defs.get_repository_def().get_implicit_global_asset_job_def().executor_def.name
        loaded = time.monotonic()
        with dg.execute_job(job, instance=instance, asset_selection=list(keys), raise_on_error=False) as result:
            success = result.success
    done = time.monotonic()
print(json.dumps({"mode": mode, "executor": executor, "success": success,
                  "run_s": round(done - loaded, 2), "process_s": round(done - started, 2)}))
"""


def run(mode: str, env: dict[str, str]) -> dict:
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, check=False, cwd=ROOT
    )
    wall = time.monotonic() - started
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{mode} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1]) | {"wall_s": round(wall, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duckdb", default="data/jd.duckdb")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="jd-executor-") as work:
        db = Path(work) / "jd.duckdb"
        shutil.copy(args.duckdb, db)
        home = Path(work) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
        env = os.environ | {
            "DAGSTER_HOME": str(home),
            "JD_DUCKDB_PATH": str(db),
            "JD_ANALYTICS_PATH": str(Path(work) / "jd_analytics.duckdb"),
            "JD_PII_KEY": os.environ.get("JD_PII_KEY", "jd-assets-demo-pii-key"),
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT), str(ROOT / "sandbox"), os.environ.get("PYTHONPATH", "")]
            ),
        }
        results = []
        for _ in range(args.repeat):
            for mode in ("in_process", "as_launched"):
                results.append(run(mode, env))
                print(json.dumps(results[-1]), flush=True)
    best = {m: min(r["process_s"] for r in results if r["mode"] == m) for m in ("in_process", "as_launched")}
    print(
        f"in_process {best['in_process']:.1f}s, as_launched {best['as_launched']:.1f}s "
        f"(process start to run end, best of {args.repeat}): ratio {best['as_launched'] / best['in_process']:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
