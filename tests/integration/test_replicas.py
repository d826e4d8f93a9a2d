"""Several replicas on one PostgreSQL database: an account is never synced by two at once."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.coordinator import Coordinator
from syncd.serving import AppServer
from syncd.shards import shard_of
from syncd.store import Store, shard_leases

from .conftest import ROOT, Clock, Sleeps, demo_config

pytestmark = pytest.mark.postgres


def leases(store: Store) -> dict[int, str]:
    """Who holds each shard lease that has not run out."""
    now = datetime.now(timezone.utc)
    with store.engine.connect() as conn:
        rows = conn.execute(select(shard_leases.c.shard, shard_leases.c.holder)
                            .where(shard_leases.c.expires_at > now)).all()
    return {shard: holder for shard, holder in rows}


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


class InFlight:
    """ASGI middleware in front of the sandbox: how many requests are in flight at once,
    at most. Each sync's requests are sequential, so more than one means two syncs of the
    account overlapped. A little latency per request widens any overlap there would be."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.now = 0
        self.most = 0
        self.total = 0

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.now += 1
        self.total += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.02)  # vendor latency, not synchronisation
            await self.app(scope, receive, send)
        finally:
            self.now -= 1


async def wait_until(check, what: str, deadline: float = 90.0):  # type: ignore[no-untyped-def]
    """Poll ``check`` (run in a thread) until it returns something truthy, or fail saying ``what``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        got = await asyncio.to_thread(check)
        if got:
            return got
        if loop.time() > end:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.2)


async def test_two_daemons_share_the_clients_and_the_survivor_takes_over_a_killed_ones(
    pg_url: str, tmp_path: Path
) -> None:
    refresh = 20  # seconds; leases last 2, so a takeover lands well inside one refresh
    sandbox = HarvestSandbox()
    sandbox.seed()
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", folder)
    main = folder / "syncd.yaml"
    main.write_text(main.read_text().replace("refresh: 30s", f"refresh: {refresh}s"))
    watch = InFlight(sandbox.app)
    store = Store.open(pg_url)
    keys = sorted(p.stem for p in (folder / "clients").glob("*.yaml"))
    homes = {key: shard_of(key, 2) for key in keys}
    assert set(homes.values()) == {0, 1}  # each replica has clients of its own
    async with AppServer(watch) as server:
        env = {**os.environ, "SYNCD_DATABASE_URL": pg_url, "SYNCD_CONFIG_DIR": str(folder),
               "SYNCD_PUBLISH_DIR": str(tmp_path / "public"), "SYNCD_HTTP_PORT": "0", "SYNCD_LOG_FORMAT": "json",
               "SYNCD_LEASE_SECONDS": "2", "DEMO_HARVEST_URL": server.url,
               "DEMO_HARVEST_ACCOUNT": sandbox.account_id, "DEMO_HARVEST_TOKEN": sandbox.token}
        daemons = [await asyncio.create_subprocess_exec(
            sys.executable, "-m", "syncd", "run", env={**env, "SYNCD_SHARD": f"{i}/2", "SYNCD_REPLICA_ID": f"r{i}"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL) for i in range(2)]
        try:
            def published() -> dict[str, datetime] | None:
                records = {key: store.last_publish(key) for key in keys}
                return {k: r["published_at"] for k, r in records.items()} if all(records.values()) else None

            await wait_until(lambda: leases(store) == {0: "r0", 1: "r1"}, "each daemon to hold its own shard")
            first = await wait_until(published, "every page to be published by the two daemons")

            daemons[0].kill()  # SIGKILL: no goodbye, its lease is left to run out
            await daemons[0].wait()
            killed_at = datetime.now(timezone.utc)
            orphans = [k for k in keys if homes[k] == 0]

            def taken_over() -> dict[str, datetime] | None:
                now = published()
                return now if now and all(now[k] > killed_at for k in orphans) else None

            after = await wait_until(taken_over, "the survivor to republish the killed daemon's pages")
            assert await asyncio.to_thread(leases, store) == {0: "r1", 1: "r1"}
            for key in orphans:
                # The page was republished within one refresh of its last publish: no gap a client sees.
                assert (after[key] - first[key]).total_seconds() <= refresh, (key, first[key], after[key])
            assert daemons[1].returncode is None
        finally:
            for daemon in daemons:
                if daemon.returncode is None:
                    daemon.terminate()
                    await daemon.wait()
            store.close()
    assert watch.total > 0
    assert watch.most == 1  # never two syncs of the account at once
