"""The long-running process: store, coordinator, scheduler and web server in one event loop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from datetime import timezone

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from publisher.sinks import DirectorySink
from syncd.config import Config
from syncd.coordinator import Coordinator
from syncd.scheduler import schedule_jobs
from syncd.serving import AppServer
from syncd.settings import Settings
from syncd.store import Store
from syncd.web import create_app

log = structlog.get_logger("syncd")


async def run_daemon(
    settings: Settings,
    config: Config,
    *,
    store: Store | None = None,
    coordinator: Coordinator | None = None,
    on_ready: Callable[[Coordinator, str], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): serve pages, refresh clients on their cadence.

    On stop, new jobs cease, in-flight syncs finish, and connections close.
    """
    store = store or await asyncio.to_thread(Store.open, settings.database_url)
    sink = DirectorySink(settings.publish_dir)
    coordinator = coordinator or Coordinator(config, store, sink)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    app = create_app(settings.publish_dir, ready=lambda: True, metrics_token=token)
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    try:
        async with AppServer(app, settings.http_host, settings.http_port) as server:
            schedule_jobs(scheduler, config, coordinator)
            scheduler.start()
            # With port 0 (tests) the real address is only known now.
            base_url = settings.public_base_url(config.publish.base_url) if settings.http_port else server.url
            log.info("started", clients=len(config.clients), accounts=len(config.accounts), listen=server.url)
            if on_ready is not None:
                await on_ready(coordinator, base_url)
            await stop.wait()
            log.info("stopping")
            scheduler.shutdown(wait=False)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        await coordinator.aclose()
        await asyncio.to_thread(store.close)
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.remove_signal_handler(sig)
            except (NotImplementedError, RuntimeError):
                pass
        log.info("stopped")
