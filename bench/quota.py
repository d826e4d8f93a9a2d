"""Quota cost: vendor requests per hour for many clients on one account, against the lower
bound and against a naive poller that queries each client separately.

One simulated hour at 5-minute freshness (12 refreshes) on the Harvest sandbox, with an
accelerated clock. Each hour every client logs about one new entry, spread over the
refreshes. "Ours" is the daemon's own refresh job (one per cadence) driving the real
coordinator; the lower bound is max(1, ceil(changed / 2000)) per refresh; the naive poller
asks ``/v2/time_entries?client_id=…&updated_since=…`` once per client per refresh.
"""

from __future__ import annotations

import asyncio
import math
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import httpx
import yaml

from connectors.harvest.sandbox import MAX_PER_PAGE, HarvestSandbox
from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.config import load_config
from syncd.coordinator import Coordinator
from syncd.store import Store

REFRESH = 300
HOUR = 3600
START = datetime(2026, 11, 18, 14, 0, tzinfo=timezone.utc)


@dataclass
class QuotaResult:
    clients: int
    refreshes: int
    changed: int
    ours: int
    reconcile: int
    lower_bound: int
    naive: int

    @property
    def polls(self) -> int:
        return self.ours - self.reconcile

    @property
    def ratio_to_bound(self) -> float:
        return self.polls / self.lower_bound

    @property
    def naive_ratio(self) -> float:
        return self.naive / self.ours


class _Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _config(folder: Path, sandbox: HarvestSandbox, client_ids: Sequence[int]) -> Path:
    (folder / "clients").mkdir(parents=True)
    account = {"vendor": "harvest", "base_url": "http://harvest.sandbox", "account_id": sandbox.account_id,
               "token": sandbox.token, "user_agent": "syncd bench (bench@example.com)"}
    main = {"accounts": {"harvest": account}, "defaults": {"refresh": f"{REFRESH}s", "timezone": "UTC"}}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for cid in client_ids:
        client = {"name": f"Client {cid}", "sources": [{"account": "harvest", "client_id": cid}],
                  "retainer": {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 20}}}}
        (folder / "clients" / f"c{cid}.yaml").write_text(yaml.safe_dump(client))
    return folder


async def measure(clients: int, *, seed: int = 11) -> QuotaResult:
    """Run one simulated hour for ``clients`` clients and count requests three ways."""
    rng = random.Random(seed)
    clock = _Clock()
    # The naive poller would trip Harvest's limit long before the hour ends; lift it so
    # the count measures what each design asks for, not what the vendor would refuse.
    sandbox = HarvestSandbox(clock=clock, rate_limit=10**9)
    client_ids = [sandbox.add_client(f"Client {i}") for i in range(clients)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = load_config(_config(folder / "config", sandbox, client_ids), environ={})
        store = Store.open(f"sqlite:///{folder / 'bench.db'}")

        async def no_sleep(_: float) -> None:
            return None

        factory = partial(open_connector, transport=httpx.ASGITransport(app=sandbox.app), sleep=no_sleep,
                          monotonic=lambda: clock.now.timestamp())
        coordinator = Coordinator(config, store, DirectorySink(folder / "public"), clock=clock,
                                  connector_factory=factory)
        keys = sorted(config.clients)
        await coordinator.refresh_clients(keys)  # the first backfill is not part of the hour
        naive_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url="http://h",
                                       headers={"Authorization": f"Bearer {sandbox.token}",
                                                "Harvest-Account-Id": sandbox.account_id, "User-Agent": "naive"})
        ours = naive = bound = changed_total = 0
        refreshes = HOUR // REFRESH
        naive_since = clock.now
        for _ in range(refreshes):
            changed = 0
            for cid in client_ids:
                if rng.random() < REFRESH / HOUR:  # about one new entry per client per hour
                    sandbox.add_entry(client_id=cid, hours=0.5, spent_date=clock.now.date(), notes="Bench work")
                    changed += 1
            clock.now += timedelta(seconds=REFRESH)
            before = sandbox.counters["requests"]
            await coordinator.refresh_clients(keys, max_age=5)
            ours += sandbox.counters["requests"] - before
            bound += max(1, math.ceil(changed / MAX_PER_PAGE))
            changed_total += changed
            before = sandbox.counters["requests"]
            for cid in client_ids:
                await naive_http.get("/v2/time_entries", params={
                    "client_id": cid, "updated_since": naive_since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "per_page": MAX_PER_PAGE})
            naive += sandbox.counters["requests"] - before
            naive_since = clock.now
        await naive_http.aclose()
        await coordinator.aclose()
        # The hourly deletion reconcile re-lists the open window: not a change poll, so it
        # is reported beside the bound rather than hidden in it.
        reconcile = sum(r.requests for r in store.runs("harvest", limit=1000)
                        if r.kind == "reconcile" and r.started_at > START)
        store.close()
    return QuotaResult(clients, refreshes, changed_total, ours, reconcile, bound, naive)


def run(sizes: Sequence[int] = (10, 100, 1000)) -> list[QuotaResult]:
    """Measure each size; returns the results in order."""
    return [asyncio.run(measure(n)) for n in sizes]


def table(results: Sequence[QuotaResult]) -> str:
    """The results as a Markdown table."""
    rows = ["| clients | entries changed | ours: polls | ours: reconcile | lower bound | polls ÷ bound | naive | naive ÷ ours (all) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        rows.append(f"| {r.clients:,} | {r.changed:,} | {r.polls:,} | {r.reconcile:,} | {r.lower_bound:,} | "
                     f"{r.ratio_to_bound:.2f}× | {r.naive:,} | {r.naive_ratio:.0f}× |")
    return "\n".join(rows)


def section() -> str:
    """This benchmark's part of RESULTS.md."""
    return f"""## Quota cost (Harvest sandbox, one account, 5-minute freshness, one simulated hour)

Each client logs about one entry an hour. "Ours" is the daemon's refresh job driving the
real coordinator; polls are the incremental reads, the reconcile is the hourly re-list of
the open cycles that catches deletions. The lower bound is max(1, ceil(changed / 2000)) per
refresh. The naive poller asks Harvest for each client separately at every refresh.

{table(run())}

Goal: polls within 1.05× of the lower bound and flat in the number of clients.
"""
