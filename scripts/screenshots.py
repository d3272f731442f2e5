"""What users see, in a real browser: start the sandbox and ``dagster dev`` (each in its own process
group, stopped by id at the end), drive headless Chromium through the UI and write PNGs.

    make demo && make screenshots          # writes docs/screenshots/*.png
    python scripts/screenshots.py --data data --out docs/screenshots

Pages: the asset lineage, an asset's columns, a raw asset's checks, the order partitions, the Overview
timeline, the backfills, the runs list (what launched each), a run of the derived tables, the review
report's asset page (path metadata and preview) and the report itself, and a partition JD refused.
Each PNG is reduced to a small palette so the README can carry them.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox")]

from jd_assets_tests.browser import browser  # noqa: E402
from jd_sandbox import today_start  # noqa: E402
from jd_sandbox.processes import stop_process_group  # noqa: E402

DEMO_PII_KEY = "jd-assets-demo-pii-key"
SKIP_MODAL = """(() => {
    const skip = Array.from(document.querySelectorAll('button')).find(b => b.textContent.trim() === 'Skip');
    if (skip) skip.click();
    return Boolean(skip);
})()"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(url)


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)["data"]


def refused_partition(path: Path) -> str:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        row = con.execute(
            "SELECT partition_key FROM raw.refusals WHERE source = 'item_details' LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    return row[0] if row else ""


def shrink(path: Path, width: int = 1100) -> None:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.Resampling.LANCZOS)
    image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data", help="the demo's data folder (make demo)")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    data = Path(args.data).resolve()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not (data / "jd.duckdb").exists():
        raise SystemExit(f"no {data / 'jd.duckdb'}: run make demo first")
    python = sys.executable
    sandbox_port, ui_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JD_") and k != "DAGSTER_HOME"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "sandbox")])
    started: list[subprocess.Popen] = []
    log_path = Path(tempfile.gettempdir()) / "jd-screenshots-dagster-dev.log"
    with log_path.open("w") as log:
        return _drive(python, env, data, out, sandbox_port, ui_port, started, log)


def _drive(python, env, data, out, sandbox_port, ui_port, started, log) -> int:
    try:
        started.append(
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "jd_sandbox",
                    "serve",
                    "--port",
                    str(sandbox_port),
                    "--seed",
                    "7",
                    "--scale",
                    "demo",
                ],
                env=env,
                cwd=ROOT,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        exports = subprocess.run(
            [python, "-m", "jd_sandbox", "env", "--port", str(sandbox_port)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for line in exports.splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export ") :].partition("=")
                env[name] = shlex.split(value)[0] if value else ""
        env |= {
            "DAGSTER_HOME": str(data / "dagster_home"),
            "JD_DUCKDB_PATH": str(data / "jd.duckdb"),
            "JD_ANALYTICS_PATH": str(data / "jd_analytics.duckdb"),
            "JD_TRACKED_ITEMS_PATH": str(data / "tracked_items.csv"),
            "JD_PII_KEY": DEMO_PII_KEY,
        }
        dagster = str(Path(python).with_name("dagster"))
        started.append(
            subprocess.Popen(
                [dagster, "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(ui_port)],
                env=env,
                cwd=ROOT,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_http(f"http://127.0.0.1:{ui_port}/server_info")
        base = f"http://127.0.0.1:{ui_port}"
        runs = graphql(
            ui_port,
            '{ runsOrError(filter: {pipelineName: "derived_tables_job"}, limit: 1) '
            "{ ... on Runs { results { runId } } } }",
        )["runsOrError"]["results"]
        reports = sorted((data / "reports").glob("*/report.html"))
        refused = refused_partition(data / "jd.duckdb")
        yesterday = (today_start() - timedelta(days=1)).date().isoformat()
        shots = [
            ("lineage", f"{base}/asset-groups", "reports"),
            ("asset-columns", f"{base}/assets/product_review_summary", "negative_share"),
            ("asset-checks", f"{base}/assets/raw_comments?view=checks", "schema_drift"),
            ("partitions", f"{base}/assets/raw_orders?view=partitions", yesterday),
            ("refusal", f"{base}/assets/raw_item_details?view=events&partition={refused}", "jd_reason"),
            ("report-asset", f"{base}/assets/review_report", "review_report"),
            ("timeline", f"{base}/overview/activity/timeline", "raw_orders_job"),
            ("backfills", f"{base}/overview/backfills", "raw_orders_job"),
            ("runs", f"{base}/runs", "raw_wares"),
        ]
        if runs:
            shots.append(("run", f"{base}/runs/{runs[0]['runId']}", "derived_tables_job"))
        if reports:
            shots.append(("report", reports[-1].as_uri(), "京东评价报告"))
        with browser(1280, 800) as page:
            for name, url, text in shots:
                page.goto(url, settle=2)
                found = page.wait_for(
                    f"document.body && document.body.innerText.includes({json.dumps(text)})", 120
                )
                page.evaluate(SKIP_MODAL)  # Dagster's "join the community" dialog on a first visit
                page.drain(3)
                path = page.screenshot(out / f"{name}.png", full_page=name == "report")
                shrink(path)
                print(
                    f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
                    f"{path.stat().st_size // 1024} KiB{'' if found else f' (text {text!r} not seen)'}"
                )
            if page.console_errors:
                print(f"console errors seen: {page.console_errors[:5]}")
    finally:
        for process in reversed(started):
            stop_process_group(process, grace_s=30)
    print(f"dagster dev's log: {log.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
