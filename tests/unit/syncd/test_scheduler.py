"""Scheduling: one refresh job per cadence, one reconcile job per account."""

from __future__ import annotations

import shutil
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from syncd.config import load_config
from syncd.scheduler import refresh_groups, schedule_jobs

ROOT = Path(__file__).resolve().parents[3]
ENV = {"DEMO_HARVEST_URL": "http://x", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}


def demo_with_refresh(tmp_path: Path, overrides: dict[str, str]):  # type: ignore[no-untyped-def]
    folder = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", folder)
    for client, refresh in overrides.items():
        path = folder / "clients" / f"{client}.yaml"
        path.write_text(path.read_text() + f"refresh: {refresh}\n")
    return load_config(folder, environ=ENV)


def test_clients_sharing_a_cadence_share_one_job(tmp_path: Path) -> None:
    config = demo_with_refresh(tmp_path, {"cobalt-logistics": "5m"})
    assert refresh_groups(config) == {
        30: ["acme-dental", "birchwood-legal", "delta-veterinary"],
        300: ["cobalt-logistics"],
    }


async def test_jobs_are_built_per_cadence_and_per_account_and_rebuilt_cleanly(tmp_path: Path) -> None:
    config = demo_with_refresh(tmp_path, {"cobalt-logistics": "5m"})

    class Recorder:
        async def refresh_clients(self, keys: list[str]) -> None: ...
        async def sync_account(self, account: str, *, reconcile: bool) -> None: ...

    scheduler = AsyncIOScheduler()
    schedule_jobs(scheduler, config, Recorder())  # type: ignore[arg-type]
    schedule_jobs(scheduler, config, Recorder())  # type: ignore[arg-type]
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"refresh:30", "refresh:300", "reconcile:harvest"}
    assert jobs["refresh:300"].args == (["cobalt-logistics"],)
    assert jobs["reconcile:harvest"].kwargs == {"reconcile": True}
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
