"""Pushes through the daemon's web app: Toggl webhooks under a 30-an-hour quota, and one sync per burst for every vendor."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from starlette.types import ASGIApp
from structlog.testing import capture_logs

from connectors.connectwise.sandbox import ConnectWiseSandbox
from connectors.halopsa.sandbox import HaloSandbox
from connectors.registry import open_connector
from connectors.toggl.sandbox import WEBHOOK_SECRET, TogglSandbox
from publisher.sinks import DirectorySink
from syncd.config import load_config
from syncd.coordinator import Coordinator
from syncd.push import PushReceiver
from syncd.store import Store
from syncd.serving import AppServer
from syncd.web import SECURITY_HEADERS, create_app

from ..conftest import raw_exchange
from .conftest import Clock, Sleeps

LONDON = ZoneInfo("Europe/London")
CW_KEY = "cw-callback-key-6f1d9a2b7c"
HALO_USER, HALO_PASSWORD, HALO_TOKEN = "syncd", "halo-webhook-pass-83c1", "halo-webhook-token-5e2a9d"
RETAINER = {"cycle": {"monthly": "2026-11-01"}, "pools": {"support": {"cap_hours": 400}}}


class Gate:
    """The debounce wait, held shut until the test opens it: a burst lands inside it by construction."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.waits = 0

    async def __call__(self, _seconds: float) -> None:
        self.waits += 1
        await self.open.wait()


@dataclass
class Rig:
    """A vendor sandbox, the store, the sink, the coordinator and the daemon's web app with its receiver."""

    clock: Clock
    sandbox: Any
    store: Store
    sink: DirectorySink
    coordinator: Coordinator
    push: PushReceiver
    app: ASGIApp
    gate: Gate

    def requests(self) -> int:
        return int(self.sandbox.counters["requests"])

    def page(self, client: str, name: str = "balance.json") -> bytes:
        return self.sink.read(self.store.token_for(client, now=self.clock()), name) or b""

    def descriptions(self, client: str) -> set[str]:
        return {line["description"] for line in json.loads(self.page(client) or b"{}").get("lines", [])}

    def polls(self, account: str) -> int:
        return sum(run.kind == "poll" for run in self.store.runs(account, limit=1000))

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://receiver") as http:
            return await http.post(path, content=body, headers=headers or {})


def write_config(folder: Path, account: str, settings: dict[str, Any], clients: dict[str, dict[str, Any]],
                 refresh: str = "15m") -> Path:
    (folder / "clients").mkdir(parents=True)
    main = {"accounts": {account: settings}, "defaults": {"refresh": refresh, "timezone": "Europe/London"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for key, selector in clients.items():
        client = {"name": key.replace("-", " ").title(), "sources": [{"account": account, **selector}],
                  "retainer": RETAINER}
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    return folder


RigFactory = Callable[..., Rig]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    def build(sandbox: Any, account: str, settings: dict[str, Any], clients: dict[str, dict[str, Any]],
              environ: dict[str, str], clock: Clock, refresh: str = "15m") -> Rig:
        folder = tmp_path / f"rig{len(made)}"
        config = load_config(write_config(folder / "config", account, settings, clients, refresh), environ=environ)
        store = Store.open(f"sqlite:///{folder / 'syncd.db'}")
        sink = DirectorySink(folder / "public")
        factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=Sleeps(clock),
                          monotonic=clock.monotonic)
        coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)
        gate = Gate()
        push = PushReceiver(lambda: coordinator, sleep=gate)
        app = create_app(folder / "public", push=push)
        made.append(Rig(clock, sandbox, store, sink, coordinator, push, app, gate))
        return made[-1]

    yield build
    for rig in made:
        await rig.push.aclose()
        await rig.coordinator.aclose()
        rig.store.close()


# ------------------------------------------------------------------------------------ Toggl


