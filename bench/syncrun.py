"""One measured ``syncd sync`` against a sandbox process: its time, memory and requests, and
what it stored and published."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harvest import ACCOUNT, HarvestProcess, syncd_env, write_config
from bench.measure import Measured, run_measured
from syncd.store import Store

# What a sync process imports before it reads anything: the floor under its peak RSS.
_IMPORTS = ("import syncd.cli, syncd.daemon, syncd.coordinator, syncd.store, connectors.registry, "
            "connectors.harvest.client, publisher.render, alembic.command, sqlalchemy.dialects.sqlite")


@dataclass(frozen=True)
class SyncFigures:
    """A finished ``syncd sync``: the process, the sandbox's count of its requests, and its phases."""

    process: Measured
    requests: int
    throttled: int
    stored: int
    pages: int
    poll_seconds: float
    poll_requests: int
    reconcile_seconds: float
    reconcile_requests: int
    publish_seconds: float

    @property
    def entries_per_second(self) -> float:
        return self.stored / self.process.seconds


def syncd_sync(harvest: HarvestProcess, folder: Path) -> SyncFigures:
    """Run ``syncd sync`` (read every client's history, reconcile, publish every page) as its
    own process in ``folder``; fails unless it stored every sandbox entry and published every page."""
    config = write_config(folder / "config", harvest)
    before = harvest.counters()
    process = run_measured([sys.executable, "-m", "syncd", "sync", "--config", str(config)],
                           env=syncd_env(folder)).check("syncd sync")
    spent = harvest.counters() - before
    store = Store.open(f"sqlite:///{folder / 'syncd.db'}", migrate=False)
    try:
        stored = store.count_entries(ACCOUNT)
        runs = {r.kind: r for r in store.runs(ACCOUNT)}
        stamps = [p["published_at"] for key in (f"c{cid}" for cid in harvest.clients)
                  if (p := store.last_publish(key)) is not None]
    finally:
        store.close()
    pages = len(list((folder / "public" / "c").glob("*/index.html")))
    if stored != harvest.entries or pages != len(harvest.clients) or len(stamps) != pages:
        raise RuntimeError(f"syncd sync stored {stored:,} of {harvest.entries:,} entries and published "
                           f"{pages} of {len(harvest.clients)} pages")
    poll, reconcile = runs["poll"], runs.get("reconcile")
    synced = reconcile.finished_at if reconcile else poll.finished_at
    return SyncFigures(
        process, spent.requests, spent.throttled, stored, pages,
        (poll.finished_at - poll.started_at).total_seconds(), poll.requests,
        (reconcile.finished_at - reconcile.started_at).total_seconds() if reconcile else 0.0,
        reconcile.requests if reconcile else 0,
        (max(stamps) - synced).total_seconds())


def import_floor() -> Measured:
    """A process that only imports what a sync imports: the memory no amount of data explains."""
    return run_measured([sys.executable, "-c", _IMPORTS]).check("the import baseline")
