"""The coordinator against the Autotask sandbox: zone, routing through tickets and projects, lookups, throttles."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from structlog.testing import capture_logs

from connectors.autotask.client import THREAD_LIMIT_WAIT, THRESHOLD_WAIT
from connectors.autotask.sandbox import REMOTE_AH, AutotaskSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.store import Store

from .conftest import Clock, Sleeps

URL = "http://autotask.sandbox"
ACME, COBALT, DELTA = 174, 176, 177  # Delta Veterinary has work in Autotask but no client file here


def write_config(folder: Path, sandbox: AutotaskSandbox, **account: Any) -> Path:
    """syncd.yaml with one Autotask account, and client files for Acme Dental and Cobalt Logistics."""
    (folder / "clients").mkdir(parents=True)
    settings = {"vendor": "autotask", "base_url": f"{URL}/atservicesrest", "username": sandbox.username,
                "secret": "${AT_SECRET}", "integration_code": "${AT_TRACKING_ID}",
                "threshold_check_every": "1h", **account}
    main = {"accounts": {"autotask": settings}, "defaults": {"refresh": "15m", "timezone": "UTC"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for key, name, company in (("acme", "Acme Dental", ACME), ("cobalt", "Cobalt Logistics", COBALT)):
        client = {"name": name, "sources": [{"account": "autotask", "company_id": company}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 400}}}}
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    return folder


@dataclass
class Rig:
    """The Autotask sandbox, a store, a sink and a coordinator wired together over ASGITransport."""

    clock: Clock
    sleeps: Sleeps
    sandbox: AutotaskSandbox
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

    def descriptions(self, client: str) -> set[str]:
        return {line["description"] for line in self.balance(client)["lines"]}

    async def sync(self, *, reconcile: bool = False) -> Any:
        return await self.coordinator.sync_account("autotask", reconcile=reconcile)


async def open_rig(tmp_path: Path, sandbox: AutotaskSandbox, clock: Clock, **account: Any) -> Rig:
    sleeps = Sleeps(clock)
    sandbox.seed(now=clock.now - timedelta(days=1), days=50, per_day=8)
    environ = {"AT_SECRET": sandbox.secret, "AT_TRACKING_ID": sandbox.integration_code}
    config = load_config(write_config(tmp_path / "config", sandbox, **account), environ=environ)
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    sink = DirectorySink(tmp_path / "public")
    factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=sleeps,
                      monotonic=clock.monotonic)
    coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)
    return Rig(clock, sleeps, sandbox, store, sink, config, coordinator, tmp_path / "public")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    opened = await open_rig(tmp_path, AutotaskSandbox(clock=clock), clock)
    yield opened
    await opened.coordinator.aclose()
    opened.store.close()


async def backfill(rig: Rig) -> None:
    """The first pass (backfill, lookups, reconcile, pages), then a minute on."""
    outcomes = await rig.coordinator.sync_all(reconcile=True)
    assert all(o.ok for o in outcomes.values()), outcomes
    rig.clock.advance(minutes=1)


def company_entries(sandbox: AutotaskSandbox, company: int) -> set[str]:
    """Vendor ids of the entries on a company's tickets and project tasks."""
    tickets, tasks = set(sandbox.tickets_of(company)), set(sandbox.tasks_of(company))
    return {str(e["id"]) for e in sandbox.tables["TimeEntries"].values()
            if e["ticketID"] in tickets or e["taskID"] in tasks}


# --- requests --------------------------------------------------------------------------


async def test_the_backfill_reads_each_kind_of_reference_once_and_an_idle_poll_is_one_request(rig: Rig) -> None:
    counters = rig.sandbox.counters
    assert (await rig.sync(reconcile=False)).ok
    # Tickets, tasks, projects, resources, roles, billing codes and the ticket-type picklist: one each.
    assert (counters["time_entries"], counters["lookups"], counters["threshold_reads"]) == (1, 7, 1)
    rig.clock.advance(minutes=1)
    assert (await rig.sync(reconcile=True)).ok
    # The reconcile re-reads the tickets, tasks and projects it meets (a ticket may have changed company).
    assert (counters["time_entries"], counters["lookups"]) == (3, 10)
    rig.clock.advance(minutes=1)
    before = rig.requests()
    assert (await rig.sync()).ok
    assert rig.requests() - before == 1
    for client in ("acme", "cobalt"):  # any number of clients: still one stream
        await rig.coordinator.refresh_client(client, max_age=0)
    assert rig.requests() - before == 3


