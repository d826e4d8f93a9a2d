"""`syncd demo`: the daemon against a built-in Harvest sandbox that keeps adding work."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

from connectors.harvest.sandbox import HarvestSandbox
from syncd.serving import AppServer
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.daemon import run_daemon
from syncd.settings import Settings
from syncd.store import Store

ACTIVITY_EVERY = 15.0  # seconds between new pieces of work in the sandbox
DEMO_ENTRIES_PER_DAY = 5  # across four clients: about 20–30 h a month each


def demo_config_dir() -> Path:
    """config/demo/ of this checkout (or $SYNCD_DEMO_CONFIG, or ./config/demo)."""
    if os.environ.get("SYNCD_DEMO_CONFIG"):
        return Path(os.environ["SYNCD_DEMO_CONFIG"])
    beside_package = Path(__file__).resolve().parents[1] / "config" / "demo"
    return beside_package if beside_package.is_dir() else Path("config/demo")


def demo_loader(sandbox: HarvestSandbox, url: str) -> Callable[[Path], Config]:
    """A config loader that fills in the sandbox's address and credentials."""
    environ = {
        **os.environ,
        "DEMO_HARVEST_URL": url,
        "DEMO_HARVEST_ACCOUNT": sandbox.account_id,
        "DEMO_HARVEST_TOKEN": sandbox.token,
    }
    return partial(load_config, environ=environ)


async def run_demo(
    settings: Settings,
    folder: Path,
    *,
    once: bool,
    echo: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Seed a sandbox, serve it on loopback, then sync once (``once``) or run the daemon."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={
        "database_url": f"sqlite:///{(folder / 'syncd.db').resolve()}",
        "publish_dir": folder / "public",
    })
    sandbox = HarvestSandbox()
    sandbox.seed(now=datetime.now(timezone.utc), per_day=DEMO_ENTRIES_PER_DAY)
    async with AppServer(sandbox.app) as server:
        load = demo_loader(sandbox, server.url)
        config = load(demo_config_dir())
        store = await asyncio.to_thread(Store.open, settings.database_url)
        # The sandbox is seeded afresh each start; link tokens are kept so bookmarks survive.
        await asyncio.to_thread(store.reset_sync_state)
        coordinator = Coordinator(config, store, DirectorySink(settings.publish_dir))

        async def announce(coord: Coordinator, base_url: str) -> None:
            await coord.sync_all(reconcile=True)
            echo(f"Harvest sandbox at {server.url}; pages in {settings.publish_dir}")
            for key, client in sorted(config.clients.items()):
                token = await asyncio.to_thread(store.token_for, key, now=coord.clock())
                echo(f"{client.name}: {coord.page_url(base_url, token)}")

        if once:
            try:
                await announce(coordinator, settings.public_base_url(config.publish.base_url))
            finally:
                await coordinator.aclose()
                store.close()
            return

        rng = random.Random()

        async def keep_working() -> None:
            while True:
                await asyncio.sleep(ACTIVITY_EVERY)
                sandbox.simulate_activity(rng)

        activity = asyncio.create_task(keep_working(), name="demo-activity")
        try:
            await run_daemon(settings, config, store=store, coordinator=coordinator, load=load,
                             on_ready=announce, stop=stop)
        finally:
            activity.cancel()
