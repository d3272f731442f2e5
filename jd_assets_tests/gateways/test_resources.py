"""The resources as Dagster runs them: secrets from EnvVar, an empty or missing one named in the error,
the env-var mapping of every secret field, and the documented defaults."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from jd_assets.errors import ConfigError
from jd_assets.gateways.fengchao import FengchaoResource
from jd_assets.gateways.jos import JosResource
from jd_assets.gateways.justone import JustOneResource
from jd_assets.http.resource import CLEAR_TEXT_ENV
from jd_assets.resources import build_resources


def run_with(resource: dg.ConfigurableResource) -> dg.ExecuteInProcessResult:
    @dg.asset
    def opens_a_client(gateway: dg.ConfigurableResource) -> None:
        gateway.open().close()

    return dg.materialize([opens_a_client], resources={"gateway": resource}, raise_on_error=False)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    events = [e for e in result.all_events if e.is_failure]
    return "\n".join(str(e.event_specific_data) for e in events)


def test_an_empty_env_var_fails_the_run_naming_the_variable(monkeypatch):
    monkeypatch.setenv("JD_JUSTONE_TOKEN", "")
    result = run_with(JustOneResource(token=dg.EnvVar("JD_JUSTONE_TOKEN")))
    assert not result.success
    assert "JD_JUSTONE_TOKEN is not set" in failure_text(result)


def test_an_unset_env_var_fails_the_run_naming_the_variable(monkeypatch):
    monkeypatch.delenv("JD_JUSTONE_TOKEN", raising=False)
    with pytest.raises(dg.DagsterInvalidConfigError, match="JD_JUSTONE_TOKEN"):
        run_with(JustOneResource(token=dg.EnvVar("JD_JUSTONE_TOKEN")))


def test_a_set_env_var_opens_a_client(monkeypatch):
    monkeypatch.setenv("JD_JUSTONE_TOKEN", "some-token")
    assert run_with(JustOneResource(token=dg.EnvVar("JD_JUSTONE_TOKEN"))).success


@pytest.mark.parametrize(
    ("resource", "fields"),
    [
        (JustOneResource, {"base_url": "JD_JUSTONE_BASE_URL", "token": "JD_JUSTONE_TOKEN"}),
        (
            JosResource,
            {
                "base_url": "JD_JOS_BASE_URL",
                "app_key": "JD_JOS_APP_KEY",
                "app_secret": "JD_JOS_APP_SECRET",
                "access_token": "JD_JOS_ACCESS_TOKEN",
            },
        ),
        (
            FengchaoResource,
            {
                "base_url": "JD_FENGCHAO_BASE_URL",
                "app_id": "JD_FENGCHAO_APP_ID",
                "app_secret": "JD_FENGCHAO_APP_SECRET",
                "seller_nick": "JD_FENGCHAO_SELLER_NICK",
            },
        ),
    ],
)
def test_every_secret_field_knows_its_variable(resource, fields):
    assert {field: resource.env_var(field) for field in fields} == fields


def test_defaults_are_the_documented_ones():
    jos = JosResource(app_key="k", app_secret="s", access_token="a")
    assert (jos.base_url, jos.dialect, jos.timeout_s, jos.requests_per_second) == (
        "https://api.jd.com/routerjson",
        "live",
        60.0,
        10.0,
    )
    assert jos.max_window_days == 1
    justone = JustOneResource(token="t")
    assert (justone.requests_per_second, justone.max_attempts, justone.max_body_bytes) == (5.0, 6, 20 * 2**20)


def test_a_non_positive_rate_is_a_config_error():
    with pytest.raises(ConfigError, match="requests_per_second"):
        JustOneResource(token="t", requests_per_second=0).open()


# -- clear text (issue 15, item 8): one rule in the shared resource, for all three gateways -------------

CREDENTIALS = {
    "JD_JUSTONE_TOKEN": "token-clear-text-Zq81",
    "JD_JOS_APP_KEY": "key",
    "JD_JOS_APP_SECRET": "secret-clear-text-Zq82",
    "JD_JOS_ACCESS_TOKEN": "access-clear-text-Zq83",
    "JD_FENGCHAO_BASE_URL": "https://fengchao.test/api",
    "JD_FENGCHAO_APP_ID": "app",
    "JD_FENGCHAO_APP_SECRET": "secret-clear-text-Zq84",
    "JD_FENGCHAO_SELLER_NICK": "seller",
}
GATEWAY_URLS = [
    ("justone", "JD_JUSTONE_BASE_URL", "/"),
    ("jos", "JD_JOS_BASE_URL", "/routerjson"),
    ("fengchao", "JD_FENGCHAO_BASE_URL", "/api"),
]


def configured(monkeypatch, variable: str, url: str, **extra: str):
    """The definitions' resources (build_resources) with ``variable`` = ``url``."""
    for name, value in {**CREDENTIALS, variable: url, **extra}.items():
        monkeypatch.setenv(name, value)
    return build_resources()


@pytest.mark.parametrize(("gateway", "variable", "path"), GATEWAY_URLS)
def test_clear_text_http_to_a_remote_gateway_is_refused_naming_the_variable_and_the_opt_in(
    monkeypatch, gateway, variable, path
):
    monkeypatch.delenv(CLEAR_TEXT_ENV, raising=False)
    result = run_with(configured(monkeypatch, variable, "http://api.example.com" + path)[gateway])

    assert not result.success
    text = failure_text(result)
    assert f"{variable} is http:// to api.example.com" in text and "unencrypted" in text
    assert f"use https://, or set {CLEAR_TEXT_ENV}=1" in text
    assert not any(secret in text for secret in CREDENTIALS.values() if "clear-text" in secret)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
@pytest.mark.parametrize(("gateway", "variable", "path"), GATEWAY_URLS)
def test_clear_text_http_to_loopback_is_accepted_silently(monkeypatch, caplog, gateway, variable, path, host):
    monkeypatch.delenv(CLEAR_TEXT_ENV, raising=False)
    resource = configured(monkeypatch, variable, f"http://{host}:8765{path}")[gateway]
    resource.open().close()
    assert "unencrypted" not in caplog.text


@pytest.mark.parametrize(("gateway", "variable", "path"), GATEWAY_URLS)
def test_clear_text_http_with_the_opt_in_opens_and_warns(monkeypatch, caplog, gateway, variable, path):
    resource = configured(monkeypatch, variable, "http://api.example.com" + path, **{CLEAR_TEXT_ENV: "1"})
    with caplog.at_level(logging.WARNING, logger="jd_assets.http"):
        resource[gateway].open().close()
    assert f"{variable} is http:// to api.example.com" in caplog.text and CLEAR_TEXT_ENV in caplog.text