@pytest.mark.parametrize("changed", [1, 500, 501, 1200])
async def test_n_changed_entries_on_known_tickets_cost_ceil_n_over_500_requests(rig: Rig, changed: int) -> None:
    await backfill(rig)
    # The lookback re-reads what the cursor's last minutes hold (measured by an idle poll);
    # the listing returns those and the N changes, and the cost is that listing's lower bound.
    assert (await rig.sync()).ok
    reread = rig.store.runs("autotask")[0].fetched
    tickets = rig.sandbox.tickets_of(ACME) + rig.sandbox.tickets_of(COBALT)
    for i in range(changed):
        rig.sandbox.add_entry(resource_id=29682886, hours=0.25, ticket_id=tickets[i % len(tickets)],
                              summary_notes=f"Change {i}", start=rig.clock.now - timedelta(hours=2))
    rig.clock.advance(minutes=1)
    before = rig.requests()
    assert (await rig.sync()).ok
    assert rig.requests() - before == math.ceil((changed + reread) / 500)


async def test_work_on_a_new_ticket_costs_one_batched_ticket_lookup(rig: Rig) -> None:
    await backfill(rig)
    new = [rig.sandbox.add_ticket(COBALT, f"Scanner {n} offline") for n in range(3)]
    for ticket in new:
        rig.sandbox.add_entry(resource_id=29682886, hours=0.5, ticket_id=ticket, summary_notes="Re-paired the scanner",
                              start=rig.clock.now - timedelta(hours=1))
    rig.clock.advance(minutes=1)
    before, lookups = rig.requests(), rig.sandbox.counters["lookups"]
    assert (await rig.sync()).ok
    assert (rig.requests() - before, rig.sandbox.counters["lookups"] - lookups) == (2, 1)
    assert "Re-paired the scanner" in rig.descriptions("cobalt")


async def test_without_base_url_the_zone_is_discovered_once(tmp_path: Path) -> None:
    clock = Clock()
    sandbox = AutotaskSandbox(clock=clock)
    rig = await open_rig(tmp_path, sandbox, clock, base_url=None, zone_url=f"{URL}/atservicesrest/")
    try:
        await backfill(rig)
        assert (await rig.sync()).ok
        assert sandbox.counters["zone"] == 1
        assert rig.balance("acme")["lines"]
    finally:
        await rig.coordinator.aclose()
        rig.store.close()


async def test_a_zone_taking_next_pages_by_post_only_costs_one_extra_request_once(tmp_path: Path) -> None:
    clock = Clock()
    sandbox = AutotaskSandbox(clock=clock, next_page_by_get=False)
    rig = await open_rig(tmp_path, sandbox, clock)
    try:
        for _ in range(600):
            sandbox.add_entry(resource_id=29682885, hours=0.25, ticket_id=sandbox.tickets_of(ACME)[0],
                              summary_notes="Bulk", start=clock.now - timedelta(days=2))
        assert len(sandbox.tables["TimeEntries"]) > 500  # two pages
        assert (await rig.sync(reconcile=False)).ok
        # The query, a refused GET of its next page, that page by POST.
        assert (sandbox.counters["time_entries"], sandbox.counters["405"]) == (2, 1)
        routed = company_entries(sandbox, ACME) | company_entries(sandbox, COBALT)
        assert rig.store.count_entries("autotask") == len(routed)
        assert (await rig.sync(reconcile=True)).ok
        # The poll re-reads the 600 (inside the lookback) and the reconcile lists the window:
        # two pages each, the second by POST straight away.
        assert (sandbox.counters["time_entries"], sandbox.counters["405"]) == (6, 1)
    finally:
        await rig.coordinator.aclose()
        rig.store.close()


# --- routing and mapping ---------------------------------------------------------------


