"""Scheduling: one refresh job per cadence (interval, or cron in a timezone), one reconcile job per account."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import time_machine
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from syncd.cadence import Cadence
from syncd.config import Config, load_config
from syncd.scheduler import Jobs, refresh_groups, schedule_jobs

ROOT = Path(__file__).resolve().parents[3]
ENV = {"DEMO_HARVEST_URL": "http://x", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}


def demo_with(tmp_path: Path, overrides: dict[str, str]) -> Config:
    """The fixture config with extra lines appended to some client files."""
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", folder)
    for client, lines in overrides.items():
        path = folder / "clients" / f"{client}.yaml"
        path.write_text(path.read_text() + lines)
    return load_config(folder, environ=ENV)


class Recorder:
    """Stands in for the coordinator: remembers what the jobs asked of it."""

    def __init__(self) -> None:
        self.refreshed: list[list[str]] = []
        self.reconciled: list[str] = []

    async def refresh_clients(self, keys: list[str]) -> None:
        self.refreshed.append(keys)

    async def sync_account(self, account: str, *, reconcile: bool) -> None:
        self.reconciled.append(account)


def test_clients_sharing_a_cadence_share_one_job(tmp_path: Path) -> None:
    config = demo_with(tmp_path, {"cobalt-logistics": "refresh: 5m\n",
                                  "acme-dental": "refresh: '0 7 * * mon,thu'\n",
                                  "delta-veterinary": "refresh: {cron: '0 7 * * mon,thu'}\n"})
    assert refresh_groups(config) == {
        Cadence(every=30): ["birchwood-legal"],
        Cadence(every=300): ["cobalt-logistics"],
        Cadence(cron="0 7 * * mon,thu", timezone="America/New_York"): ["acme-dental", "delta-veterinary"],
    }


def test_the_same_cron_in_two_timezones_is_two_jobs(tmp_path: Path) -> None:
    config = demo_with(tmp_path, {"acme-dental": "refresh: '0 7 * * *'\n",
                                  "birchwood-legal": "refresh: '0 7 * * *'\n"})
    path = config.root / "clients" / "birchwood-legal.yaml"
    path.write_text(path.read_text().replace("timezone: America/New_York", "timezone: Europe/London"))
    groups = refresh_groups(load_config(config.root, environ=ENV))
    assert [g for g in groups if g.cron] == [Cadence(cron="0 7 * * *", timezone="America/New_York"),
                                             Cadence(cron="0 7 * * *", timezone="Europe/London")]


async def test_jobs_are_built_per_cadence_and_per_account_and_rebuilt_cleanly(tmp_path: Path) -> None:
    config = demo_with(tmp_path, {"cobalt-logistics": "refresh: 5m\n"})
    scheduler = AsyncIOScheduler()
    schedule_jobs(scheduler, config, Recorder())  # type: ignore[arg-type]
    schedule_jobs(scheduler, config, Recorder())  # type: ignore[arg-type]
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"refresh:every:30", "refresh:every:300", "reconcile:harvest"}
    assert jobs["refresh:every:300"].args == (["cobalt-logistics"],)
    assert jobs["reconcile:harvest"].args == ("harvest",)
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    assert all(job.trigger.jitter for job in jobs.values())


@time_machine.travel(datetime(2026, 3, 27, 12, tzinfo=timezone.utc), tick=False)
async def test_a_cron_client_job_fires_at_seven_its_time_across_the_clocks_going_forward(tmp_path: Path) -> None:
    config = demo_with(tmp_path, {"acme-dental": "refresh: {cron: '0 7 * * *'}\n"})
    path = config.root / "clients" / "acme-dental.yaml"
    path.write_text(path.read_text().replace("timezone: America/New_York", "timezone: Europe/London"))
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    schedule_jobs(scheduler, load_config(config.root, environ=ENV), Recorder())  # type: ignore[arg-type]
    job = scheduler.get_job("refresh:cron:0 7 * * *@Europe/London")
    assert isinstance(job.trigger, CronTrigger) and job.max_instances == 1 and job.coalesce
    fires, previous, now = [], None, datetime.now(timezone.utc)
    for _ in range(3):  # 28 Mar (GMT), 29 Mar (the clocks go forward at 01:00), 30 Mar (BST)
        previous = now = job.trigger.get_next_fire_time(previous, now)
        fires.append(now)
    london = [f.astimezone(ZoneInfo("Europe/London")) for f in fires]
    assert [(f.day, f.hour, f.minute) for f in london] == [(28, 7, 0), (29, 7, 0), (30, 7, 0)]
    assert [f.astimezone(timezone.utc).hour for f in fires] == [7, 6, 6]


async def test_jobs_only_run_the_clients_and_accounts_this_replica_owns(tmp_path: Path) -> None:
    config = demo_with(tmp_path, {})
    recorder = Recorder()
    owned = {"acme-dental"}
    jobs = Jobs(config, recorder, owns=lambda key: key in owned)  # type: ignore[arg-type]
    await jobs.refresh(["acme-dental", "birchwood-legal"])
    await jobs.reconcile("harvest")
    owned.clear()  # a shard lease lost: the same jobs now do nothing
    await jobs.refresh(["acme-dental", "birchwood-legal"])
    await jobs.reconcile("harvest")
    assert recorder.refreshed == [["acme-dental"]]
    assert recorder.reconciled == ["harvest"]