def toggl_rig(make_rig: RigFactory, *, clients: int = 2, plan: str = "premium", refresh: str = "15m",
              reconcile_every: str = "15m") -> Rig:
    clock = Clock()
    sandbox = TogglSandbox(clock=clock, requests_per_hour={"free": 30, "premium": 600}[plan])
    ids = list(sandbox.client_projects)
    while len(ids) < clients:
        ids.append(sandbox.add_client(f"Client {len(ids) + 1}"))
    sandbox.seed(now=clock.now - timedelta(days=1), days=10, per_day=2)
    settings = {"vendor": "toggl", "base_url": "http://toggl.sandbox", "workspace_id": sandbox.workspace_id,
                "api_token": "${TOGGL_TOKEN}", "webhook_secret": "${TOGGL_WEBHOOK_SECRET}", "plan": plan,
                "timezone": "Europe/London", "reconcile_every": reconcile_every}
    selectors = {f"client-{i:02d}": {"client_id": cid} for i, cid in enumerate(ids[:clients])}
    return make_rig(sandbox, "tracker", settings, selectors, clock=clock, refresh=refresh,
                    environ={"TOGGL_TOKEN": sandbox.token, "TOGGL_WEBHOOK_SECRET": WEBHOOK_SECRET})


def toggl_entry(rig: Rig, client_index: int, description: str, *, hours: float = 1.0) -> dict[str, Any]:
    client_id = list(rig.sandbox.client_projects)[client_index]
    start = datetime.combine(rig.clock.now.astimezone(LONDON).date(), time(9), LONDON)
    return dict(rig.sandbox.add_entry(user_id=30_809_356, project_id=rig.sandbox.client_projects[client_id][0],
                                      start=start, seconds=round(hours * 3600), description=description))


async def send_toggl(rig: Rig, event: dict[str, Any], **kwargs: Any) -> httpx.Response:
    response: httpx.Response = await rig.sandbox.send_webhook(rig.app, event, path="/webhooks/toggl/tracker", **kwargs)
    return response


async def test_an_hour_of_minute_refreshes_on_a_30_an_hour_plan_stays_within_quota_and_webhooks_land_at_once(
    make_rig: RigFactory,
) -> None:
    rig = toggl_rig(make_rig, clients=10, plan="free", refresh="1m")
    keys = sorted(rig.coordinator.config.clients)
    pushed: dict[int, tuple[int, str]] = {7: (2, "Replaced the failed NAS drive"), 23: (5, "Renewed the SSL certificate"),
                                          41: (9, "Reset the boardroom display")}
    with capture_logs() as logs:
        await rig.coordinator.refresh_clients(keys, max_age=5)  # the daemon's first refresh
        dropped: dict[str, Any] | None = None
        deleted_at = rig.clock.now
        for minute in range(1, 60):
            rig.clock.advance(minutes=1)
            await rig.coordinator.refresh_clients(keys, max_age=5)  # the 1-minute cadence group's job
            if minute % 15 == 0:
                await rig.coordinator.sync_account("tracker", reconcile=True)  # the account's reconcile job
            if minute in pushed:
                index, description = pushed[minute]
                toggl_entry(rig, index, description)
                assert (await send_toggl(rig, rig.sandbox.events[-1])).status_code == 200
                # Republished by the webhook's own handling, before any poll could have read it.
                assert description in rig.descriptions(keys[index])
            if minute == 31:
                dropped = toggl_entry(rig, 4, "Patched the file server")
                await send_toggl(rig, rig.sandbox.events[-1])
                rig.sandbox.delete_entry(dropped["id"])  # its deletion's webhook never arrives
                deleted_at = rig.clock.now
            if dropped is not None:
                # Polls cannot see a deletion (Toggl's reports list no tombstones): the line stays
                # exactly until a reconcile has run since, and is gone from that moment.
                reconciled = any(r.kind == "reconcile" and r.started_at >= deleted_at
                                 for r in rig.store.runs("tracker", limit=100))
                assert ("Patched the file server" in rig.descriptions(keys[4])) is not reconciled, minute
        assert "Patched the file server" not in rig.descriptions(keys[4])
    assert rig.requests() <= 30 and rig.sandbox.counters["402"] == 0
    assert [e["event"] for e in logs if e["event"].startswith("refresh_")] == ["refresh_stretched"]
    page = json.loads(rig.page(keys[0]))
    assert datetime.fromisoformat(page["next_update_by"]) > rig.clock.now  # an honest, later promise


