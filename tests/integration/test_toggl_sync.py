"""The coordinator against the Toggl sandbox: one filtered report stream, quota, 402s, webhooks, deletions."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from structlog.testing import capture_logs

from connectors.registry import open_connector
from connectors.toggl.client import TogglConnector
from connectors.toggl.sandbox import (
    AFTER_HOURS_TAG,
    INTERNAL_PROJECT,
    ONSITE_TAG,
    TRAVEL_TAG,
    WEBHOOK_SECRET,
    TogglSandbox,
)
from connectors.toggl.webhooks import SIGNATURE_HEADER
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import AUTH_RETRY, Coordinator
from syncd.store import Store

from .conftest import Clock, Sleeps

URL = "http://toggl.sandbox"
LONDON = ZoneInfo("Europe/London")
ACME, BIRCHWOOD = 61203441, 61203442
INGRID, KWAME = 30809356, 30809357


def write_config(folder: Path, plan: str) -> Path:
    """syncd.yaml with one Toggl account (secrets by env), two client files and a tag-aware rule set."""
    (folder / "clients").mkdir(parents=True)
    (folder / "rules").mkdir()
    account = {"vendor": "toggl", "base_url": URL, "workspace_id": "${TOGGL_WORKSPACE}",
               "api_token": "${TOGGL_TOKEN}", "webhook_secret": "${TOGGL_WEBHOOK_SECRET}", "plan": plan,
               "timezone": "Europe/London", "reconcile_every": "2m"}
    main = {"accounts": {"tracker": account},
            "defaults": {"refresh": "15m", "timezone": "Europe/London", "rules": ["standard"]}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    rules = {"rules": [
        {"name": "no travel", "when": {"travel": True}, "drop": True},
        {"name": "internal only", "when": {"billable": False}, "drop": True},
        {"name": "after hours", "when": {"tags": ["After-hours"]}, "multiply": 2, "label": "After-hours ×2"},
    ]}
    (folder / "rules" / "standard.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True))
    clients = (("acme-dental", "Acme Dental", ACME), ("birchwood-legal", "Birchwood Legal", BIRCHWOOD))
    for key, name, client_id in clients:
        client = {"name": name, "sources": [{"account": "tracker", "client_id": client_id}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 400}}}}
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    return folder


@dataclass
class Rig:
    """A Toggl sandbox, a store, a sink and a coordinator wired together over ASGITransport."""

    clock: Clock
    sleeps: Sleeps
    sandbox: TogglSandbox
    store: Store
    sink: DirectorySink
    config: Config
    coordinator: Coordinator
    publish_dir: Path

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def connector(self) -> TogglConnector:
        # The coordinator's own connector: a receiver shares its cached project and user names.
        connector = self.coordinator._accounts["tracker"].connector
        assert isinstance(connector, TogglConnector)
        return connector

    def balance(self, client: str) -> dict[str, Any]:
        token = self.store.token_for(client, now=self.clock())
        return json.loads(self.sink.read(token, "balance.json") or b"{}")

    def descriptions(self, client: str) -> dict[str, dict[str, Any]]:
        return {line["description"]: line for line in self.balance(client)["lines"]}

    def published_text(self) -> dict[str, str]:
        return {str(p.relative_to(self.publish_dir)): p.read_bytes().decode("utf-8-sig")
                for p in self.publish_dir.rglob("*") if p.is_file()}

    def track(self, client: int, description: str, *, at: time = time(10), hours: float | None = 1.0,
              user: int = INGRID, day: date | None = None, **changes: Any) -> dict[str, Any]:
        start = datetime.combine(day or self.clock.now.date(), at, LONDON)
        seconds = None if hours is None else round(hours * 3600)
        return self.sandbox.add_entry(user_id=user, project_id=self.sandbox.client_projects[client][0], start=start,
                                      seconds=seconds, description=description, **changes)


RigFactory = Callable[..., Any]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[RigFactory]:
    made: list[Rig] = []

    def build(plan: str = "premium") -> Rig:
        clock = Clock()
        sleeps = Sleeps(clock)
        sandbox = TogglSandbox(clock=clock, requests_per_hour={"free": 30, "starter": 240, "premium": 600}[plan])
        sandbox.seed(now=clock.now - timedelta(days=1), days=40, per_day=8)
        environ = {"TOGGL_WORKSPACE": str(sandbox.workspace_id), "TOGGL_TOKEN": sandbox.token,
                   "TOGGL_WEBHOOK_SECRET": WEBHOOK_SECRET}
        folder = tmp_path / f"rig{len(made)}"
        config = load_config(write_config(folder / "config", plan), environ=environ)
        store = Store.open(f"sqlite:///{folder / 'syncd.db'}")
        sink = DirectorySink(folder / "public")
        factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=sleeps,
                          monotonic=clock.monotonic)
        coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)
        made.append(Rig(clock, sleeps, sandbox, store, sink, config, coordinator, folder / "public"))
        return made[-1]

    yield build
    for rig in made:
        await rig.coordinator.aclose()
        rig.store.close()


@pytest.fixture
def rig(make_rig: RigFactory) -> Rig:
    built: Rig = make_rig()
    return built


async def backfill(rig: Rig) -> None:
    """The first pass, then a minute on: inside the account's 2-minute reconcile interval."""
    outcome = await rig.coordinator.sync_all(reconcile=True)
    assert all(o.ok for o in outcome.values()), outcome
    rig.clock.advance(minutes=1)


