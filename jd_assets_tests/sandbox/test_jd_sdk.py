"""The sandbox's JOS router answers JD's own Python SDK (PyPI ``jd-sdk`` 1.1.1, a genuine router client,
run unmodified in a venv of its own) the way the real router does: the orders of a day equal the ground
truth, and a wrong app secret is refused with code 12.

The SDK sends ``timestamp`` as local time with its zone (``2026-11-26 20:01:59.000-0800``): the client
runs with a zone far from Beijing, so the call only succeeds if the router honours the zone.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from jd_sandbox import Sandbox, SandboxConfig

from .jd_sdk import CLIENT, sdk_python


@pytest.fixture(scope="module")
def python():
    return sdk_python()


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(seed=11, scale="tiny")) as sb:
        yield sb


def through_the_sdk(python, sandbox: Sandbox, day: str, *, app_secret: str | None = None) -> dict:
    cfg, url = sandbox.config, urlsplit(sandbox.base_url)
    args = {
        "host": url.hostname,
        "port": url.port,
        "app_key": cfg.jos_app_key,
        "app_secret": app_secret or cfg.jos_app_secret,
        "access_token": cfg.jos_access_token,
        "day": day,
    }
    done = subprocess.run(
        [str(python), str(CLIENT)],
        input=json.dumps(args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "America/Los_Angeles"},  # the SDK stamps local time: -0800 / -0700
        check=True,
    )
    return json.loads(done.stdout)


def test_the_sdk_gets_the_days_orders_of_the_ground_truth(python, sandbox):
    day = sandbox.now.date() - timedelta(days=1)

    answer = through_the_sdk(python, sandbox, day.isoformat())

    assert answer.get("orders") == sandbox.truth.orders(day, "live"), answer.get("error_response")
    assert answer["orders"]


def test_the_sdk_with_a_wrong_secret_is_refused_with_code_12(python, sandbox):
    answer = through_the_sdk(python, sandbox, sandbox.now.date().isoformat(), app_secret="not-the-secret")

    assert answer["error_response"]["code"] == "12"
