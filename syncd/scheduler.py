"""APScheduler 3.x adapter: one refresh job per client and one reconcile job per account."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncd.config import Config
from syncd.coordinator import Coordinator


def schedule_jobs(scheduler: AsyncIOScheduler, config: Config, coordinator: Coordinator) -> None:
    """(Re)build every job from ``config``; jobs never overlap and missed runs coalesce."""
    scheduler.remove_all_jobs()
    now = datetime.now(timezone.utc)
    for i, client in enumerate(sorted(config.clients.values(), key=lambda c: c.key)):
        # Start at once but a little apart, so a hundred clients do not fire in one tick.
        first = now + timedelta(seconds=min(i * 0.2, 30))
        scheduler.add_job(
            coordinator.refresh_client,
            IntervalTrigger(seconds=client.refresh, jitter=max(1, client.refresh // 20)),
            args=[client.key],
            id=f"client:{client.key}",
            name=f"refresh {client.key}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=client.refresh,
            next_run_time=first,
        )
    for name, settings in config.accounts.items():
        scheduler.add_job(
            coordinator.sync_account,
            IntervalTrigger(seconds=settings.reconcile_every, jitter=max(1, settings.reconcile_every // 20)),
            args=[name],
            kwargs={"reconcile": True},
            id=f"reconcile:{name}",
            name=f"reconcile {name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=settings.reconcile_every,
        )