async def test_entries_reach_clients_through_their_tickets_and_their_tasks_projects(rig: Rig) -> None:
    await backfill(rig)
    since = rig.clock.now.date() - timedelta(days=400)
    for key, company in (("acme", ACME), ("cobalt", COBALT)):
        held = {e.vendor_id for e in rig.store.entries_for_client(key, since)}
        assert held == company_entries(rig.sandbox, company)
        assert any(e.task for e in rig.store.entries_for_client(key, since))  # project task work too
    routed = company_entries(rig.sandbox, ACME) | company_entries(rig.sandbox, COBALT)
    # Delta's tickets, Birchwood's and the MSP's own regular time belong to no configured client.
    assert rig.store.count_entries("autotask") == len(routed)
    assert company_entries(rig.sandbox, DELTA) and not company_entries(rig.sandbox, DELTA) & routed


async def test_after_hours_work_types_travel_and_names_are_mapped(rig: Rig) -> None:
    await backfill(rig)
    entries = rig.store.entries_for_client("acme", rig.clock.now.date() - timedelta(days=400))
    by_id = {e.vendor_id: e for e in entries}
    wire = rig.sandbox.tables["TimeEntries"]
    evening = [e for e in entries if wire[int(e.vendor_id)]["billingCodeID"] == REMOTE_AH]
    assert evening and all(e.tags == ("after-hours",) and e.location == "remote" for e in evening)
    assert any(e.travel and e.work_type == "Travel" for e in entries)
    assert all(e.worker_name and e.role and e.ticket_type for e in entries if e.ticket_id)
    sample = next(iter(by_id.values()))
    assert sample.updated_at.tzinfo is not None


# --- edits, moves, deletions -----------------------------------------------------------


async def test_edits_moves_and_deletions_upstream_show_up_after_the_reconcile(rig: Rig) -> None:
    sandbox, today = rig.sandbox, rig.clock.now.date()
    start = datetime.combine(today, time(9), UTC)
    acme_ticket, cobalt_ticket = sandbox.tickets_of(ACME)[0], sandbox.tickets_of(COBALT)[0]
    edited = sandbox.add_entry(resource_id=29682885, hours=1, ticket_id=acme_ticket,
                               summary_notes="Replaced the edge router", start=start)
    moved = sandbox.add_entry(resource_id=29682885, hours=2, ticket_id=acme_ticket,
                              summary_notes="Rebuilt the print server", start=start + timedelta(hours=1))
    gone = sandbox.add_entry(resource_id=29682885, hours=3, ticket_id=acme_ticket,
                             summary_notes="Audited the door access list", start=start + timedelta(hours=3))
    await backfill(rig)
    assert {"Replaced the edge router", "Rebuilt the print server", "Audited the door access list"} <= \
        rig.descriptions("acme")

    sandbox.edit_entry(edited["id"], hoursWorked=1.5)
    sandbox.edit_entry(moved["id"], ticketID=cobalt_ticket)
    sandbox.delete_entry(gone["id"])
    rig.clock.advance(minutes=5)
    await rig.coordinator.sync_all(reconcile=True)
    acme = {line["description"]: line for line in rig.balance("acme")["lines"]}
    assert acme["Replaced the edge router"]["hours_charged"] == "1.50"
    assert "Rebuilt the print server" not in acme and "Audited the door access list" not in acme
    assert "Rebuilt the print server" in rig.descriptions("cobalt")


async def test_a_ticket_moved_to_another_company_takes_its_entries_along_at_the_reconcile(rig: Rig) -> None:
    ticket = rig.sandbox.add_ticket(DELTA, "Router replacement")
    rig.sandbox.add_entry(resource_id=29682887, hours=2, ticket_id=ticket, summary_notes="Swapped the router",
                          start=rig.clock.now - timedelta(hours=3))
    await backfill(rig)
    assert "Swapped the router" not in rig.descriptions("acme")
    rig.sandbox.edit_ticket(ticket, companyID=ACME)  # the entry itself is not modified
    rig.clock.advance(minutes=1)
    await rig.coordinator.sync_all(reconcile=False)
    assert "Swapped the router" not in rig.descriptions("acme")
    await rig.coordinator.sync_all(reconcile=True)
    assert "Swapped the router" in rig.descriptions("acme")


