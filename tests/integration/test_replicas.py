"""Several replicas on one PostgreSQL database: an account is never synced by two at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import pytest

from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.coordinator import Coordinator
from syncd.store import Store

from .conftest import Clock, Sleeps, demo_config

pytestmark = pytest.mark.postgres


def replica(config, store: Store, sink: DirectorySink, sandbox: HarvestSandbox, clock: Clock) -> Coordinator:  # type: ignore[no-untyped-def]
    factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=Sleeps(clock),
                      monotonic=clock.monotonic)
    return Coordinator(config, store, sink, clock=clock, connector_factory=factory)


async def test_two_replicas_share_one_poll_and_both_publish_every_page(pg_url: str, tmp_path: Path) -> None:
    clock = Clock()
    sandbox = HarvestSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1))
    config = demo_config(tmp_path, sandbox)
    store_a, store_b = Store.open(pg_url), Store.open(pg_url)
    a = replica(config, store_a, DirectorySink(tmp_path / "a"), sandbox, clock)
    b = replica(config, store_b, DirectorySink(tmp_path / "b"), sandbox, clock)
    try:
        await a.sync_all(reconcile=True)
        clock.advance(minutes=1)
        before = sandbox.counters["time_entries"]
        keys = sorted(config.clients)
        published = await asyncio.gather(a.refresh_clients(keys, max_age=30), b.refresh_clients(keys, max_age=30))
        assert sandbox.counters["time_entries"] - before == 1
        for pages in published:
            assert sorted(p.client_key for p in pages) == keys
        # Both replicas publish the same figures from the shared store.
        assert [p.statement.used for p in published[0]] == [p.statement.used for p in published[1]]
    finally:
        await a.aclose()
        await b.aclose()
        store_a.close()
        store_b.close()


async def test_a_held_account_lock_makes_the_other_replica_skip(pg_url: str, tmp_path: Path) -> None:
    clock = Clock()
    sandbox = HarvestSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1))
    config = demo_config(tmp_path, sandbox)
    store_a, store_b = Store.open(pg_url), Store.open(pg_url)
    b = replica(config, store_b, DirectorySink(tmp_path / "b"), sandbox, clock)
    try:
        held = store_a.try_lock_account("harvest")
        assert held is not None
        assert store_b.try_lock_account("harvest") is None
        outcome = await b.sync_account("harvest")
        assert outcome.skipped and sandbox.counters["requests"] == 0
        held.release()
        assert (await b.sync_account("harvest")).ok
        assert sandbox.counters["requests"] > 0
    finally:
        await b.aclose()
        store_a.close()
        store_b.close()
