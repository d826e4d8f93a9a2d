"""The coordinator against the ConnectWise sandbox: codebase discovery, request counts, filtering, edits, faults."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from structlog.testing import capture_logs

from connectors.base import ClientRoute, Connector
from connectors.connectwise.sandbox import TRAVEL, ConnectWiseSandbox
from connectors.http import Funnel, RequestBudget
from connectors.registry import connector_class
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import AUTH_RETRY, Coordinator
from syncd.store import Store

from .conftest import Clock, Sleeps

URL = "http://cw.sandbox"
CHICAGO = ZoneInfo("America/Chicago")
ACME, BIRCHWOOD = 250, 251


def write_config(folder: Path) -> Path:
    """syncd.yaml with one ConnectWise account (secrets by env), two client files and a travel rule."""
    (folder / "clients").mkdir(parents=True)
    (folder / "rules").mkdir()
    account = {"vendor": "connectwise", "base_url": URL, "company": "northbridge",
               "public_key": "${CW_PUBLIC}", "private_key": "${CW_PRIVATE}", "client_id": "${CW_CLIENT_ID}",
               "timezone": "America/Chicago", "reconcile_every": "2m"}
    main = {"accounts": {"cw": account},
            "defaults": {"refresh": "15m", "timezone": "America/Chicago", "rules": ["standard"]}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    rules = {"rules": [{"name": "no travel", "when": {"travel": True}, "drop": True},
                       {"name": "internal only", "when": {"billable": False}, "drop": True}]}
    (folder / "rules" / "standard.yaml").write_text(yaml.safe_dump(rules))
    for key, name, company in (("acme-dental", "Acme Dental", ACME), ("birchwood-legal", "Birchwood Legal", BIRCHWOOD)):
        client = {"name": name, "sources": [{"account": "cw", "company_id": company}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 400}}}}
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    return folder


@dataclass
class Rig:
    """A ConnectWise sandbox, a store, a sink and a coordinator wired together over ASGITransport."""

    clock: Clock
    sleeps: Sleeps
    sandbox: ConnectWiseSandbox
    store: Store
    sink: DirectorySink
    config: Config
    coordinator: Coordinator
    publish_dir: Path

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def balance(self, client: str) -> dict[str, Any]:
        token = self.store.token_for(client, now=self.clock())
        return json.loads(self.sink.read(token, "balance.json") or b"{}")

    def descriptions(self, client: str) -> dict[str, dict[str, Any]]:
        return {line["description"]: line for line in self.balance(client)["lines"]}

    def published_text(self) -> dict[str, str]:
        return {str(p.relative_to(self.publish_dir)): p.read_bytes().decode("utf-8-sig")
                for p in self.publish_dir.rglob("*") if p.is_file()}

    def today(self) -> date:
        return self.clock.now.astimezone(CHICAGO).date()

    def add(self, company: int, notes: str, *, at: time = time(10), day: date | None = None, hours: float = 1.0,
            **changes: Any) -> dict[str, Any]:
        start = datetime.combine(day or self.today(), at, CHICAGO)
        return self.sandbox.add_entry(company_id=company, start=start, hours=hours, notes=notes, **changes)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    sleeps = Sleeps(clock)
    sandbox = ConnectWiseSandbox(clock=clock, tz="America/Chicago", company="northbridge",
                                 public_key="cwPublic", private_key="cwPrivate", client_id="cw-client-guid")
    sandbox.seed(now=clock.now - timedelta(days=1), days=45, per_day=10)
    environ = {"CW_PUBLIC": "cwPublic", "CW_PRIVATE": "cwPrivate", "CW_CLIENT_ID": "cw-client-guid"}
    config = load_config(write_config(tmp_path / "config"), environ=environ)
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    sink = DirectorySink(tmp_path / "public")

    def factory(name: str, settings: Any, routes: list[ClientRoute], *, default_timezone: str = "UTC") -> Connector:
        # open_connector's wiring, with the request budget on the test's clock so a
        # Retry-After pause is waited out by the recorded sleep, not in real time.
        cls = connector_class(settings.vendor)
        budget = cls.budget_for(settings)
        http = Funnel(vendor=cls.display_name, base_url=settings.base_url or cls.default_base_url,
                      budget=RequestBudget(budget.requests, budget.per_seconds,
                                           clock=lambda: clock.now.timestamp(), sleep=sleeps),
                      max_concurrency=budget.max_concurrency, transport=httpx.ASGITransport(app=sandbox.app),
                      sleep=sleeps, **cls.http_options(settings))
        return cls(name, settings, routes, http, default_timezone=default_timezone)

    coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)
    yield Rig(clock, sleeps, sandbox, store, sink, config, coordinator, tmp_path / "public")
    await coordinator.aclose()
    store.close()


async def backfill(rig: Rig) -> None:
    """The first pass, then a minute on: inside the account's 2-minute reconcile interval."""
    outcome = await rig.coordinator.sync_account("cw", reconcile=True)
    assert outcome.ok, outcome.error
    rig.clock.advance(minutes=1)


