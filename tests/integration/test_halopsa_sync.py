"""The coordinator against the HaloPSA sandbox: request costs, token refresh, travel, moves, deletions, faults."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from structlog.testing import capture_logs

from connectors.halopsa.client import REPORT_PAGE_SIZE, THROTTLE_WAIT
from connectors.halopsa.sandbox import HaloSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import AUTH_RETRY, Coordinator
from syncd.store import Store

from .conftest import Clock, Sleeps

ACCOUNT = "halo"
URL = "http://halo.sandbox"
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=UTC)
CLIENTS = {"acme-dental": 12, "birchwood-legal": 13}


def write_config(folder: Path, sandbox: HaloSandbox, route: str) -> Path:
    """syncd.yaml with the Halo account and one client file per Halo client (no rules)."""
    (folder / "clients").mkdir(parents=True)
    account = {"vendor": "halopsa", "base_url": URL, "tenant": sandbox.tenant, "client_id": sandbox.client_id,
               "client_secret": "${HALO_SECRET}", "route": route, "reconcile_every": "1h",
               "charge_rates": {1: "Remote Support", 2: "On-site Support"}}
    main = {"accounts": {ACCOUNT: account}, "defaults": {"refresh": "15m", "timezone": "UTC"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for key, halo_client in CLIENTS.items():
        client = {"name": key.replace("-", " ").title(), "sources": [{"account": ACCOUNT, "client_id": halo_client}],
                  "retainer": {"cycle": {"monthly": "2026-11-01"}, "pools": {"support": {"cap_hours": 400}}}}
        (folder / "clients" / f"{key}.yaml").write_text(yaml.safe_dump(client))
    return folder


@dataclass
class HaloRig:
    """The Halo sandbox, a store, a sink and a coordinator wired together over ASGITransport."""

    clock: Clock
    sleeps: Sleeps
    sandbox: HaloSandbox
    store: Store
    sink: DirectorySink
    config: Config
    coordinator: Coordinator
    publish_dir: Path

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    async def sync(self, reconcile: bool = False) -> None:
        outcome = await self.coordinator.sync_account(ACCOUNT, reconcile=reconcile)
        assert outcome.ok, outcome.error

    def entries(self, client: str) -> dict[str, Any]:
        return {e.vendor_id: e for e in self.store.entries_for_client(client, T0.date() - timedelta(days=60))}

    def balance(self, client: str) -> dict[str, Any]:
        token = self.store.token_for(client, now=self.clock())
        return json.loads(self.sink.read(token, "balance.json") or b"{}")

    def published_text(self) -> str:
        return "\n".join(p.read_bytes().decode("utf-8-sig") for p in self.publish_dir.rglob("*") if p.is_file())

    def work(self, client_id: int, hours: float, note: str, *, start: time = time(10, 0),
             **kwargs: Any) -> tuple[int, int]:
        """A new ticket for ``client_id`` with one timed action today; returns (ticket, action)."""
        ticket_id = self.sandbox.add_ticket(client_id=client_id, summary=kwargs.pop("summary", "Support request"))
        begun = datetime.combine(self.clock.now.date(), start, UTC)
        action = self.sandbox.add_action(ticket_id, agent_id=kwargs.pop("agent_id", 21), note=note, hours=hours,
                                         start=begun, **kwargs)
        return ticket_id, action["id"]


async def make_rig(tmp_path: Path, route: str) -> HaloRig:
    clock = Clock(T0)
    sleeps = Sleeps(clock)
    sandbox = HaloSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1), days=17, per_day=5)
    config = load_config(write_config(tmp_path / "config", sandbox, route),
                         environ={"HALO_SECRET": sandbox.client_secret})
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    sink = DirectorySink(tmp_path / "public")
    factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=sleeps,
                      monotonic=clock.monotonic)
    coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)
    return HaloRig(clock, sleeps, sandbox, store, sink, config, coordinator, tmp_path / "public")


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[HaloRig]:
    made = await make_rig(tmp_path, "report")
    yield made
    await made.coordinator.aclose()
    made.store.close()


async def backfill(rig: HaloRig) -> None:
    """The first pass (token, backfill, reconcile), then a minute on."""
    await rig.sync(reconcile=True)
    await rig.coordinator.sync_all(reconcile=False)  # publishes every client
    rig.clock.advance(minutes=1)


async def test_the_first_pass_fetches_one_token_and_stores_the_seeded_work(rig: HaloRig) -> None:
    await backfill(rig)
    assert rig.sandbox.counters["token"] == 1
    assert rig.store.count_entries(ACCOUNT) > 50
    assert rig.balance("acme-dental")["lines"]


async def test_an_idle_poll_costs_exactly_one_report_request(rig: HaloRig) -> None:
    await backfill(rig)
    before = rig.requests()
    await rig.sync()
    assert rig.requests() - before == 1


@pytest.mark.parametrize("changed", [1, 999, 1001, 2500])
async def test_n_changed_actions_cost_ceil_n_over_1000_report_requests(rig: HaloRig, changed: int) -> None:
    await backfill(rig)
    # The lookback re-reads what the cursor's last minutes hold (measured by an idle poll);
    # the listing returns those and the N changes, and the cost is that listing's lower bound.
    await rig.sync()
    reread = rig.store.runs(ACCOUNT)[0].fetched // 2  # each action is read as its work and its travel
    for i in range(changed):
        rig.work(12 + i % 2, 0.25, f"Change {i}")
    rig.clock.advance(minutes=1)
    held = rig.store.count_entries(ACCOUNT)
    before = rig.requests()
    await rig.sync()
    assert rig.requests() - before == math.ceil((changed + reread) / REPORT_PAGE_SIZE)
    assert rig.store.count_entries(ACCOUNT) == held + changed


async def test_request_count_does_not_grow_with_the_number_of_clients(rig: HaloRig) -> None:
    await backfill(rig)
    before = rig.requests()
    for client in CLIENTS:
        await rig.coordinator.refresh_client(client, max_age=30)
    assert rig.requests() - before == 1


async def test_an_expired_token_is_refreshed_once_and_the_sync_carries_on(rig: HaloRig) -> None:
    await backfill(rig)
    rig.work(12, 1.0, "Replaced the reception switch")
    rig.sandbox.expire_tokens()
    tokens, refused, before = rig.sandbox.counters["token"], rig.sandbox.counters["401"], rig.requests()
    await rig.sync()
    assert rig.sandbox.counters["token"] == tokens + 1
    assert rig.sandbox.counters["401"] == refused + 1
    assert rig.requests() - before == 3  # the refused report, the token, the report again
    assert "Replaced the reception switch" in {e.notes for e in rig.entries("acme-dental").values()}
    before = rig.requests()
    await rig.sync()
    assert rig.requests() - before == 1  # the new token is cached


async def test_refused_credentials_stop_polling_until_a_human_fixes_them(rig: HaloRig) -> None:
    await backfill(rig)
    rig.sandbox.fail_auth(True)
    with capture_logs() as logs:
        spent = []
        for _ in range(3):
            rig.clock.advance(minutes=1)
            before = rig.requests()
            await rig.coordinator.refresh_client("acme-dental", max_age=0)
            spent.append(rig.requests() - before)
    failures = [e for e in logs if e["event"] == "source_failed"]
    assert len(failures) == 1 and failures[0]["error_kind"] == "auth"
    assert spent == [2, 0, 0]  # the refused report and the refused token request, then nothing
    assert rig.balance("acme-dental")["stale"] is True
    rig.sandbox.fail_auth(False)
    rig.clock.advance(seconds=AUTH_RETRY.total_seconds() + 1)
    await rig.coordinator.refresh_client("acme-dental", max_age=0)
    assert rig.balance("acme-dental")["stale"] is False


async def test_travel_is_its_own_entry_and_after_hours_work_is_tagged(rig: HaloRig) -> None:
    await backfill(rig)
    visit = rig.work(12, 2.0, "Installed the new firewall on site", travel_hours=0.75, chargerate=2)
    callout = rig.work(13, 1.5, "Restored email after the outage", start=time(21, 0), ooh_hours=1.5)
    rig.clock.advance(minutes=1)
    await rig.sync()
    acme, birch = rig.entries("acme-dental"), rig.entries("birchwood-legal")
    work, travel = acme[f"{visit[0]}:{visit[1]}"], acme[f"{visit[0]}:{visit[1]}:travel"]
    assert (work.duration_seconds, work.travel, work.work_type, work.location) == (7200, False, "On-site Support",
                                                                                   "onsite")
    assert (travel.duration_seconds, travel.travel, travel.work_type) == (2700, True, "Travel")
    assert birch[f"{callout[0]}:{callout[1]}"].tags == ("after-hours",)
    assert f"{callout[0]}:{callout[1]}:travel" not in birch  # no travel: its tombstone stores nothing


async def test_travel_removed_upstream_is_retired_at_the_next_poll_without_a_reconcile(rig: HaloRig) -> None:
    await backfill(rig)
    visit = rig.work(12, 1.0, "Replaced the UPS battery", travel_hours=0.5)
    rig.clock.advance(minutes=1)
    await rig.sync()
    assert f"{visit[0]}:{visit[1]}:travel" in rig.entries("acme-dental")
    rig.sandbox.edit_action(*visit, traveltime=0)
    rig.clock.advance(minutes=1)
    await rig.sync()
    assert f"{visit[0]}:{visit[1]}:travel" not in rig.entries("acme-dental")
    assert f"{visit[0]}:{visit[1]}" in rig.entries("acme-dental")


async def test_a_ticket_moved_to_another_client_moves_at_the_next_poll_without_a_reconcile(rig: HaloRig) -> None:
    await backfill(rig)
    moved = rig.work(12, 2.0, "Rebuilt the print server")
    rig.clock.advance(minutes=1)
    await rig.sync()
    assert f"{moved[0]}:{moved[1]}" in rig.entries("acme-dental")
    rig.sandbox.move_ticket(moved[0], 13)
    rig.clock.advance(minutes=1)
    await rig.sync()
    assert f"{moved[0]}:{moved[1]}" not in rig.entries("acme-dental")
    assert f"{moved[0]}:{moved[1]}" in rig.entries("birchwood-legal")


async def test_deleted_actions_are_seen_at_the_reconcile_and_edits_at_the_poll(rig: HaloRig) -> None:
    kept = rig.work(12, 1.0, "Replaced the edge router")
    gone = rig.work(12, 3.0, "Audited the door access list")
    await backfill(rig)
    used = Decimal(rig.balance("acme-dental")["totals"]["used"])
    rig.sandbox.edit_action(*kept, timetaken=1.5)
    rig.sandbox.delete_action(*gone)
    rig.clock.advance(minutes=1)
    await rig.sync()
    assert f"{gone[0]}:{gone[1]}" in rig.entries("acme-dental")  # Halo keeps no tombstone to poll
    assert rig.entries("acme-dental")[f"{kept[0]}:{kept[1]}"].duration_seconds == 5400
    await rig.sync(reconcile=True)
    assert f"{gone[0]}:{gone[1]}" not in rig.entries("acme-dental")
    await rig.coordinator.publish_client("acme-dental")
    assert Decimal(rig.balance("acme-dental")["totals"]["used"]) == used + Decimal("0.50") - 3


async def test_a_429_without_retry_after_is_waited_out_for_30_seconds(rig: HaloRig) -> None:
    await backfill(rig)
    rig.sandbox.throttle_next(1)
    before = rig.requests()
    await rig.sync()
    assert THROTTLE_WAIT in rig.sleeps.calls
    assert rig.requests() - before == 2


async def test_hidden_actions_html_notes_and_technician_names_never_reach_a_published_byte(rig: HaloRig) -> None:
    ticket_id, _ = rig.work(12, 1.0, "<p>Restored the shared mailbox with <b>Mateus</b> watching</p>",
                            summary="Shared mailbox missing")
    rig.sandbox.add_action(ticket_id, agent_id=21, note="Qzx-internal-4471: admin password is Winter2026",
                           hours=0.5, hidden=True, start=datetime.combine(T0.date(), time(12, 0), UTC))
    rig.sandbox.add_action(ticket_id, agent_id=21, note="Private: the office manager is rude", hidden=True)
    await backfill(rig)
    stored = rig.entries("acme-dental")
    assert stored[f"{ticket_id}:2"].internal_notes == "Qzx-internal-4471: admin password is Winter2026"
    assert stored[f"{ticket_id}:2"].notes is None
    text = rig.published_text()
    assert "Restored the shared mailbox with" in text and "<b>" not in text
    forbidden = {"qzx-internal-4471", "winter2026", "rude"}
    forbidden |= {part.lower() for name in rig.sandbox.agents.values() for part in (name, *name.split())}
    assert not sorted(word for word in forbidden if word in text.lower())


async def test_the_empty_answer_guard_keeps_the_ledger(rig: HaloRig) -> None:
    await backfill(rig)
    held = rig.store.count_entries(ACCOUNT)
    rig.sandbox.answer_empty(True)
    with capture_logs() as logs:
        await rig.coordinator.sync_account(ACCOUNT, reconcile=True)
    assert rig.store.count_entries(ACCOUNT) == held
    assert [e["event"] for e in logs].count("reconcile_refused") == 1


async def test_the_ticket_route_syncs_the_same_entries_at_its_own_cost(tmp_path: Path) -> None:
    by_route: dict[str, dict[str, Any]] = {}
    for route in ("report", "tickets"):
        rig = await make_rig(tmp_path / route, route)
        try:
            await backfill(rig)
            moved = rig.work(12, 1.0, "Moved ticket work")
            gone = rig.work(12, 1.0, "Deleted work")
            rig.work(13, 0.5, "Travel only", travel_hours=1.0)
            rig.clock.advance(minutes=1)
            await rig.sync()
            rig.sandbox.move_ticket(moved[0], 13)
            rig.sandbox.delete_action(*gone)
            rig.clock.advance(minutes=1)
            before = rig.requests()
            await rig.sync(reconcile=True)
            spent = rig.requests() - before
            by_route[route] = {"spent": spent, "acme": set(rig.entries("acme-dental")),
                               "birchwood": set(rig.entries("birchwood-legal"))}
        finally:
            await rig.coordinator.aclose()
            rig.store.close()
    assert by_route["report"]["acme"] == by_route["tickets"]["acme"]
    assert by_route["report"]["birchwood"] == by_route["tickets"]["birchwood"]
    assert by_route["report"]["spent"] == 2  # one changed-since report, one window report
    assert by_route["tickets"]["spent"] > by_route["report"]["spent"]
