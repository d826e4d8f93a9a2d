"""Alerts from a running coordinator: once per threshold per cycle, across restarts; sources once."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller

from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncd.alerts import alert_policy
from syncd.config import load_config
from syncd.coordinator import AUTH_RETRY, Coordinator
from syncd.serving import AppServer
from syncd.store import Store

from .conftest import Clock, Sleeps, demo_config


class Inbox:
    """What the webhook endpoint and the SMTP server received."""

    def __init__(self) -> None:
        self.hooks: list[dict] = []  # type: ignore[type-arg]
        self.mails: list[bytes] = []
        self.hook_url = ""
        self.smtp_port = 0

    async def webhook(self, request: Request) -> Response:
        self.hooks.append(json.loads(await request.body()))
        return Response(status_code=200)

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.mails.append(envelope.content)
        return "250 OK"


@pytest.fixture
async def box() -> AsyncIterator[Inbox]:
    """A real webhook receiver and a real SMTP server, both on loopback."""
    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        box.smtp_port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=box.smtp_port)
    controller.start()
    async with AppServer(Starlette(routes=[Route("/hooks/ops", box.webhook, methods=["POST"])])) as server:
        box.hook_url = f"{server.url}/hooks/ops"
        yield box
    controller.stop()


NOTIFY = """
notify:
  hook: {webhook: "${OPS_WEBHOOK_URL}"}
  mail:
    email: {to: [ops@msp.example], from: syncd@msp.example, host: 127.0.0.1, port: "${SMTP_PORT}",
            starttls: false}
"""


def coordinator(tmp_path: Path, sandbox: HarvestSandbox, clock: Clock, store: Store, box: Inbox) -> Coordinator:
    """A coordinator (a daemon's life) over the shared store, alerting as syncd.yaml's
    notify: section says: failing sources to the webhook (defaults), Acme to both targets."""
    root = tmp_path / "config"
    if not root.exists():
        demo_config(tmp_path, sandbox)
        main = root / "syncd.yaml"
        main.write_text(main.read_text().replace(
            "  rules: [standard]\n", "  rules: [standard]\n  notify: [hook]\n  alert_failing_after: 10m\n") + NOTIFY)
        client = root / "clients" / "acme-dental.yaml"
        client.write_text(client.read_text().replace(
            "retainer:\n", "retainer:\n  alerts: {at_percent: [75, 90, 100], notify: [hook, mail]}\n"))
    config = load_config(root, environ={"DEMO_HARVEST_URL": "http://harvest.sandbox",
                                        "DEMO_HARVEST_ACCOUNT": sandbox.account_id,
                                        "DEMO_HARVEST_TOKEN": sandbox.token,
                                        "OPS_WEBHOOK_URL": box.hook_url, "SMTP_PORT": str(box.smtp_port)})
    factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=Sleeps(clock),
                      monotonic=clock.monotonic)
    return Coordinator(config, store, DirectorySink(tmp_path / "public"), clock=clock, connector_factory=factory,
                       alerts=alert_policy(config))


async def test_a_crossing_alerts_once_not_after_a_restart_and_again_next_cycle(
    tmp_path: Path, box: Inbox
) -> None:
    clock = Clock()  # 18 Nov 2026: Acme's cycle runs 15 Nov – 14 Dec
    sandbox = HarvestSandbox(clock=clock)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    for day in (16, 17, 18):  # Monday to Wednesday, in business hours: 24 of 32 h
        sandbox.add_entry(client_id=5001, hours=8.0, spent_date=clock.now.date().replace(day=day),
                          started_time="9:00am", notes="Server migration")
    first = coordinator(tmp_path, sandbox, clock, store, box)
    await first.sync_all(reconcile=True)
    await first.refresh_clients(["acme-dental"], max_age=0)
    await first.aclose()
    low = [h for h in box.hooks if h["kind"] == "low_balance"]
    assert len(low) == 1 and low[0]["fields"]["threshold"] == 75
    assert len(box.mails) == 1 and b"75% of this cycle's hours used" in box.mails[0]

    restarted = coordinator(tmp_path, sandbox, clock, store, box)
    clock.advance(minutes=5)
    await restarted.refresh_clients(["acme-dental"], max_age=0)
    assert len([h for h in box.hooks if h["kind"] == "low_balance"]) == 1 and len(box.mails) == 1

    clock.advance(days=28)  # 16 Dec: a new cycle
    sandbox.add_entry(client_id=5001, hours=8.0, spent_date=clock.now.date(), started_time="9:00am")
    sandbox.add_entry(client_id=5001, hours=8.0, spent_date=clock.now.date(), started_time="9:00am")
    sandbox.add_entry(client_id=5001, hours=9.0, spent_date=clock.now.date(), started_time="9:00am")
    await restarted.refresh_clients(["acme-dental"], max_age=0)
    await restarted.aclose()
    low = [h for h in box.hooks if h["kind"] == "low_balance"]
    assert len(low) == 2 and low[1]["fields"]["cycle_start"] == "2026-12-15"
    assert len(box.mails) == 2
    store.close()


async def test_a_failing_source_alerts_once_and_its_recovery_once(tmp_path: Path, box: Inbox) -> None:
    clock = Clock()
    sandbox = HarvestSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1))
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    coord = coordinator(tmp_path, sandbox, clock, store, box)
    await coord.sync_all(reconcile=True)
    sandbox.fail_auth(True)
    for _ in range(3):
        clock.advance(minutes=1)
        await coord.refresh_clients(["acme-dental"], max_age=0)
    failing = [h for h in box.hooks if h["kind"] == "source_failing"]
    assert len(failing) == 1 and failing[0]["fields"]["error_kind"] == "auth"
    sandbox.fail_auth(False)
    clock.advance(seconds=AUTH_RETRY.total_seconds() + 1)
    await coord.refresh_clients(["acme-dental"], max_age=0)
    await coord.refresh_clients(["acme-dental"], max_age=0)
    assert [h["kind"] for h in box.hooks if h["kind"].startswith("source")] == ["source_failing", "source_recovered"]
    await coord.aclose()
    store.close()


async def test_a_transient_failure_alerts_only_after_it_has_lasted(tmp_path: Path, box: Inbox) -> None:
    clock = Clock()
    sandbox = HarvestSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1))
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    coord = coordinator(tmp_path, sandbox, clock, store, box)
    await coord.sync_all(reconcile=True)
    sandbox.fail_next(100, "5xx")
    clock.advance(minutes=1)
    await coord.refresh_clients(["acme-dental"], max_age=0)
    assert not [h for h in box.hooks if h["kind"] == "source_failing"]
    clock.advance(minutes=11)  # failing for longer than failing_after (10 minutes)
    await coord.refresh_clients(["acme-dental"], max_age=0)
    assert len([h for h in box.hooks if h["kind"] == "source_failing"]) == 1
    await coord.aclose()
    store.close()
