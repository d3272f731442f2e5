"""Redaction masks secrets by parameter name (URLs, form bodies, JSON, dict reprs) and by literal value."""

from __future__ import annotations

import pytest

from jd_assets.http.layer import redact

CASES = [
    ("GET https://h/api?token=abc123&itemId=9", "GET https://h/api?token=***&itemId=9"),
    ("https://h/r?access_token=AT1&app_key=K&sign=ABCDEF", "https://h/r?access_token=***&app_key=K&sign=***"),
    ("appSecret=s1 app_secret=s2 secret=s3", "appSecret=*** app_secret=*** secret=***"),
    ("TOKEN=upper", "TOKEN=***"),
    ('{"token": "abc", "itemId": "1"}', '{"token": "***", "itemId": "1"}'),
    ("{'access_token': 'xyz', 'v': '2.0'}", "{'access_token': '***', 'v': '2.0'}"),
    ("design=keep&signal=keep&mytoken=keep", "design=keep&signal=keep&mytoken=keep"),
    ("itemId=123&page=2", "itemId=123&page=2"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_sensitive_parameters_are_masked_by_name(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "the secret is s3cr3t/+= inside prose",
        "percent-encoded s3cr3t%2F%2B%3D in a URL",
        "plus-encoded s3cr3t%2F%2B%3D in a form",
    ],
)
def test_known_secret_values_are_masked_wherever_they_appear(text):
    assert "s3cr3t" not in redact(text, ["s3cr3t/+="])


def test_empty_secrets_change_nothing():
    assert redact("token-free text", ["", None]) == "token-free text"  # type: ignore[list-item]
