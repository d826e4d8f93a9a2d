"""The long-running process: store, coordinator, scheduler, reloader and web server in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from datetime import timezone
from pathlib import Path

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from publisher.sinks import DirectorySink, Sink
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.errors import ConfigError
from syncd.push import PushReceiver
from syncd.reloader import Reloader
from syncd.scheduler import schedule_jobs
from syncd.serving import AppServer
from syncd.settings import Settings
from syncd.store import Store
from syncd.web import create_app

log = structlog.get_logger("syncd")


def with_rule_tests(load: Callable[[Path], Config]) -> Callable[[Path], Config]:
    """``load``, then every rule file's own tests: a config whose tests fail is rejected."""

    def load_and_test(folder: Path) -> Config:
        from syncd.rules.testing import rule_test_problems

        config = load(folder)
        problems = rule_test_problems(config)
        if problems:
            raise ConfigError(problems)
        return config

    return load_and_test


def open_sink(settings: Settings) -> Sink:
    """The publish target the settings name: a folder, or an S3-compatible bucket."""
    if settings.publish_target == "s3":
        if not settings.s3_bucket:
            raise ConfigError("SYNCD_PUBLISH_TARGET=s3 needs SYNCD_S3_BUCKET")
        from publisher.s3 import S3Sink

        options = {k: v for k, v in (("endpoint_url", settings.s3_endpoint_url),
                                     ("region_name", settings.s3_region)) if v}
        return S3Sink(settings.s3_bucket, prefix=settings.s3_prefix, **options)
    return DirectorySink(settings.publish_dir)


async def run_daemon(
    settings: Settings,
    config: Config,
    *,
    store: Store | None = None,
    coordinator: Coordinator | None = None,
    load: Callable[[Path], Config] = load_config,
    on_ready: Callable[[Coordinator, str], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): serve pages, refresh clients on their cadence,
    and reload the config directory on SIGHUP or when a file in it changes.

    On stop, new jobs cease, in-flight syncs finish, and connections close.
    """
    store = store or await asyncio.to_thread(Store.open, settings.database_url)
    sink = open_sink(settings)
    current = coordinator or Coordinator(config, store, sink)
    stop = stop or asyncio.Event()
    scheduler = AsyncIOScheduler(timezone=timezone.utc)

    async def apply(new_config: Config) -> None:
        nonlocal current
        old, current = current, Coordinator(new_config, store, sink)
        schedule_jobs(scheduler, new_config, current)
        await old.aclose()  # lets its in-flight syncs finish first

    reloader = Reloader(config.root, with_rule_tests(load), apply)
    loop = asyncio.get_running_loop()
    handlers = {signal.SIGTERM: stop.set, signal.SIGINT: stop.set, signal.SIGHUP: reloader.request}
    for sig, handler in handlers.items():
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, handler)

    def readiness() -> tuple[bool, str]:
        # A rejected reload does not take the pages out of service: the last good config
        # is running. /readyz says so in its body, and the reload metric counts it.
        if reloader.rejected:
            return True, f"ready; the last config reload was rejected ({len(reloader.rejected)} problems, see the log)"
        return True, "ready"

    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    push = PushReceiver(lambda: current)  # follows reloads: it always asks for the current coordinator
    app = create_app(settings.publish_dir, readiness=readiness, metrics_token=token, push=push)
    watching: asyncio.Task[None] | None = None
    try:
        async with AppServer(app, settings.http_host, settings.http_port) as server:
            schedule_jobs(scheduler, config, current)
            scheduler.start()
            watching = asyncio.create_task(reloader.run(), name="config-reload")
            # With port 0 (tests) the real address is only known now.
            base_url = settings.public_base_url(config.publish.base_url) if settings.http_port else server.url
            log.info("started", clients=len(config.clients), accounts=len(config.accounts), listen=server.url)
            if on_ready is not None:
                await on_ready(current, base_url)
            await stop.wait()
            log.info("stopping")
            scheduler.shutdown(wait=False)
    finally:
        if watching is not None:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        if scheduler.running:
            scheduler.shutdown(wait=False)
        await push.aclose()
        await current.aclose()
        await asyncio.to_thread(store.close)
        for sig in handlers:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        log.info("stopped")
