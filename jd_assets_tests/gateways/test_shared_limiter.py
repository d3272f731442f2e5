"""One rate limit across processes: runs launched together share the gateway's schedule, so together
they send at the plan's rate and JD never answers "rate limited"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jd_assets.errors import ConfigError
from jd_assets.gateways.justone import JustOneResource
from jd_assets.http.limiter import FileRateLimiter, rate_limit_dir, shared_limiter, slot_file_name
from jd_sandbox import Sandbox, SandboxConfig

ROOT = Path(__file__).resolve().parents[2]

# Each child imports, says READY, waits for "go" on stdin (so they all start together), prints JSON.
RESERVE = """
import json, sys
from pathlib import Path
from jd_assets.http.limiter import FileRateLimiter
limiter = FileRateLimiter(Path(sys.argv[1]), float(sys.argv[2]))
print("READY", flush=True); sys.stdin.readline()
print(json.dumps([limiter.reserve(now=float(sys.argv[3])) for _ in range(int(sys.argv[4]))]), flush=True)
"""

CRAWL = """
import itertools, json, sys
from jd_assets.gateways.justone import JustOneResource
base_url, token, skus, rate, pages = sys.argv[1:]
skus, rate, pages = skus.split(","), float(rate), int(pages)
resource = JustOneResource(base_url=base_url, token=token, requests_per_second=rate)
print("READY", flush=True); sys.stdin.readline()
fetched = rate_limited = 0
for sku in itertools.cycle(skus):
    with resource.open() as client:
        for _page in client.comment_pages(sku):
            fetched += 1
            if fetched == pages:
                break
        rate_limited += client.stats.rate_limited
    if fetched == pages:
        break
print(json.dumps({"pages": fetched, "rate_limited": rate_limited}), flush=True)
"""


def run_together(script: str, argvs: list[list[str]], env: dict[str, str] | None = None) -> list:
    """Start one Python process per argv, release them all at once, return what each printed."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'sandbox'}", **(env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for argv in argvs
    ]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "READY"
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [json.loads(proc.communicate(timeout=120)[0]) for proc in procs]
    finally:
        for proc in procs:
            proc.kill() if proc.poll() is None else None
    assert [proc.returncode for proc in procs] == [0] * len(procs)
    return outputs


def test_processes_reserve_distinct_slots_from_one_schedule(tmp_path):
    path = tmp_path / "justone.slot"
    now, rate, each = 1000.0, 10.0, 40
    waits = run_together(RESERVE, [[str(path), str(rate), str(now), str(each)] for _ in range(3)])
    assert all(len(w) == each for w in waits)
    # Three processes, one schedule: 120 slots 0.1 s apart, none given twice, none skipped.
    slots = sorted(round(w, 6) for process in waits for w in process)
    assert slots == [round(i / rate, 6) for i in range(3 * each)]
    after = FileRateLimiter(path, rate)
    assert after.reserve(now=now) == pytest.approx(3 * each / rate)
    after.close()


def test_runs_in_two_processes_at_the_plan_rate_get_no_rate_limited_answer(tmp_path):
    rate, pages = 20.0, 20
    cfg = SandboxConfig(
        seed=11, scale="tiny", rate_limit_rps={"justone": rate, "jos": None, "fengchao": None}
    )
    with Sandbox(cfg) as sb:
        env = sb.env()
        skus = ",".join(sb.truth.sku_ids())
        argv = [env["JD_JUSTONE_BASE_URL"], env["JD_JUSTONE_TOKEN"], skus, str(rate), str(pages)]
        # Each configured at the plan's rate, as two runs are: together they may only send at that rate.
        results = run_together(CRAWL, [argv] * 2, env={"JD_RATE_LIMIT_DIR": str(tmp_path)})
        counters = sb.counters()
    assert [r["pages"] for r in results] == [pages] * 2
    assert [r["rate_limited"] for r in results] == [0, 0]
    assert counters["rate_limited"].get("justone", 0) == 0
    assert counters["requests"]["comments"] == 2 * pages


def test_the_file_is_named_by_a_hash_and_shared_only_by_the_same_credentials(tmp_path):
    name = slot_file_name("justone", ("https://api.justoneapi.com", "tok-SECRET-123"))
    assert "tok-SECRET-123" not in name and name.startswith("justone-")
    other = slot_file_name("justone", ("https://api.justoneapi.com", "another-token"))
    assert other != name
    resource = JustOneResource(
        base_url="http://127.0.0.1:9",
        token="tok-SECRET-123",
        requests_per_second=7.0,
        rate_limit_dir=str(tmp_path),
    )
    with resource.open():
        pass
    (slot,) = tmp_path.iterdir()
    assert slot.name == slot_file_name("justone", ("http://127.0.0.1:9", "tok-SECRET-123"))
    limiter = shared_limiter(
        "justone", 7.0, identity=("http://127.0.0.1:9", "tok-SECRET-123"), folder=str(tmp_path)
    )
    assert isinstance(limiter, FileRateLimiter) and limiter.path == slot


def test_a_rate_limited_answer_in_one_process_holds_the_others(tmp_path):
    path = tmp_path / "justone.slot"
    here, there = FileRateLimiter(path, 10.0), FileRateLimiter(path, 10.0)  # two processes' views
    here.hold(5.0, now=2000.0)
    assert there.reserve(now=2001.0) == pytest.approx(4.0)
    assert here.reserve(now=2001.0) == pytest.approx(4.1)
    here.close()
    there.close()


def test_a_folder_others_may_write_is_refused(tmp_path):
    shared = tmp_path / "open"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(ConfigError, match="JD_RATE_LIMIT_DIR"):
        rate_limit_dir(str(shared))
