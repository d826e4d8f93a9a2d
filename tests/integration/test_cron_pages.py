"""A cron client's page promises its next fire time as "next update by"."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from connectors.harvest.sandbox import HarvestSandbox
from publisher.sinks import DirectorySink
from syncd.config import load_config
from syncd.coordinator import Coordinator
from syncd.store import Store

from .conftest import Clock, demo_config


async def test_a_cron_clients_page_is_next_updated_at_its_next_fire_and_an_interval_clients_one_interval_on(
    tmp_path: Path,
) -> None:
    clock = Clock(datetime(2026, 10, 30, 12, tzinfo=timezone.utc))  # Friday; Chicago leaves DST on Sunday
    sandbox = HarvestSandbox(clock=clock)
    config = demo_config(tmp_path, sandbox)
    acme = config.root / "clients" / "acme-dental.yaml"
    acme.write_text(acme.read_text().replace("timezone: America/New_York", "timezone: America/Chicago")
                    + "refresh: {cron: '0 7 * * mon,thu'}\n")
    config = load_config(config.root, environ={"DEMO_HARVEST_URL": "http://harvest.sandbox",
                                               "DEMO_HARVEST_ACCOUNT": sandbox.account_id,
                                               "DEMO_HARVEST_TOKEN": sandbox.token})
    store = Store.open(f"sqlite:///{tmp_path / 's.db'}")
    coordinator = Coordinator(config, store, DirectorySink(tmp_path / "public"), clock=clock)
    # Monday 2 Nov, 07:00 in Chicago, which is 13:00 UTC once the clocks have gone back.
    assert coordinator.statement("acme-dental").next_update_by == datetime(2026, 11, 2, 13, tzinfo=timezone.utc)
    assert coordinator.statement("birchwood-legal").next_update_by == datetime(2026, 10, 30, 12, 0, 30,
                                                                               tzinfo=timezone.utc)
    await coordinator.aclose()
    store.close()