def listings(rig: Rig) -> list[dict[str, list[str]]]:
    """The query of every time-entry listing the sandbox answered lately."""
    return [parse_qs(urlsplit(target).query) for target in rig.sandbox.recent if "/time/entries" in target]


async def test_the_codebase_is_discovered_once_and_an_idle_poll_costs_one_request(rig: Rig) -> None:
    await backfill(rig)
    assert rig.sandbox.counters["companyinfo"] == 1
    before = rig.requests()
    for _ in range(3):
        assert (await rig.coordinator.sync_account("cw", reconcile=False)).ok
        rig.clock.advance(seconds=20)
    assert rig.requests() - before == 3
    assert rig.sandbox.counters["companyinfo"] == 1


@pytest.mark.parametrize("changed", [1, 999, 1000, 1001, 2500])
async def test_a_poll_with_n_changed_entries_costs_ceil_n_over_1000_requests(rig: Rig, changed: int) -> None:
    await backfill(rig)
    # The lookback re-reads what the cursor's last minutes hold (measured by an idle poll);
    # the listing returns those and the N changes, and the cost is that listing's lower bound.
    assert (await rig.coordinator.sync_account("cw", reconcile=False)).ok
    reread = rig.store.runs("cw")[0].fetched
    held = rig.store.count_entries("cw")
    ticket = rig.sandbox.new_ticket(ACME, "Bulk import check")
    for i in range(changed):
        rig.add((ACME, BIRCHWOOD)[i % 2], f"Change {i}", ticket_id=ticket if i % 2 == 0 else None)
    rig.clock.advance(minutes=1)
    before = rig.requests()
    assert (await rig.coordinator.sync_account("cw", reconcile=False)).ok
    assert rig.requests() - before == math.ceil((changed + reread) / 1000)
    assert rig.store.count_entries("cw") == held + changed


async def test_one_filtered_query_serves_every_client_and_other_companies_never_leave_cw(rig: Rig) -> None:
    await backfill(rig)
    conditions = {c for q in listings(rig) for c in q.get("conditions", [])}
    assert conditions and all(c.endswith("company/id in (250,251))") for c in conditions)
    wanted = {eid for eid, e in rig.sandbox.entries.items() if e["company"]["id"] in (ACME, BIRCHWOOD)}
    others = len(rig.sandbox.entries) - len(wanted)
    assert others > 0  # the seed has other clients' and the MSP's own admin time
    assert rig.store.count_entries("cw") == len(wanted)
    before = rig.requests()
    await rig.coordinator.refresh_clients(sorted(rig.config.clients), max_age=0)
    assert rig.requests() - before == 1