# ------------------------------------------------------------------------------------ request counts


async def test_both_clients_share_one_report_search_filtered_server_side(rig: Rig) -> None:
    await backfill(rig)
    before = rig.requests()
    published = await rig.coordinator.refresh_clients(sorted(rig.config.clients), max_age=0)
    assert rig.requests() - before == 1
    assert sorted(p.client_key for p in published) == ["acme-dental", "birchwood-legal"]
    poll = rig.sandbox.searches[-1]
    assert poll["client_ids"] == [ACME, BIRCHWOOD]
    assert (poll["order_by"], poll["order_dir"], poll["page_size"]) == ("last_update", "DESC", 50)


@pytest.mark.parametrize("changed", [0, 1, 48, 49, 50, 120])
async def test_a_poll_reads_changed_entries_50_a_page_and_stops_at_the_first_unchanged_one(
    rig: Rig, changed: int
) -> None:
    await backfill(rig)
    # The lookback re-reads what the cursor's last minutes hold (measured by an idle poll);
    # the listing returns those and the N changes, and the cost is that listing's lower bound.
    assert (await rig.coordinator.sync_account("tracker", reconcile=False)).ok
    reread = rig.store.runs("tracker")[0].fetched
    for i in range(changed):
        rig.track((ACME, BIRCHWOOD)[i % 2], f"Change {i}", hours=0.25)
    rig.clock.advance(minutes=1)
    held = rig.store.count_entries("tracker")
    before = rig.requests()
    assert (await rig.coordinator.sync_account("tracker", reconcile=False)).ok
    # No modified-since filter exists: the page holding the first unchanged entry proves the
    # end, so N changes cost N // 50 + 1 requests (ceil(N/50) unless N is a multiple of 50).
    assert rig.requests() - before == (changed + reread) // 50 + 1
    assert rig.store.count_entries("tracker") == held + changed


async def test_the_hourly_budget_keeps_a_free_plan_under_its_quota_by_deferring_not_waiting(
    make_rig: RigFactory,
) -> None:
    rig: Rig = make_rig(plan="free")
    await backfill(rig)
    outcomes = []
    for _ in range(40):  # asked every minute for 40 minutes: more than 27 an hour can pay for
        outcomes.append(await rig.coordinator.sync_account("tracker", reconcile=False))
        rig.clock.advance(seconds=60)
    assert all(o.ok for o in outcomes)
    assert rig.sandbox.counters["402"] == 0 and rig.sleeps.calls == []  # nothing sat waiting on a window
    assert rig.requests() <= 27  # the plan's 30 less the safety margin, backfill included
    assert any(o.deferred for o in outcomes) and any(not o.skipped for o in outcomes[1:])
    assert rig.connector().quota.remaining is not None and rig.connector().quota.remaining >= 3


# ------------------------------------------------------------------------------------ the quota answer


async def test_a_402_with_a_short_reset_is_waited_out_and_the_poll_succeeds(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1, 3)
    before = rig.requests()
    assert (await rig.coordinator.sync_account("tracker", reconcile=False)).ok
    assert 3.0 in rig.sleeps.calls and rig.requests() - before == 2


async def test_a_402_with_a_long_reset_defers_every_sync_of_the_account_until_then(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1, 1800)
    outcome = await rig.coordinator.sync_account("tracker", reconcile=False)
    assert outcome.error is not None and outcome.error.kind == "rate_limited"
    before = rig.requests()
    rig.clock.advance(seconds=1700)
    assert (await rig.coordinator.sync_account("tracker", reconcile=True)).skipped
    assert rig.requests() == before
    rig.clock.advance(seconds=101)
    assert (await rig.coordinator.sync_account("tracker", reconcile=True)).ok


