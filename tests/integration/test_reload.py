"""Reload against a running daemon: bad config is rejected and the last good one keeps running."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import httpx
from structlog.testing import capture_logs

from connectors.harvest.sandbox import HarvestSandbox
from syncd.config import load_config
from syncd.daemon import run_daemon
from syncd.serving import AppServer
from syncd.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for ``condition`` with a deadline (polling, never a blind sleep)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def labels(publish_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in publish_dir.glob("c/*/balance.json"):
        for line in json.loads(path.read_text())["lines"]:
            found.update(line["labels"])
    return found


async def test_broken_rule_files_are_rejected_and_a_good_change_is_applied(tmp_path: Path) -> None:
    sandbox = HarvestSandbox()
    sandbox.seed(now=datetime.now(timezone.utc))
    config_dir = tmp_path / "config"
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", config_dir)
    main = config_dir / "syncd.yaml"
    main.write_text(main.read_text().replace("refresh: 30s", "refresh: 1s"))
    rules = config_dir / "rules" / "standard.yaml"
    good = rules.read_text() + (
        "tests:\n"
        "  - entry: {work_type: Travel, duration: 45m}\n"
        "    expect: dropped\n")
    rules.write_text(good)
    assert "After-hours ×2" in good
    async with AppServer(sandbox.app) as server:
        env = {"DEMO_HARVEST_URL": server.url, "DEMO_HARVEST_ACCOUNT": sandbox.account_id,
               "DEMO_HARVEST_TOKEN": sandbox.token}
        load = partial(load_config, environ=env)
        settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", publish_dir=tmp_path / "public",
                            http_port=0, log_format="json")
        base: list[str] = []

        async def ready(_: object, url: str) -> None:
            base.append(url)

        stop = asyncio.Event()
        with capture_logs() as logs:
            daemon = asyncio.create_task(run_daemon(settings, load(config_dir), load=load, on_ready=ready, stop=stop))
            try:
                await until(lambda: "After-hours ×2" in labels(tmp_path / "public"), "the first pages")
                broken = {
                    "yaml error": good.replace("rules:", "rules: [", 1),
                    "unknown field": good.replace("multiply: 2", "multiply: 2\n    multiplied: 3"),
                    "bad regex": good.replace("|firewall", "|(firewall", 1),
                    "failing rule test": good.replace("work_type: [Travel]", "work_type: [Travle]", 1),
                }
                for n, (kind, text) in enumerate(broken.items(), start=1):
                    rules.write_text(text)
                    await until(lambda n=n: sum(e["event"] == "reload_rejected" for e in logs) == n, kind)
                    rejected = [e for e in logs if e["event"] == "reload_rejected"][-1]
                    assert any("standard.yaml:" in p for p in rejected["problems"]), (kind, rejected)
                async with httpx.AsyncClient(base_url=base[0]) as http:
                    readyz = await http.get("/readyz")
                assert readyz.status_code == 200 and "rejected" in readyz.text
                # The last good rules still run: a refresh after the rejections keeps the label.
                refreshed = sum(e["event"] == "sync" for e in logs)
                await until(lambda: sum(e["event"] == "sync" for e in logs) > refreshed, "a refresh")
                assert "After-hours ×2" in labels(tmp_path / "public")

                rules.write_text(good.replace("After-hours ×2", "Out of hours ×2"))
                await until(lambda: any(e["event"] == "reloaded" for e in logs), "the good reload")
                await until(lambda: "Out of hours ×2" in labels(tmp_path / "public"), "pages under the new rules")
                async with httpx.AsyncClient(base_url=base[0]) as http:
                    assert (await http.get("/readyz")).text == "ready\n"
            finally:
                stop.set()
                await asyncio.wait_for(daemon, timeout=30)
