"""Rebuilding jobs on reload: a sync in flight finishes and publishes on the old config first."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from starlette.types import Receive, Scope, Send

from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.daemon import Runtime
from syncd.store import Store

from .conftest import Clock, Sleeps, demo_config


class Gate:
    """Holds every vendor request until opened, and says when one is waiting."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.waiting = asyncio.Event()
        self.open = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.waiting.set()
            await self.open.wait()
        await self.app(scope, receive, send)


async def test_a_sync_in_flight_while_jobs_are_rebuilt_completes_and_publishes(tmp_path: Path) -> None:
    clock = Clock()
    sandbox = HarvestSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1))
    config = demo_config(tmp_path, sandbox)
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    sink = DirectorySink(tmp_path / "public")
    gate = Gate(sandbox.app)
    factory = partial(open_connector, transport=httpx.ASGITransport(app=gate), sleep=Sleeps(clock),
                      monotonic=clock.monotonic)

    def make(cfg: Config) -> Coordinator:
        return Coordinator(cfg, store, sink, clock=clock, connector_factory=factory)

    old = make(config)
    runtime = Runtime(AsyncIOScheduler(), old, make)
    keys = sorted(config.clients)
    running = asyncio.create_task(runtime.jobs.refresh(keys))  # what the refresh job runs
    await asyncio.wait_for(gate.waiting.wait(), 10)

    # The admin removes a client; the reload rebuilds the jobs while the sync waits on the vendor.
    (config.root / "clients" / "delta-veterinary.yaml").unlink()
    swapping = asyncio.create_task(runtime.swap(load_config(config.root, environ=dict(
        DEMO_HARVEST_URL="http://harvest.sandbox", DEMO_HARVEST_ACCOUNT=sandbox.account_id,
        DEMO_HARVEST_TOKEN=sandbox.token))))
    for _ in range(20):  # let the swap run as far as it can
        await asyncio.sleep(0)
    assert not swapping.done() and runtime.coordinator is old and runtime.jobs.running == 1
    assert runtime.scheduler.get_jobs() == []  # the old jobs fire no more

    gate.open.set()
    await asyncio.wait_for(swapping, 30)
    assert running.done() and running.exception() is None
    for key in keys:  # every page of the old config, delta's included, was published
        assert store.last_publish(key) is not None, key
    assert runtime.coordinator is not old and sorted(runtime.coordinator.config.clients) == keys[:3]
    assert {job.id for job in runtime.scheduler.get_jobs()} == {"refresh:every:30", "reconcile:harvest"}
    await runtime.coordinator.aclose()
    store.close()