@pytest.mark.parametrize(
    ("case", "status"),
    [
        pytest.param("bad-signature", 401, id="bad-signature"),
        pytest.param("malformed", 400, id="malformed-body"),
        pytest.param("not-an-event", 400, id="json-but-not-an-event"),
        pytest.param("unknown-workspace", 422, id="unknown-workspace"),
        pytest.param("unknown-account", 404, id="unknown-account"),
        pytest.param("too-large", 413, id="body-too-large"),
    ],
)
async def test_a_refused_toggl_webhook_is_answered_4xx_and_changes_nothing(make_rig: RigFactory, case: str,
                                                                         status: int) -> None:
    rig = toggl_rig(make_rig)
    await rig.coordinator.sync_all(reconcile=True)
    toggl_entry(rig, 0, "Rebuilt the VPN")
    event = rig.sandbox.events[-1]
    before = (rig.page("client-00"), rig.store.count_entries(), rig.requests())
    if case == "bad-signature":
        answer = await send_toggl(rig, event, secret="a-guess")
    elif case == "unknown-workspace":
        event["metadata"]["workspace_id"] = str(rig.sandbox.workspace_id + 1)
        event["payload"]["workspace_id"] = rig.sandbox.workspace_id + 1
        answer = await send_toggl(rig, event)
    elif case == "unknown-account":
        answer = await rig.sandbox.send_webhook(rig.app, event, path="/webhooks/toggl/nobody")
    else:
        body = {"malformed": b"{not json", "not-an-event": b"[1, 2]",
                "too-large": json.dumps({**event, "pad": "x" * 300_000}).encode()}[case]
        answer = await rig.post("/webhooks/toggl/tracker", body,
                                {"X-Webhook-Signature-256": rig.sandbox.sign(body)})
    await rig.push.drain()
    assert answer.status_code == status
    assert (rig.page("client-00"), rig.store.count_entries(), rig.requests()) == before


async def test_the_same_toggl_event_twice_or_a_stale_one_late_changes_nothing_the_second_time(
    make_rig: RigFactory,
) -> None:
    rig = toggl_rig(make_rig)
    await rig.coordinator.sync_all(reconcile=True)
    entry = toggl_entry(rig, 1, "Migrated the shared mailbox", hours=1.0)
    created = rig.sandbox.events[-1]
    assert (await send_toggl(rig, created)).status_code == 200
    first = rig.page("client-01")
    assert "Migrated the shared mailbox" in rig.descriptions("client-01")
    assert (await send_toggl(rig, created)).status_code == 200
    assert rig.page("client-01") == first

    rig.clock.advance(minutes=1)
    rig.sandbox.edit_entry(entry["id"], seconds=1800)
    edited = rig.sandbox.events[-1]
    await send_toggl(rig, edited)
    halved = rig.page("client-01")
    assert halved != first
    created["event_id"] += 1  # a redelivery under a new id, carrying the older state
    await send_toggl(rig, created)
    assert rig.page("client-01") == halved


@pytest.mark.parametrize(
    ("sent", "status"),
    [(timedelta(minutes=-6), 401), (timedelta(hours=-30), 401), (timedelta(minutes=6), 401), (None, 400)],
    ids=["6-minutes-old", "a-day-old", "from-the-future", "no-timestamp"],
)
async def test_a_toggl_delivery_replayed_outside_its_window_is_refused_and_changes_nothing(
    make_rig: RigFactory, sent: timedelta | None, status: int
) -> None:
    rig = toggl_rig(make_rig)
    await rig.coordinator.sync_all(reconcile=True)
    rig.gate.open.set()
    toggl_entry(rig, 0, "Rebuilt the VPN")
    event = rig.sandbox.events[-1]
    # Correctly signed (the signature covers the timestamp): only its age gives the replay away.
    for key in ("timestamp", "created_at"):
        if sent is None:
            del event[key]
        else:
            event[key] = (rig.clock.now + sent).isoformat().replace("+00:00", "Z")
    before = (rig.page("client-00"), rig.store.count_entries(), rig.requests())
    answer = await send_toggl(rig, event)
    await rig.push.drain()
    assert answer.status_code == status
    assert (rig.page("client-00"), rig.store.count_entries(), rig.requests(), rig.gate.waits) == (*before, 0)