async def test_a_hosted_upgrade_that_moves_the_codebase_costs_one_rediscovery(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.move_codebase("v2026_1/")
    rig.add(ACME, "Replaced the reception switch")
    rig.clock.advance(minutes=1)
    before = rig.requests()
    assert (await rig.coordinator.sync_account("cw", reconcile=False)).ok
    assert rig.requests() - before == 3  # the 404, /login/companyinfo, the listing at the new path
    assert "Replaced the reception switch" in rig.descriptions("acme-dental")
    before = rig.requests()
    assert (await rig.coordinator.sync_account("cw", reconcile=False)).ok
    assert rig.requests() - before == 1


async def test_an_evening_entry_keeps_its_local_work_date_and_survives_the_reconcile(rig: Rig) -> None:
    yesterday = rig.today() - timedelta(days=1)
    late = rig.add(ACME, "After-hours: restarted the stuck mail queue", at=time(21, 30), day=yesterday,
                   work_type_id=5)
    assert late["timeStart"].startswith((yesterday + timedelta(days=1)).isoformat())  # already tomorrow in UTC
    await backfill(rig)
    rig.clock.advance(minutes=5)
    assert (await rig.coordinator.sync_account("cw", reconcile=True)).ok
    line = rig.descriptions("acme-dental")["After-hours: restarted the stuck mail queue"]
    assert line["date"] == yesterday.isoformat()
    assert str(late["id"]) in rig.store.live_ids("cw", yesterday, yesterday)


async def test_travel_logged_under_the_travel_work_type_never_reaches_a_page(rig: Rig) -> None:
    rig.add(ACME, "Drove to the Acme office", work_type_id=TRAVEL, hours=0.75, at=time(8))
    rig.add(ACME, "Replaced the failed switch in the comms cupboard", work_type_id=2, at=time(9))
    await backfill(rig)
    lines = rig.descriptions("acme-dental")
    assert "Replaced the failed switch in the comms cupboard" in lines
    assert "Drove to the Acme office" not in lines
    assert all("Travel" not in text for text in lines)


async def test_edits_moves_between_companies_and_deletions_upstream_reach_the_pages(rig: Rig) -> None:
    edited = rig.add(ACME, "Replaced the edge router", at=time(8))
    moved = rig.add(ACME, "Rebuilt the print server", hours=2.0, at=time(9, 30))
    gone = rig.add(ACME, "Audited the door access list", hours=3.0, at=time(12))
    await backfill(rig)
    used_before = Decimal(rig.balance("acme-dental")["totals"]["used"])
    rig.sandbox.edit_entry(edited["id"], hours=1.5)
    rig.sandbox.edit_entry(moved["id"], company_id=BIRCHWOOD)
    rig.sandbox.delete_entry(gone["id"])
    rig.clock.advance(minutes=5)
    await rig.coordinator.sync_all(reconcile=True)
    acme = rig.descriptions("acme-dental")
    assert acme["Replaced the edge router"]["hours_charged"] == "1.50"
    assert "Rebuilt the print server" not in acme and "Audited the door access list" not in acme
    assert Decimal(rig.balance("acme-dental")["totals"]["used"]) == used_before + Decimal("0.50") - 2 - 3
    assert "Rebuilt the print server" in rig.descriptions("birchwood-legal")


async def test_a_cloudflare_429_with_retry_after_is_waited_out_and_the_sync_succeeds(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1, retry_after=3)
    before = rig.requests()
    assert (await rig.coordinator.sync_account("cw", reconcile=False)).ok
    assert 3.0 in rig.sleeps.calls
    assert rig.requests() - before == 2 and rig.sandbox.counters["429"] == 1


async def test_refused_credentials_stop_polling_keep_the_page_and_mark_it_stale(rig: Rig) -> None:
    await backfill(rig)
    good = rig.balance("acme-dental")
    rig.sandbox.fail_auth(True)
    with capture_logs() as logs:
        for _ in range(3):
            rig.clock.advance(minutes=1)
            await rig.coordinator.refresh_client("acme-dental", max_age=0)
    failures = [e for e in logs if e["event"] == "source_failed"]
    assert len(failures) == 1 and failures[0]["error_kind"] == "auth"
    assert rig.sandbox.counters["401"] == 1
    page = rig.balance("acme-dental")
    assert page["stale"] is True and page["lines"] == good["lines"]
    rig.sandbox.fail_auth(False)
    rig.clock.advance(seconds=AUTH_RETRY.total_seconds() + 1)
    await rig.coordinator.refresh_client("acme-dental", max_age=0)
    assert rig.balance("acme-dental")["stale"] is False
    assert rig.sandbox.counters["companyinfo"] == 1  # the cached codebase outlives the outage


async def test_no_technician_name_or_internal_note_reaches_any_published_byte(rig: Rig) -> None:
    names = [m["name"] for m in rig.sandbox.members.values()]
    markers = []
    for i, name in enumerate(names):
        first, last = name.split()
        rig.add((ACME, BIRCHWOOD)[i % 2], f"Called the office with {name}; {first}'s fix held, {last} checked it",
                at=time(9 + i), member_id=176 + i, internal_notes=f"cw-secret-{i}: password on a sticky note")
        markers.append(f"cw-secret-{i}")
    assert any("internalNotes" in e for e in rig.sandbox.entries.values())
    await backfill(rig)
    published = rig.published_text()
    assert len(published) == 3 * len(rig.config.clients)
    forbidden = {part.lower() for name in names for part in (name, *name.split())} | set(markers) | {"sticky note"}
    for path, text in published.items():
        leaked = sorted(word for word in forbidden if word in text.lower())
        assert not leaked, f"{path} holds {leaked}"
    assert any("Called the office with" in text for text in published.values())
