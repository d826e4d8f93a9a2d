"""APScheduler 3.x adapter: refresh jobs grouped by cadence, and one reconcile job per account."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from syncd.config import Config
from syncd.coordinator import Coordinator
from syncd.durations import format_interval


def refresh_groups(config: Config) -> dict[int, list[str]]:
    """Client keys by refresh interval (seconds).

    Clients that share a cadence are refreshed by one job, so each account they read is
    polled once per interval however many clients it serves: per-client jobs at scattered
    phases would each poll the account and multiply its request count by the client count.
    """
    groups: dict[int, list[str]] = defaultdict(list)
    for client in sorted(config.clients.values(), key=lambda c: c.key):
        groups[client.refresh].append(client.key)
    return dict(groups)


def schedule_jobs(scheduler: AsyncIOScheduler, config: Config, coordinator: Coordinator) -> None:
    """(Re)build every job from ``config``; jobs never overlap and missed runs coalesce."""
    scheduler.remove_all_jobs()
    now = datetime.now(timezone.utc)
    for i, (refresh, keys) in enumerate(sorted(refresh_groups(config).items())):
        scheduler.add_job(
            coordinator.refresh_clients,
            IntervalTrigger(seconds=refresh, jitter=max(1, refresh // 20)),
            args=[keys],
            id=f"refresh:{refresh}",
            name=f"refresh every {format_interval(refresh)} ({len(keys)} clients)",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=refresh,
            # Start at once, cadences a moment apart so they do not all land in one tick.
            next_run_time=now + timedelta(seconds=i),
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
