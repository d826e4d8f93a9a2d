"""Alerts: thresholds crossed, webhook and e-mail delivery, failures that never raise."""

from __future__ import annotations

import dataclasses

import json
import socket
from datetime import date, datetime, timezone
from decimal import Decimal

import httpx
import pytest
import respx
from aiosmtpd.controller import Controller
from structlog.testing import capture_logs

from syncd.alerts import (
    Alert,
    EmailTarget,
    Notifier,
    WebhookTarget,
    crossed_thresholds,
    low_balance_alert,
    source_alert,
)
from syncd.models import Cycle, PoolBalance, Statement


def statement(used: str, cap: str = "20", adjustments: str = "0") -> Statement:
    pool = PoolBalance("support", "Support", Decimal(cap), Decimal("0"), Decimal(adjustments), Decimal(used))
    return Statement("acme", "Acme Dental", datetime(2026, 11, 21, tzinfo=timezone.utc),
                     Cycle(date(2026, 11, 15), date(2026, 12, 15), "America/Chicago"), (pool,), ())


@pytest.mark.parametrize(
    ("used", "cap", "expected"),
    [("0", "20", []), ("14.99", "20", []), ("15", "20", [75]), ("18", "20", [75, 90]),
     ("20", "20", [75, 90, 100]), ("25", "20", [75, 90, 100]), ("1", "0", [75, 90, 100]), ("0", "0", [])],
)
def test_crossed_thresholds(used: str, cap: str, expected: list[int]) -> None:
    assert crossed_thresholds(statement(used, cap), [100, 75, 90]) == expected


def test_low_balance_alert_says_the_figures_in_words() -> None:
    alert = low_balance_alert(statement("22.5"), 100)
    assert alert.title == "Acme Dental: 100% of this cycle's hours used"
    assert alert.text == "22.50 h used of 20.00 h; Support is 2.50 h over its 20.00 h. The cycle resets on 15 Dec 2026."
    assert low_balance_alert(statement("15"), 75).text.startswith("15.00 h used of 20.00 h; 5.00 h remaining.")
    assert alert.fields["cycle_start"] == "2026-11-15"


def test_low_balance_alert_of_a_prepaid_block_says_it_does_not_reset() -> None:
    block = dataclasses.replace(statement("18"), cycle=Cycle(date(2026, 6, 1), None, "America/Chicago"))
    assert low_balance_alert(block, 90).text == (
        "18.00 h used of 20.00 h; 2.00 h remaining. The prepaid block does not reset.")


@respx.mock
async def test_a_webhook_gets_a_slack_and_teams_compatible_json_body() -> None:
    route = respx.post("https://hooks.example/T1").mock(return_value=httpx.Response(200))
    sent = await Notifier({"ops": WebhookTarget("https://hooks.example/T1")}).notify(
        source_alert("cw", "ConnectWise PSA", failing=True, kind="auth"), ["ops"])
    assert sent == 1
    body = json.loads(route.calls.last.request.read())
    assert body["text"].startswith("ConnectWise PSA account 'cw' is failing (auth)\nCredentials were refused")
    assert body["fields"] == {"account": "cw", "error_kind": "auth"}


@respx.mock
async def test_a_failed_delivery_is_logged_without_the_url_and_never_raises() -> None:
    respx.post("https://hooks.example/secret-path").mock(return_value=httpx.Response(500))
    with capture_logs() as logs:
        sent = await Notifier({"ops": WebhookTarget("https://hooks.example/secret-path")}).notify(
            Alert("low_balance", "acme", "t", "x"), ["ops", "unknown-name"])
    assert sent == 0
    failed = [e for e in logs if e["event"] == "alert_delivery_failed"]
    assert len(failed) == 1 and failed[0]["target"] == "ops"
    assert "secret-path" not in repr(logs)


async def test_email_is_delivered_over_smtp() -> None:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:  # a free port: the controller checks itself by connecting to it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        target = EmailTarget(host="127.0.0.1", port=port,
                             starttls=False, sender="syncd@msp.example", recipients=["ops@msp.example"])
        sent = await Notifier({"mail": target}).notify(low_balance_alert(statement("18"), 90), ["mail"])
    finally:
        controller.stop()
    assert sent == 1 and len(received) == 1
    assert b"Subject: Acme Dental: 90% of this cycle's hours used" in received[0]
    assert b"To: ops@msp.example" in received[0]
