"""Observability over a full demo run: /metrics has sensible figures, and the log no secrets."""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from syncd.demo import demo_config_dir, demo_vendors, run_demo
from syncd.logs import configure_logging
from syncd.settings import Settings
from syncd.store import Store

from .conftest import leaks

URL = re.compile(r"^(?P<name>[^:]+): (?P<url>(?P<base>http://[^/\s]+)/c/(?P<token>[A-Za-z0-9_-]+)/)$")
METRICS_TOKEN = "metrics-bearer-7d1c"


@asynccontextmanager
async def demo(folder: Path) -> AsyncIterator[list[re.Match[str]]]:
    """The demo daemon against its sandboxes, after its first full sync; yields the page URLs."""
    printed: list[str] = []
    ready, stop = asyncio.Event(), asyncio.Event()
    clients = len(list((demo_config_dir() / "clients").glob("*.yaml")))

    def echo(line: str) -> None:
        printed.append(line)
        if sum(1 for p in printed if URL.match(p)) >= clients:
            ready.set()

    settings = Settings(http_port=0, log_format="json", metrics_token=METRICS_TOKEN)
    task = asyncio.create_task(run_demo(settings, folder, once=False, echo=echo, stop=stop))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=90, return_when=asyncio.FIRST_COMPLETED)
    assert waiter in done, f"demo did not print its URLs: {printed}"
    try:
        yield [m for m in map(URL.match, printed) if m]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a /metrics answer by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def before(name: str, **labels: str) -> float:
    """A sample's value in this process before the demo ran (the registry is process-wide)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_after_a_demo_sync_have_every_figure_with_sensible_values(tmp_path: Path) -> None:
    vendors = demo_vendors(demo_config_dir())  # the demo's accounts are named after their vendors
    baseline = {v: before("syncd_syncs_total", account=v, kind="poll", outcome="ok") for v in vendors}
    publishes = sum(before("syncd_publishes_total", changed=c) for c in ("yes", "no"))
    reloads = before("syncd_config_reloads_total", outcome="applied")
    async with demo(tmp_path / "demo") as pages:
        base = pages[0]["base"]
        # A reload (SIGHUP) while it runs, so the reload outcome has something to count.
        os.kill(os.getpid(), signal.SIGHUP)
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(f"{base}/metrics", headers={"authorization": "Bearer wrong"})).status_code == 404
            for _ in range(100):  # the reload runs in the daemon's task; wait for it by its metric
                got = samples((await http.get(f"{base}/metrics",
                                              headers={"authorization": f"Bearer {METRICS_TOKEN}"})).text)
                if got.get(("syncd_config_reloads_total", frozenset({("outcome", "applied")})), 0) > reloads:
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the reload never showed in /metrics")

    def value(name: str, **labels: str) -> float:
        return got.get((name, frozenset(labels.items())), 0.0)

    store = Store.open(f"sqlite:///{tmp_path / 'demo' / 'syncd.db'}")
    keys = sorted(row for row in (store.client_for_token(p["token"]) for p in pages) if row)
    store.close()
    for vendor in vendors:
        assert value("syncd_syncs_total", account=vendor, kind="poll", outcome="ok") >= baseline[vendor] + 1
        assert value("syncd_vendor_requests_total", vendor=vendor, account=vendor) >= 1
        assert ("syncd_vendor_throttles_total", frozenset({("vendor", vendor), ("account", vendor)})) in got
        assert value("syncd_entries_fetched_total", vendor=vendor, account=vendor) >= 1
    assert sum(value("syncd_publishes_total", changed=c) for c in ("yes", "no")) >= publishes + len(keys)
    now = datetime.now(timezone.utc).timestamp()
    for key in keys:
        assert value("syncd_client_entries_published", client=key) >= 1
        assert 0 <= value("syncd_client_data_age_seconds", client=key) < 600
        assert now - 600 < value("syncd_client_data_timestamp_seconds", client=key) <= now
    dropped = {dict(labels)["rule"]: v for (name, labels), v in got.items()
               if name == "syncd_client_entries_dropped" and dict(labels).get("client") in keys}
    assert dropped and all(v >= 0 for v in dropped.values()) and sum(dropped.values()) >= 1
    assert value("syncd_config_reloads_total", outcome="applied") >= reloads + 1
    # Outcomes that did not happen read 0 rather than being absent.
    assert ("syncd_config_reloads_total", frozenset({("outcome", "rejected")})) in got
    for kind in ("webhook", "email"):
        assert ("syncd_alert_deliveries_total", frozenset({("target", kind), ("outcome", "sent")})) in got


def demo_secrets() -> set[str]:
    """The credentials the demo hands its accounts (each sandbox's own), and their like."""
    found: set[str] = set()
    for vendor in demo_vendors(demo_config_dir()):
        driver = importlib.import_module(f"connectors.{vendor}.sandbox").make_driver(
            lambda: datetime.now(timezone.utc))
        account = driver.account("http://127.0.0.1:9")
        found |= {str(v) for k, v in account.items()
                  if re.search(r"token|key|secret|password|client_id|integration_code", k)}
    return found


async def test_a_full_demo_run_logs_one_line_per_sync_and_no_secret_token_or_page_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "debug")
    try:
        async with demo(tmp_path / "demo") as pages:
            tokens = {p["token"] for p in pages}
            async with httpx.AsyncClient(timeout=10) as http:
                metrics = (await http.get(f"{pages[0]['base']}/metrics",
                                          headers={"authorization": f"Bearer {METRICS_TOKEN}"})).text
    finally:
        structlog.reset_defaults()
    log = capsys.readouterr().err
    lines = [line for line in log.splitlines() if line.startswith("{")]
    assert sum('"event": "sync"' in line for line in lines) >= len(demo_vendors(demo_config_dir()))
    assert any('"event": "published"' in line for line in lines)  # the debug lines were there to check
    credentials = demo_secrets() | {METRICS_TOKEN}
    assert len(credentials) >= 8
    # Everything the demo wrote: its database (which holds the link tokens, by design) and its pages.
    written = {str(p): p.read_bytes() for p in (tmp_path / "demo").rglob("*") if p.is_file()}
    pages_written = {p: data for p, data in written.items() if "/public/" in p}
    assert len(pages_written) == 3 * len(tokens) and any(p.endswith("syncd.db") for p in written)
    assert leaks(credentials, {"log": log, "metrics": metrics, **written}) == []
    assert leaks(tokens, {"log": log, "metrics": metrics, **pages_written}) == []
    assert "/c/" not in log.replace("/c/[redacted]", "")
