"""The contract rig: any registered connector against its own sandbox, through the real coordinator."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from connectors.base import ClientRoute, Connector
from connectors.registry import CONNECTORS, connector_class, open_connector
from connectors.sandbox_driver import SandboxDriver
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.store import Store

from ..integration.conftest import Clock, Sleeps

ACCOUNT = "src"
BASE_URL = "http://sandbox.test"
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=timezone.utc)


def transport_to(driver: SandboxDriver) -> httpx.AsyncBaseTransport:
    """In process to the sandbox, through its fault kit's transport when it has one."""
    return driver.faults.transport() if driver.faults is not None else httpx.ASGITransport(app=driver.app)


def write_config(folder: Path, driver: SandboxDriver) -> Path:
    """syncd.yaml with the sandbox's account, and one client file per sandbox client."""
    (folder / "clients").mkdir(parents=True)
    main = {"accounts": {ACCOUNT: driver.account(BASE_URL)}, "defaults": {"refresh": "15m", "timezone": "UTC"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for i, selector in enumerate(driver.selectors()):
        client = {"name": f"Client {i}", "sources": [{"account": ACCOUNT, **selector}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 500}}}}
        (folder / "clients" / f"c{i}.yaml").write_text(yaml.safe_dump(client))
    return folder


@dataclass
class Contract:
    """One vendor's sandbox, a store, a sink and a coordinator, wired over ASGITransport."""

    vendor: str
    driver: SandboxDriver
    clock: Clock
    sleeps: Sleeps
    store: Store
    sink: DirectorySink
    config: Config
    coordinator: Coordinator
    publish_dir: Path

    def transport(self) -> httpx.AsyncBaseTransport:
        return transport_to(self.driver)

    def connector(self) -> Connector:
        """A standalone connector for the account (its own funnel), for stream-level checks."""
        routes = [ClientRoute(c.key, sel) for c, sel in self.config.clients_of(ACCOUNT)]
        return open_connector(ACCOUNT, self.config.accounts[ACCOUNT], routes,
                              transport=self.transport(), sleep=self.sleeps, monotonic=self.clock.monotonic)

    def balance(self, client: str) -> dict[str, Any]:
        token = self.store.token_for(client, now=self.clock())
        return json.loads(self.sink.read(token, "balance.json") or b"{}")

    def published_text(self) -> dict[str, str]:
        return {str(p.relative_to(self.publish_dir)): p.read_bytes().decode("utf-8-sig")
                for p in self.publish_dir.rglob("*") if p.is_file()}


# What a promise may need of a connector, read from the connector class's declarations.
# Request counts, throttles, server errors and credentials are HTTP matters; a drop folder's
# own faults (its inbox, its files) are a folder's; the deletion reconcile's guard needs a
# source that can re-list a period.
CAPABILITIES: dict[str, Callable[[type[Connector]], bool]] = {
    "http": lambda cls: cls.transport == "http",
    "files": lambda cls: cls.transport == "files",
    "relisting": lambda cls: cls.lists_window,
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(capability): the promise binds only connectors that have it "
                                       f"({', '.join(CAPABILITIES)})")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each promise over every registered connector that has what its ``needs`` marks name."""
    if "contract" not in metafunc.fixturenames:
        return
    needs = [m.args[0] for m in metafunc.definition.iter_markers("needs")]
    vendors = [v for v in sorted(CONNECTORS) if all(CAPABILITIES[n](connector_class(v)) for n in needs)]
    metafunc.parametrize("contract", vendors, indirect=True)


@pytest.fixture
async def contract(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Contract]:
    vendor: str = request.param
    sandbox = importlib.import_module(f"connectors.{vendor}.sandbox")
    clock = Clock(T0)
    sleeps = Sleeps(clock)
    driver: SandboxDriver = sandbox.make_driver(clock)
    config = load_config(write_config(tmp_path / "config", driver), environ={})
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    sink = DirectorySink(tmp_path / "public")
    factory = partial(open_connector, transport=transport_to(driver), sleep=sleeps, monotonic=clock.monotonic)
    coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)
    yield Contract(vendor, driver, clock, sleeps, store, sink, config, coordinator, tmp_path / "public")
    await coordinator.aclose()
    store.close()
