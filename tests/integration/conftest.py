"""Fixtures for running the coordinator against vendor sandboxes in-process."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import httpx
import pytest

from connectors.harvest.sandbox import HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.store import Store

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_URL = "http://harvest.sandbox"
T0 = datetime(2026, 11, 18, 15, 0, tzinfo=timezone.utc)


@dataclass
class Clock:
    """A wall clock the test moves by hand, shared by the sandbox and the coordinator."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)

    def monotonic(self) -> float:
        """The same clock as seconds, for request budgets (moved by :class:`Sleeps`)."""
        return self.now.timestamp()


@dataclass
class Sleeps:
    """Stands in for asyncio.sleep in the funnel: records each wait and moves the clock."""

    clock: Clock
    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.clock.advance(seconds=seconds)


def leaks(secrets: Iterable[str], places: Mapping[str, str | bytes]) -> list[str]:
    """Each secret found in each place (a log, a file's bytes, an answer), as "'secret' in place"."""
    found = []
    for place, content in places.items():
        data = content.encode() if isinstance(content, str) else content
        found += [f"{secret!r} in {place}" for secret in secrets if secret.encode() in data]
    return sorted(found)


def demo_config(tmp_path: Path, sandbox: HarvestSandbox, url: str = SANDBOX_URL) -> Config:
    """A copy of the suite's Harvest config (tests/fixtures/config) pointed at ``url``."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", folder)
    environ = {"DEMO_HARVEST_URL": url, "DEMO_HARVEST_ACCOUNT": sandbox.account_id,
               "DEMO_HARVEST_TOKEN": sandbox.token}
    return load_config(folder, environ=environ)


@dataclass
class Rig:
    """A sandbox, a store, a sink and a coordinator wired together over ASGITransport."""

    clock: Clock
    sleeps: Sleeps
    sandbox: HarvestSandbox
    store: Store
    sink: DirectorySink
    config: Config
    coordinator: Coordinator
    publish_dir: Path

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def published_bytes(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.publish_dir)): p.read_bytes()
                for p in self.publish_dir.rglob("*") if p.is_file()}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = Clock()
    sleeps = Sleeps(clock)
    sandbox = HarvestSandbox(clock=clock)
    sandbox.seed(now=clock.now - timedelta(days=1))
    store = Store.open(f"sqlite:///{tmp_path / 'syncd.db'}")
    sink = DirectorySink(tmp_path / "public")
    config = demo_config(tmp_path, sandbox)
    factory: Callable[..., object] = partial(
        open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=sleeps, monotonic=clock.monotonic)
    coordinator = Coordinator(config, store, sink, clock=clock, connector_factory=factory)  # type: ignore[arg-type]
    yield Rig(clock, sleeps, sandbox, store, sink, config, coordinator, tmp_path / "public")
    await coordinator.aclose()
    store.close()
