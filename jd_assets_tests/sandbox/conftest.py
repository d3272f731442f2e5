"""Fixtures: a running sandbox per test (tiny or demo scale, no rate limit) and an httpx client on it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from jd_sandbox import Sandbox, SandboxConfig

UNLIMITED = {"justone": None, "jos": None, "fengchao": None}


@pytest.fixture
def tiny() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=11, scale="tiny", rate_limit_rps=dict(UNLIMITED))) as sb:
        yield sb


@pytest.fixture
def demo() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=7, scale="demo", rate_limit_rps=dict(UNLIMITED))) as sb:
        yield sb


@pytest.fixture
def tiny_client(tiny: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tiny.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def demo_client(demo: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=10) as client:
        yield client
