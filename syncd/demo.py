"""`syncd demo`: the daemon against built-in vendor sandboxes that keep adding work."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import random
from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta, timezone
from functools import partial
from pathlib import Path

import yaml

from connectors.sandbox_driver import SandboxDriver
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.daemon import run_daemon
from syncd.serving import AppServer
from syncd.settings import Settings
from syncd.store import Store

ACTIVITY_EVERY = 15.0  # seconds between new pieces of work in the sandboxes
WORK = (
    "Reset MFA for the front desk account",
    "Printer offline in reception: cleared the queue and updated the driver",
    "Replaced a failing UPS battery in the comms cupboard",
    "Shared mailbox permissions for the new practice manager",
    "VPN dropping for remote staff: renewed the gateway certificate",
    "Patched the file server and confirmed backups completed",
)


def demo_config_dir() -> Path:
    """config/demo/ of this checkout (or $SYNCD_DEMO_CONFIG, or ./config/demo)."""
    if os.environ.get("SYNCD_DEMO_CONFIG"):
        return Path(os.environ["SYNCD_DEMO_CONFIG"])
    beside_package = Path(__file__).resolve().parents[1] / "config" / "demo"
    return beside_package if beside_package.is_dir() else Path("config/demo")


def demo_vendors(folder: Path) -> list[str]:
    """The vendors the demo config's accounts use, each of which gets its sandbox."""
    accounts = (yaml.safe_load((folder / "syncd.yaml").read_text()) or {}).get("accounts") or {}
    return sorted({a["vendor"] for a in accounts.values() if isinstance(a, dict) and "vendor" in a})


def demo_environ(drivers: Mapping[str, SandboxDriver], urls: Mapping[str, str]) -> dict[str, str]:
    """DEMO_<VENDOR>_<KEY> for every key of each sandbox's account, which config/demo reads."""
    environ = dict(os.environ)
    for vendor, driver in drivers.items():
        for key, value in driver.account(urls[vendor]).items():
            if key != "vendor":
                environ[f"DEMO_{vendor.upper()}_{key.upper()}"] = str(value)
    if "harvest" in drivers:  # the short names the test suite's fixture config also uses
        account = drivers["harvest"].account(urls["harvest"])
        environ |= {"DEMO_HARVEST_URL": urls["harvest"], "DEMO_HARVEST_ACCOUNT": str(account["account_id"]),
                    "DEMO_HARVEST_TOKEN": str(account["token"])}
    return environ


def add_work(drivers: Mapping[str, SandboxDriver], rng: random.Random, now: datetime) -> None:
    """One new piece of work for a random client of a random sandbox, as a technician logs it."""
    vendor = rng.choice(sorted(drivers))
    driver = drivers[vendor]
    start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    driver.add_entry(rng.randrange(len(driver.selectors())), hours=rng.choice((0.25, 0.5, 0.75, 1.0, 1.5)),
                     notes=rng.choice(WORK), day=now.date(), start=time(start.hour, start.minute),
                     worker=rng.randrange(len(driver.workers)))


async def run_demo(
    settings: Settings,
    folder: Path,
    *,
    once: bool,
    echo: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> None:
    """Seed a sandbox per vendor, serve them on loopback, then sync once (``once``) or run the daemon."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={
        "database_url": f"sqlite:///{(folder / 'syncd.db').resolve()}",
        "publish_dir": folder / "public",
    })
    config_dir = demo_config_dir()

    def now() -> datetime:
        return datetime.now(timezone.utc)

    drivers: dict[str, SandboxDriver] = {
        vendor: importlib.import_module(f"connectors.{vendor}.sandbox").make_driver(now)
        for vendor in demo_vendors(config_dir)
    }
    async with contextlib.AsyncExitStack() as stack:
        urls = {vendor: (await stack.enter_async_context(AppServer(d.app))).url for vendor, d in drivers.items()}
        load: Callable[[Path], Config] = partial(load_config, environ=demo_environ(drivers, urls))
        config = load(config_dir)
        store = await asyncio.to_thread(Store.open, settings.database_url)
        # The sandboxes are seeded afresh each start; link tokens are kept so bookmarks survive.
        await asyncio.to_thread(store.reset_sync_state)
        coordinator = Coordinator(config, store, DirectorySink(settings.publish_dir))

        async def announce(coord: Coordinator, base_url: str) -> None:
            await coord.sync_all(reconcile=True)
            echo("Sandboxes: " + ", ".join(f"{vendor} at {url}" for vendor, url in urls.items()))
            echo(f"Pages in {settings.publish_dir}")
            for key, client in sorted(config.clients.items()):
                token = await asyncio.to_thread(store.token_for, key, now=coord.clock())
                echo(f"{client.name}: {coord.page_url(base_url, token) if token else 'link revoked'}")

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
                add_work(drivers, rng, now())

        activity = asyncio.create_task(keep_working(), name="demo-activity")
        try:
            await run_daemon(settings, config, store=store, coordinator=coordinator, load=load,
                             on_ready=announce, stop=stop)
        finally:
            activity.cancel()