async def test_a_refused_token_stops_polling_and_keeps_the_last_good_page(rig: Rig) -> None:
    await backfill(rig)
    good = rig.balance("acme-dental")
    rig.sandbox.fail_auth(True)
    with capture_logs() as logs:
        for _ in range(3):
            rig.clock.advance(minutes=1)
            await rig.coordinator.refresh_client("acme-dental", max_age=0)
    assert [e["error_kind"] for e in logs if e["event"] == "source_failed"] == ["auth"]
    assert rig.sandbox.counters["403"] == 1
    page = rig.balance("acme-dental")
    assert page["stale"] is True and page["lines"] == good["lines"]
    rig.sandbox.fail_auth(False)
    rig.clock.advance(seconds=AUTH_RETRY.total_seconds() + 1)
    await rig.coordinator.refresh_client("acme-dental", max_age=0)
    assert rig.balance("acme-dental")["stale"] is False


# ------------------------------------------------------------------------------------ what reaches the page


async def test_edits_project_moves_and_deletions_upstream_reach_the_pages(rig: Rig) -> None:
    edited = rig.track(ACME, "Replaced the edge router", at=time(9))
    moved = rig.track(ACME, "Rebuilt the print server", at=time(11))
    gone = rig.track(ACME, "Audited the door access list", at=time(13))
    await backfill(rig)
    assert {"Replaced the edge router", "Rebuilt the print server",
            "Audited the door access list"} <= set(rig.descriptions("acme-dental"))

    rig.sandbox.edit_entry(edited["id"], seconds=5400)
    rig.sandbox.edit_entry(moved["id"], project_id=rig.sandbox.client_projects[BIRCHWOOD][0])
    rig.sandbox.delete_entry(gone["id"])
    rig.clock.advance(minutes=5)
    assert (await rig.coordinator.sync_all(reconcile=True))["tracker"].ok
    acme = rig.descriptions("acme-dental")
    assert acme["Replaced the edge router"]["hours_charged"] == "1.50"
    assert "Rebuilt the print server" not in acme and "Audited the door access list" not in acme
    assert "Rebuilt the print server" in rig.descriptions("birchwood-legal")


async def test_a_running_timer_counts_only_once_it_stops(rig: Rig) -> None:
    timer = rig.track(BIRCHWOOD, "Migrating the shared mailbox", at=time(14), hours=None)
    await backfill(rig)
    assert "Migrating the shared mailbox" not in rig.descriptions("birchwood-legal")
    rig.clock.advance(minutes=30)
    rig.sandbox.stop_entry(timer["id"])
    rig.clock.advance(minutes=1)
    assert (await rig.coordinator.sync_account("tracker", reconcile=False)).ok
    await rig.coordinator.publish_client("birchwood-legal")
    assert rig.descriptions("birchwood-legal")["Migrating the shared mailbox"]["hours_logged"] == "1.52"


async def test_tags_drive_travel_and_after_hours_and_no_name_or_internal_remark_is_published(rig: Rig) -> None:
    names = [u["fullname"] for u in rig.sandbox.users.values()]
    rig.track(ACME, "Travel to Acme Dental", at=time(8), tag_ids=[TRAVEL_TAG])
    rig.track(ACME, "Replaced the reception switch", at=time(9), tag_ids=[ONSITE_TAG])
    rig.track(ACME, "Server down after a power cut", at=time(21), tag_ids=[AFTER_HOURS_TAG])
    rig.track(ACME, "Licence reconciliation", at=time(12), billable=False)
    rig.sandbox.add_entry(user_id=KWAME, project_id=INTERNAL_PROJECT, start=datetime.combine(
        rig.clock.now.date(), time(11), LONDON), seconds=3600, description="Client runbook updates")
    for i, name in enumerate(names):
        first = name.split()[0]
        rig.track(BIRCHWOOD, f"Rebuilt the VPN with {first}, {name} checked it Internal: secret-marker-{i}",
                  at=time(15), user=INGRID)
    await backfill(rig)
    acme = rig.descriptions("acme-dental")
    assert "Travel to Acme Dental" not in acme and "Licence reconciliation" not in acme
    assert acme["Server down after a power cut"]["labels"] == ["After-hours ×2"]
    assert acme["Server down after a power cut"]["hours_charged"] == "2.00"
    assert "Replaced the reception switch" in acme
    forbidden = {part.lower() for name in names for part in (name, *name.split())} | {"secret-marker", "internal:"}
    published = rig.published_text()
    assert any("Rebuilt the VPN with" in text for text in published.values())
    for path, text in published.items():
        leaked = sorted(word for word in forbidden if word in text.lower())
        assert not leaked, f"{path} holds {leaked}"


