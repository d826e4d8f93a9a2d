"""APScheduler 3.x adapter: refresh jobs grouped by cadence, and one reconcile job per account."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncd.cadence import Cadence
from syncd.config import Config
from syncd.coordinator import Coordinator

Owns = Callable[[str], bool]


def refresh_groups(config: Config) -> dict[Cadence, list[str]]:
    """Client keys by cadence (an interval, or a cron expression in a timezone).

    Clients that share a cadence are refreshed by one job, so each account they read is
    polled once per tick however many clients it serves: per-client jobs at scattered
    phases would each poll the account and multiply its request count by the client count.
    """
    groups: dict[Cadence, list[str]] = defaultdict(list)
    for client in sorted(config.clients.values(), key=lambda c: c.key):
        groups[Cadence.of(client)].append(client.key)
    return dict(groups)


class Jobs:
    """What the scheduler's jobs run for one config: refreshes and reconciles of the clients
    this replica owns (asked at each fire, as shard ownership moves), with every run tracked
    so a reload can let the running ones finish before their coordinator closes."""

    def __init__(self, config: Config, coordinator: Coordinator, owns: Owns | None = None) -> None:
        self.config = config
        self.coordinator = coordinator
        self.owns: Owns = owns or (lambda _key: True)
        self._running: set[asyncio.Task[object]] = set()

    async def refresh(self, keys: list[str]) -> None:
        """Refresh the clients of ``keys`` this replica owns now."""
        mine = [k for k in keys if self.owns(k)]
        if mine:
            await self._tracked(self.coordinator.refresh_clients(mine))

    async def reconcile(self, account: str) -> None:
        """Reconcile ``account`` when a client this replica owns reads it."""
        if any(self.owns(client.key) for client, _ in self.config.clients_of(account)):
            await self._tracked(self.coordinator.sync_account(account, reconcile=True))

    async def _tracked(self, work: Awaitable[object]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)  # type: ignore[arg-type]
        try:
            await work
        finally:
            if task is not None:
                self._running.discard(task)  # type: ignore[arg-type]

    @property
    def running(self) -> int:
        """How many runs are in flight."""
        return len(self._running)

    async def drain(self) -> None:
        """Wait until every run in flight has finished (their errors are theirs to log)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)


def schedule_jobs(scheduler: AsyncIOScheduler, config: Config, coordinator: Coordinator, *,
                  owns: Owns | None = None) -> Jobs:
    """(Re)build every job from ``config``; jobs carry jitter, never overlap, and missed runs
    coalesce into one. Runs already in flight are not touched (see :meth:`Jobs.drain`)."""
    scheduler.remove_all_jobs()
    jobs = Jobs(config, coordinator, owns)
    now = datetime.now(timezone.utc)
    for i, (cadence, keys) in enumerate(sorted(refresh_groups(config).items())):
        scheduler.add_job(
            jobs.refresh,
            cadence.trigger(),
            args=[keys],
            id=f"refresh:{cadence.key}",
            name=f"refresh {cadence.label} ({len(keys)} clients)",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=cadence.every or 3600,
            # Every group (cron ones too, so a page exists after a deploy) runs once at
            # start, a moment apart so they do not all land in one tick; then on its cadence.
            next_run_time=now + timedelta(seconds=i),
        )
    for name, settings in config.accounts.items():
        scheduler.add_job(
            jobs.reconcile,
            IntervalTrigger(seconds=settings.reconcile_every, jitter=max(1, settings.reconcile_every // 20)),
            args=[name],
            id=f"reconcile:{name}",
            name=f"reconcile {name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=settings.reconcile_every,
        )
    return jobs
