"""The command line: ``serve`` (also the default) prints its URL when ready, answers, and exits 0 on
SIGTERM and SIGINT; ``env`` prints eval-able exports; ``--help`` documents the demo credentials."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from jd_sandbox import SandboxConfig, env_for
from jd_sandbox.server import CLIENT_RATES

CLI = [sys.executable, "-m", "jd_sandbox"]


@contextmanager
def _serving(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield proc, match.group(0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_exits_0_on_signal(sig: signal.Signals):
    with _serving("serve", "--port", "0", "--seed", "3", "--scale", "tiny") as (proc, url):
        body = httpx.get(
            url + "/api/jd/get-item-comments/v1", params={"token": "sandbox-token", "itemId": "1"}
        ).json()
        assert body["code"] == 404
        proc.send_signal(sig)
        assert proc.wait(5) == 0


def test_serve_is_the_default_command_and_takes_fault_options():
    with _serving("--port", "0", "--scale", "tiny", "--fault-http-5xx", "1.0") as (proc, url):
        response = httpx.get(
            url + "/api/jd/get-item-comments/v1", params={"token": "sandbox-token", "itemId": "1"}
        )
        assert response.status_code in (500, 502, 503, 504)
        assert httpx.get(url + "/_sandbox/counters").json()["faults"] == {"http_5xx": 1}
        proc.terminate()
        assert proc.wait(5) == 0


def test_env_prints_evalable_exports_with_demo_credentials():
    out = subprocess.run([*CLI, "env", "--port", "8765"], capture_output=True, text=True, check=True).stdout
    exports = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in out.splitlines())
    # and the request rates the demo gives its clients (the demo's runs then match make dev's job versions)
    assert exports == env_for("http://127.0.0.1:8765", SandboxConfig()) | CLIENT_RATES
    assert exports["JD_JOS_BASE_URL"] == "http://127.0.0.1:8765/routerjson"
    assert exports["JD_FENGCHAO_BASE_URL"] == "http://127.0.0.1:8765/fengchao"
    shell = subprocess.run(
        ["bash", "-c", f'eval "{out}"; echo "$JD_JUSTONE_TOKEN"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert shell.stdout.strip() == "sandbox-token"


def test_help_documents_the_demo_credentials():
    out = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    for value in (
        "sandbox-token",
        "SANDBOXAPPKEY",
        "sandbox-jos-secret",
        "sandbox-access-token",
        "sandbox-appid",
        "sandbox-fengchao-secret",
        "sandbox-seller",
    ):
        assert value in out