async def test_a_replayed_toggl_delivery_cannot_bring_back_an_entry_a_reconcile_deleted(make_rig: RigFactory) -> None:
    rig = toggl_rig(make_rig)
    await rig.coordinator.sync_all(reconcile=True)
    entry = toggl_entry(rig, 1, "Migrated the shared mailbox")
    created = rig.sandbox.events[-1]
    assert (await send_toggl(rig, created)).status_code == 200
    rig.sandbox.delete_entry(entry["id"])  # its deletion's webhook never arrives
    rig.clock.advance(minutes=1)
    await rig.coordinator.sync_account("tracker", reconcile=True)
    assert "Migrated the shared mailbox" not in rig.descriptions("client-01")
    gone = rig.page("client-01")
    created["event_id"] += 1  # past the id memory (another replica, a restart): the same state again
    assert (await send_toggl(rig, created)).status_code == 200
    assert rig.page("client-01") == gone


async def test_toggl_deliveries_with_lying_lengths_or_chunked_past_the_limit_are_refused_over_a_real_socket(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = toggl_rig(make_rig)
    await rig.coordinator.sync_all(reconcile=True)
    rig.gate.open.set()
    toggl_entry(rig, 0, "Rebuilt the VPN")
    # Padded past h11's 16 KiB head limit, so the bytes past a short length fail at once.
    body = json.dumps({**rig.sandbox.events[-1], "pad": "x" * 20_000}).encode()
    signed = f"X-Webhook-Signature-256: {rig.sandbox.sign(body)}\r\n".encode()
    head = b"POST /webhooks/toggl/tracker HTTP/1.1\r\nHost: receiver\r\n" + signed
    chunk = b"x" * 65_536
    before = (rig.page("client-00"), rig.store.count_entries(), rig.requests())
    async with AppServer(rig.app, error_headers=SECURITY_HEADERS) as server:
        # The length says less than is sent: what it covers fails the signature, the rest is
        # no HTTP request at all.
        short = await raw_exchange(server.url, head + b"Content-Length: 40\r\n\r\n" + body)
        # No length at all, chunks past 256 KiB: refused when the count passes the limit.
        chunked = await raw_exchange(server.url, head + b"Transfer-Encoding: chunked\r\n\r\n"
                                     + b"".join(b"10000\r\n" + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n")
        # The length promises more than is ever sent, then the sender hangs up.
        await raw_exchange(server.url, head + b"Content-Length: 200000\r\n\r\n" + body, close_early=True)
        async with httpx.AsyncClient(base_url=server.url) as http:  # the server is still serving
            assert (await http.post("/webhooks/toggl/tracker", content=b"{}")).status_code == 401
    await rig.push.drain()
    assert short.startswith(b"HTTP/1.1 401 ") and b"HTTP/1.1 400 " in short
    assert chunked.startswith(b"HTTP/1.1 413 ")
    for answer in short.split(b"HTTP/1.1 ")[1:] + [chunked]:
        assert b"\r\nx-content-type-options: nosniff\r\n" in answer.lower()
    assert (rig.page("client-00"), rig.store.count_entries(), rig.requests(), rig.gate.waits) == (*before, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_the_toggl_ping_is_answered_with_its_validation_code(make_rig: RigFactory) -> None:
    rig = toggl_rig(make_rig)
    answer = await send_toggl(rig, rig.sandbox.ping_event("c0ffee"))
    assert (answer.status_code, answer.json()) == (200, {"validation_code": "c0ffee"})
    assert (await send_toggl(rig, rig.sandbox.ping_event("c0ffee"), secret="wrong")).status_code == 401


# ------------------------------------------------------------------------------------ bursts: one sync


def cw_rig(make_rig: RigFactory) -> Rig:
    clock = Clock()
    sandbox = ConnectWiseSandbox(clock=clock, tz="Europe/London", company="northbridge", public_key="cwPublic",
                                 private_key="cwPrivate", client_id="cw-client-guid")
    sandbox.seed(now=clock.now - timedelta(days=1), days=10, per_day=4)
    settings = {"vendor": "connectwise", "base_url": "http://cw.sandbox", "company": "northbridge",
                "public_key": "cwPublic", "private_key": "cwPrivate", "client_id": "cw-client-guid",
                "callback_key": "${CW_CALLBACK_KEY}", "timezone": "Europe/London"}
    return make_rig(sandbox, "cw", settings, {"acme-dental": {"company_id": 250}, "birchwood-legal": {"company_id": 251}},
                    clock=clock, environ={"CW_CALLBACK_KEY": CW_KEY})


def halo_rig(make_rig: RigFactory) -> Rig:
    clock = Clock()
    sandbox = HaloSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1), days=10, per_day=3)
    settings = {"vendor": "halopsa", "base_url": "http://halo.sandbox", "tenant": sandbox.tenant,
                "client_id": sandbox.client_id, "client_secret": "${HALO_SECRET}", "webhook_username": HALO_USER,
                "webhook_password": "${HALO_WEBHOOK_PASSWORD}", "webhook_token": "${HALO_WEBHOOK_TOKEN}"}
    return make_rig(sandbox, "halo", settings, {"acme-dental": {"client_id": 12}, "birchwood-legal": {"client_id": 13}},
                    clock=clock, environ={"HALO_SECRET": sandbox.client_secret, "HALO_WEBHOOK_PASSWORD": HALO_PASSWORD,
                                          "HALO_WEBHOOK_TOKEN": HALO_TOKEN})


async def burst(rig: Rig, send: Callable[[int], Any], account: str) -> tuple[int, int]:
    """100 deliveries inside one debounce wait, then the wait ends: (requests, polls) it cost."""
    await rig.coordinator.sync_account(account, reconcile=True)
    rig.clock.advance(minutes=1)
    requests, polls = rig.requests(), rig.polls(account)
    answers = [await send(i) for i in range(100)]
    assert {a.status_code for a in answers} == {200}
    rig.gate.open.set()
    await rig.push.drain()
    return rig.requests() - requests, rig.polls(account) - polls


async def test_100_connectwise_callbacks_in_a_burst_cost_one_sync_and_reach_the_page(make_rig: RigFactory) -> None:
    rig = cw_rig(make_rig)
    start = datetime.combine(rig.clock.now.date(), time(10), LONDON)
    edits = [rig.sandbox.add_entry(company_id=250, start=start, notes=f"Printer queue fix {i}") for i in range(100)]

    async def send(i: int) -> httpx.Response:
        return await rig.sandbox.send_callback(rig.app, rig.sandbox.callbacks[-100 + i], path=f"/webhooks/connectwise/cw/{CW_KEY}")

    assert len(edits) == 100
    assert await burst(rig, send, "cw") == (1, 1)  # one poll, one page of changes
    assert "Printer queue fix 99" in rig.descriptions("acme-dental")


async def test_a_connectwise_deleted_callback_is_confirmed_upstream_before_the_entry_goes(make_rig: RigFactory) -> None:
    rig = cw_rig(make_rig)
    start = datetime.combine(rig.clock.now.date(), time(11), LONDON)
    kept = rig.sandbox.add_entry(company_id=251, start=start, notes="Replaced the door controller")
    gone = rig.sandbox.add_entry(company_id=251, start=start, notes="Cleared the print spooler")
    await rig.coordinator.sync_account("cw", reconcile=True)
    rig.sandbox.delete_entry(gone["id"])
    forged = rig.sandbox.callback_event("deleted", kept)  # a claim ConnectWise would not confirm
    for event in (rig.sandbox.callbacks[-1], forged):
        assert (await rig.sandbox.send_callback(rig.app, event, path=f"/webhooks/connectwise/cw/{CW_KEY}")).status_code == 200
    rig.clock.advance(seconds=30)
    rig.gate.open.set()
    await rig.push.drain()
    assert rig.descriptions("birchwood-legal") >= {"Replaced the door controller"}
    assert "Cleared the print spooler" not in rig.descriptions("birchwood-legal")


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        pytest.param("/webhooks/connectwise/cw/not-the-key-at-all", b'{"Type":"time","Action":"added","ID":1}', 401,
                     id="wrong-key"),
        pytest.param("/webhooks/connectwise/cw", b'{"Type":"time","Action":"added","ID":1}', 404, id="no-key"),
        pytest.param(f"/webhooks/connectwise/other/{CW_KEY}", b'{"Type":"time","Action":"added","ID":1}', 404,
                     id="unknown-account"),
        pytest.param(f"/webhooks/connectwise/cw/{CW_KEY}", b"Type=time", 400, id="not-json"),
        pytest.param(f"/webhooks/connectwise/cw/{CW_KEY}", b'{"Type":"time","Action":"added"}', 400, id="no-id"),
    ],
)
async def test_a_refused_connectwise_callback_is_answered_4xx_and_syncs_nothing(make_rig: RigFactory, path: str,
                                                                              body: bytes, status: int) -> None:
    rig = cw_rig(make_rig)
    rig.gate.open.set()
    assert (await rig.post(path, body)).status_code == status
    await rig.push.drain()
    assert rig.requests() == 0 and rig.gate.waits == 0