async def test_an_empty_answer_by_mistake_does_not_wipe_the_ledger(rig: Rig) -> None:
    await backfill(rig)
    held = rig.store.count_entries("autotask")
    rig.sandbox.answer_empty(True)
    with capture_logs() as logs:
        await rig.sync(reconcile=True)
    assert rig.store.count_entries("autotask") == held
    assert [e["event"] for e in logs].count("reconcile_refused") == 1


# --- throttles, thresholds, credentials -------------------------------------------------


async def test_the_thread_limit_answer_is_waited_out_and_the_sync_succeeds(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1)
    before = rig.requests()
    assert (await rig.sync()).ok
    assert THREAD_LIMIT_WAIT in rig.sleeps.calls and rig.requests() - before == 2


async def test_the_hourly_threshold_answer_pushes_the_account_back_for_minutes(rig: Rig) -> None:
    await backfill(rig)
    rig.sandbox.threshold = rig.sandbox.counters["requests"]  # the database's allowance is used up
    outcome = await rig.sync()
    assert outcome.error is not None and outcome.error.kind == "rate_limited"
    before = rig.requests()
    rig.clock.advance(seconds=THRESHOLD_WAIT - 60)
    assert (await rig.sync()).skipped and rig.requests() == before
    rig.sandbox.threshold = 10_000
    rig.clock.advance(seconds=61)
    assert (await rig.sync()).ok


async def test_polling_holds_back_while_other_integrations_near_the_databases_allowance(tmp_path: Path) -> None:
    clock = Clock()
    sandbox = AutotaskSandbox(clock=clock)
    rig = await open_rig(tmp_path, sandbox, clock)
    try:
        sandbox.use_requests(8_500)  # an RMM sync has eaten most of the hour
        outcome = await rig.sync()
        assert outcome.error is not None and outcome.error.kind == "rate_limited"
        assert sandbox.counters["time_entries"] == 0
        clock.advance(seconds=THRESHOLD_WAIT + 1)
        assert not (await rig.sync()).ok and sandbox.counters["threshold_reads"] == 2  # looked again: still high
        clock.advance(hours=1)
        assert (await rig.sync()).ok and sandbox.counters["time_entries"] >= 1
    finally:
        await rig.coordinator.aclose()
        rig.store.close()


async def test_refused_credentials_stop_polling_and_mark_pages_stale(rig: Rig) -> None:
    await backfill(rig)
    good = rig.balance("acme")
    rig.sandbox.fail_auth(True)
    with capture_logs() as logs:
        for _ in range(3):
            rig.clock.advance(minutes=1)
            await rig.coordinator.refresh_client("acme", max_age=0)
    assert [e["event"] for e in logs].count("source_failed") == 1
    assert rig.sandbox.counters["401"] == 1
    page = rig.balance("acme")
    assert page["stale"] is True and page["lines"] == good["lines"]


async def test_no_technician_name_or_internal_note_reaches_any_published_byte(rig: Rig) -> None:
    sandbox, start = rig.sandbox, rig.clock.now - timedelta(hours=4)
    names = [f"{r['firstName']} {r['lastName']}" for r in sandbox.tables["Resources"].values() if r["userType"] == 1]
    for i, name in enumerate(names):
        first, last = name.split()
        sandbox.add_entry(resource_id=29682885 + i, hours=0.5, ticket_id=sandbox.tickets_of(ACME)[i],
                          start=start,
                          summary_notes=f"Called the office with {name}; {first}'s fix held, {last} checked",
                          internal_notes=f"secret-marker-{i}: the admin password is on a sticky note")
    internal = [e["internalNotes"] for e in sandbox.tables["TimeEntries"].values() if e["internalNotes"]]
    await backfill(rig)
    await rig.coordinator.sync_all(reconcile=False)
    published = {str(p.relative_to(rig.publish_dir)): p.read_bytes().decode("utf-8-sig").lower()
                 for p in rig.publish_dir.rglob("*") if p.is_file()}
    assert len(published) == 3 * len(rig.config.clients)
    forbidden = {part.lower() for name in names for part in (name, *name.split())} | {
        note.lower() for note in internal} | {"sticky note"}
    for path, text in published.items():
        leaked = sorted(word for word in forbidden if word in text)
        assert not leaked, f"{path} holds {leaked}"