# ------------------------------------------------------------------------------------ push


def receiver(rig: Rig) -> Starlette:
    """A stand-in for syncd/web.py's route: check the signature, apply the entry, republish."""

    async def toggl(request: Request) -> Response:
        body = await request.body()
        connector = rig.connector()
        if not connector.verify_webhook(body, request.headers.get(SIGNATURE_HEADER)):
            return Response(status_code=401)
        event = connector.parse_webhook(body)
        if event.kind == "ping":
            return JSONResponse({"validation_code": event.validation_code})
        if event.entry is not None:
            applied = rig.store.apply_entries("tracker", [event.entry], now=rig.clock())
            for key in sorted(applied.clients):
                await rig.coordinator.publish_client(key)
        if event.wants_sync:
            await rig.coordinator.sync_account("tracker", reconcile=False)
        return Response(status_code=200)

    return Starlette(routes=[Route("/webhooks/toggl", toggl, methods=["POST"])])


async def test_signed_webhooks_change_the_page_at_zero_quota_cost(rig: Rig) -> None:
    await backfill(rig)
    app = receiver(rig)
    before = rig.requests()

    ping = await rig.sandbox.send_webhook(app, rig.sandbox.ping_event("c0ffee"), path="/webhooks/toggl")
    assert ping.json() == {"validation_code": "c0ffee"}

    entry = rig.track(BIRCHWOOD, "Replaced the failed NAS drive", at=time(13), user=KWAME)
    assert (await rig.sandbox.send_webhook(app, rig.sandbox.events[-1], path="/webhooks/toggl")).status_code == 200
    line = rig.descriptions("birchwood-legal")["Replaced the failed NAS drive"]
    assert line["hours_logged"] == "1.00"

    rig.sandbox.edit_entry(entry["id"], seconds=2700)
    await rig.sandbox.send_webhook(app, rig.sandbox.events[-1], path="/webhooks/toggl")
    assert rig.descriptions("birchwood-legal")["Replaced the failed NAS drive"]["hours_logged"] == "0.75"

    rig.sandbox.delete_entry(entry["id"])
    await rig.sandbox.send_webhook(app, rig.sandbox.events[-1], path="/webhooks/toggl")
    assert "Replaced the failed NAS drive" not in rig.descriptions("birchwood-legal")
    assert rig.requests() == before  # pushed changes cost no request of the hourly quota

    forged = await rig.sandbox.send_webhook(app, rig.sandbox.events[-2], path="/webhooks/toggl", secret="guess")
    assert forged.status_code == 401
    assert "Replaced the failed NAS drive" not in rig.descriptions("birchwood-legal")


async def test_a_webhook_for_a_project_not_yet_known_syncs_instead_of_guessing(rig: Rig) -> None:
    await backfill(rig)
    project = rig.sandbox.add_project("Office move", ACME)
    rig.sandbox.add_entry(user_id=KWAME, project_id=project, seconds=5400, description="Moved the rack",
                                  start=datetime.combine(rig.clock.now.date(), time(9), LONDON))
    before = rig.requests()
    assert (await rig.sandbox.send_webhook(receiver(rig), rig.sandbox.events[-1],
                                           path="/webhooks/toggl")).status_code == 200
    assert rig.requests() - before == 2  # the poll, and one project lookup for the new project
    assert rig.descriptions("acme-dental")["Moved the rack"]["hours_logged"] == "1.50"


async def test_a_webhook_missed_while_down_is_caught_by_the_next_poll(rig: Rig) -> None:
    await backfill(rig)
    rig.track(ACME, "Renewed the website certificate", at=time(11))
    rig.sandbox.events.clear()  # the receiver was down: nothing pushed
    rig.clock.advance(minutes=2)
    assert (await rig.coordinator.sync_account("tracker", reconcile=False)).ok
    await rig.coordinator.publish_client("acme-dental")
    assert "Renewed the website certificate" in rig.descriptions("acme-dental")

