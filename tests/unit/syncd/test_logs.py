"""Log redaction: no secret, token or page URL reaches a log line."""

from __future__ import annotations

import json

import pytest
import structlog

from syncd.logs import REDACTED, configure_logging, redact_text

TOKEN = "SahcL4GscaCP7Ix5Y11jRmFGrRw_RW5E"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"http://pages.example/c/{TOKEN}/", f"http://pages.example/c/{REDACTED}/"),
        (f"GET /c/{TOKEN}/balance.json", f"GET /c/{REDACTED}/balance.json"),
        ("Authorization: Bearer abc.def-123", f"Authorization: Bearer {REDACTED}"),
        ("basic dXNlcjpwYXNz", f"basic {REDACTED}"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_json_log_lines_hide_secret_keys_nested_values_and_page_urls(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "info")
    try:
        structlog.get_logger("t").info(
            "example", api_token="tok-123", url=f"https://b.example/c/{TOKEN}/",
            headers={"Authorization": "Bearer tok-456", "Accept": "json"}, urls=[f"/c/{TOKEN}/"], count=3)
    finally:
        structlog.reset_defaults()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    for secret in ("tok-123", "tok-456", TOKEN):
        assert secret not in line
    assert record["api_token"] == REDACTED
    assert record["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert record["count"] == 3 and record["event"] == "example"