async def test_100_halo_webhooks_in_a_burst_cost_one_sync_with_basic_or_bearer_auth(make_rig: RigFactory) -> None:
    rig = halo_rig(make_rig)
    ticket = rig.sandbox.add_ticket(client_id=12, summary="Outlook keeps asking for a password")
    action = rig.sandbox.add_action(ticket, agent_id=21, note="Rebuilt the Outlook profile", hours=0.5,
                                    start=rig.clock.now - timedelta(hours=1))

    async def send(i: int) -> httpx.Response:
        auth: dict[str, Any] = {"basic": (HALO_USER, HALO_PASSWORD)} if i % 2 else {"bearer": HALO_TOKEN}
        return await rig.sandbox.send_webhook(rig.app, rig.sandbox.webhook_event(ticket, action["id"]),
                                              path="/webhooks/halopsa/halo", **auth)

    requests, polls = await burst(rig, send, "halo")
    assert polls == 1 and requests == 1  # the report route: one request for the changed actions
    assert "Rebuilt the Outlook profile" in rig.descriptions("acme-dental")


@pytest.mark.parametrize(
    ("auth", "status"),
    [({"basic": (HALO_USER, "wrong-password-123456")}, 401), ({"bearer": "not-the-token-000000"}, 401), ({}, 401)],
    ids=["wrong-password", "wrong-token", "none"],
)
async def test_an_unauthenticated_halo_webhook_is_refused_and_syncs_nothing(make_rig: RigFactory,
                                                                          auth: dict[str, Any], status: int) -> None:
    rig = halo_rig(make_rig)
    rig.gate.open.set()
    answer = await rig.sandbox.send_webhook(rig.app, {"event": "Action Added"}, path="/webhooks/halopsa/halo", **auth)
    await rig.push.drain()
    assert answer.status_code == status and rig.requests() == 0 and rig.gate.waits == 0


async def test_100_toggl_events_without_an_entry_cost_one_sync(make_rig: RigFactory) -> None:
    rig = toggl_rig(make_rig)
    project = rig.sandbox.add_project("Office move", list(rig.sandbox.client_projects)[0])

    async def send(i: int) -> httpx.Response:
        event = rig.sandbox.event_envelope("updated", next(iter(rig.sandbox.entries.values())))
        event["metadata"]["model"], event["payload"] = "project", {"id": project, "name": f"Office move {i}",
                                                                   "workspace_id": rig.sandbox.workspace_id}
        return await send_toggl(rig, event)

    requests, polls = await burst(rig, send, "tracker")
    assert polls == 1 and requests <= 2  # the poll, and at most a project lookup for the new project
