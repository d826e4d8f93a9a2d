"""Where a poll leaves the account's cursor, and what a read that fails half-way records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.coordinator import Coordinator
from syncd.store import Store

from ...integration.conftest import Clock, Sleeps, demo_config

ACCOUNT = "harvest"  # the suite's config (tests/fixtures/config) reads one Harvest account


@dataclass
class Harvest:
    clock: Clock
    sandbox: HarvestSandbox
    store: Store
    coordinator: Coordinator

    async def poll(self) -> None:
        outcome = await self.coordinator.sync_account(ACCOUNT, reconcile=False, publish=False)
        assert outcome.ok, outcome.error

    def newest_held(self) -> object:
        return max(e.updated_at for key in self.coordinator.config.clients
                   for e in self.store.entries_for_client(key, self.clock.now.date() - timedelta(days=400)))


@pytest.fixture
async def harvest(tmp_path: Path) -> AsyncIterator[Harvest]:
    clock = Clock()
    sandbox = HarvestSandbox(clock=clock)
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    factory = partial(open_connector, transport=sandbox.faults.transport(), sleep=Sleeps(clock),
                      monotonic=clock.monotonic)
    coordinator = Coordinator(demo_config(tmp_path, sandbox), store, DirectorySink(tmp_path / "public"),
                              clock=clock, connector_factory=factory)
    yield Harvest(clock, sandbox, store, coordinator)
    await coordinator.aclose()
    store.close()


async def test_a_backfill_leaves_the_cursor_at_the_newest_stamp_the_vendor_wrote_not_at_our_clock(
        harvest: Harvest) -> None:
    harvest.sandbox.faults.skew(-timedelta(hours=3))  # the vendor's clock runs three hours behind ours
    harvest.sandbox.seed(now=harvest.sandbox.faults.clock() - timedelta(hours=1), days=5)
    await harvest.poll()
    assert harvest.store.cursor(ACCOUNT) == harvest.newest_held() < harvest.clock.now - timedelta(hours=3)
    harvest.clock.advance(minutes=15)
    later = harvest.sandbox.add_entry(client_id=5001, hours=1.5, notes="Logged after the backfill")
    await harvest.poll()
    assert str(later["id"]) in {e.vendor_id for e in harvest.store.entries_for_client(
        "acme-dental", harvest.clock.now.date() - timedelta(days=1))}


async def test_a_backfill_that_reads_nothing_leaves_no_cursor_and_the_next_poll_backfills(harvest: Harvest) -> None:
    await harvest.poll()
    assert harvest.store.cursor(ACCOUNT) is None
    harvest.sandbox.faults.skew(-timedelta(hours=3))
    harvest.clock.advance(minutes=15)
    first = harvest.sandbox.add_entry(client_id=5001, hours=0.5, notes="The account's first entry")
    await harvest.poll()
    assert harvest.store.count_entries(ACCOUNT) == 1
    assert harvest.store.cursor(ACCOUNT) == harvest.newest_held()
    assert first["updated_at"] == harvest.store.cursor(ACCOUNT).strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[union-attr]


async def test_a_read_that_fails_half_way_records_what_it_read_and_leaves_the_cursor(harvest: Harvest) -> None:
    harvest.sandbox.seed(now=harvest.clock.now - timedelta(days=1), days=3)
    await harvest.poll()
    cursor = harvest.store.cursor(ACCOUNT)
    harvest.clock.advance(minutes=15)
    for i in range(2001):  # two of Harvest's 2000-entry pages
        harvest.sandbox.add_entry(client_id=5002, hours=0.25, notes=f"Batch job {i}")
    harvest.sandbox.faults.inject("truncated", where="next_page", times=1)
    outcome = await harvest.coordinator.sync_account(ACCOUNT, reconcile=False, publish=False)
    assert not outcome.ok
    run = harvest.store.runs(ACCOUNT)[0]
    assert (run.outcome, run.fetched, run.changed) == ("payload", 2000, 2000)
    assert harvest.store.cursor(ACCOUNT) == cursor
