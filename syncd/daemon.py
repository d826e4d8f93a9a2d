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
from syncd.alerts import alert_policy
from syncd.config import Config, load_config
from syncd.coordinator import Coordinator
from syncd.errors import ConfigError
from syncd.push import PushReceiver
from syncd.reloader import Reloader
from syncd.scheduler import Jobs, schedule_jobs
from syncd.shards import Shard, ShardKeeper
from syncd.serving import AppServer
from syncd.settings import Settings
from syncd.store import Store
from syncd.web import SECURITY_HEADERS, create_app

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


CoordinatorFactory = Callable[[Config], Coordinator]


def coordinator_factory(store: Store, sink: Sink) -> CoordinatorFactory:
    """How the daemon builds a coordinator for each (re)loaded config: alerts switched on
    when the config names ``notify:`` targets."""

    def make(config: Config) -> Coordinator:
        return Coordinator(config, store, sink, alerts=alert_policy(config))

    return make


def shard_keeper(settings: Settings, store: Store) -> ShardKeeper | None:
    """The shard leases this replica keeps, when ``SYNCD_SHARD`` is set."""
    if not settings.shard:
        return None
    try:
        shard = Shard.parse(settings.shard)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    return ShardKeeper(store, shard, settings.replica_id, ttl=settings.lease_seconds)


class Runtime:
    """The scheduled side of the daemon: a coordinator and the jobs that drive it.

    A new config swaps both without dropping work: the old jobs stop firing, runs in flight
    finish (and publish) on the old coordinator, then the new jobs start.
    """

    def __init__(self, scheduler: AsyncIOScheduler, coordinator: Coordinator,
                 make_coordinator: CoordinatorFactory, keeper: ShardKeeper | None = None) -> None:
        self.scheduler = scheduler
        self.coordinator = coordinator
        self.make_coordinator = make_coordinator
        self.keeper = keeper
        self.jobs: Jobs = self._schedule(coordinator)

    def _schedule(self, coordinator: Coordinator) -> Jobs:
        return schedule_jobs(self.scheduler, coordinator.config, coordinator,
                             owns=self.keeper.owns if self.keeper else None)

    async def swap(self, config: Config) -> None:
        """Run ``config`` from now on."""
        self.scheduler.remove_all_jobs()
        await self.jobs.drain()
        old, self.coordinator = self.coordinator, self.make_coordinator(config)
        self.jobs = self._schedule(self.coordinator)
        await old.aclose()  # lets syncs started outside the jobs (pushes) finish first

    async def keep_leases(self) -> None:
        """Renew shard leases until cancelled; a gained shard's clients are refreshed at once."""
        if self.keeper is None:
            return
        await self.keeper.run(lambda: list(self.coordinator.config.clients),
                              lambda keys: self.jobs.refresh(keys))


async def run_daemon(
    settings: Settings,
    config: Config,
    *,
    store: Store | None = None,
    coordinator: Coordinator | None = None,
    make_coordinator: CoordinatorFactory | None = None,
    load: Callable[[Path], Config] = load_config,
    on_ready: Callable[[Coordinator, str], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): serve pages, refresh clients on their cadence,
    and reload the config directory on SIGHUP or when a file in it changes.

    On stop, new jobs cease, in-flight syncs finish, shard leases are handed back, and
    connections close. Cancelled instead (as if killed), leases are left to expire.
    """
    store = store or await asyncio.to_thread(Store.open, settings.database_url)
    sink = open_sink(settings)
    make_coordinator = make_coordinator or coordinator_factory(store, sink)
    keeper = shard_keeper(settings, store)
    stop = stop or asyncio.Event()
    scheduler = AsyncIOScheduler(timezone=timezone.utc)
    runtime: Runtime | None = None

    async def apply(new_config: Config) -> None:
        assert runtime is not None
        await runtime.swap(new_config)

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

    def current() -> Coordinator:
        assert runtime is not None  # made before the server takes its first request
        return runtime.coordinator

    push = PushReceiver(current)  # follows reloads: it always asks for the current coordinator
    app = create_app(settings.publish_dir, readiness=readiness, metrics_token=token, push=push)
    tasks: list[asyncio.Task[None]] = []
    try:
        if keeper is not None:
            await keeper.renew()  # know our shards before the first jobs fire
        runtime = Runtime(scheduler, coordinator or make_coordinator(config), make_coordinator, keeper)
        async with AppServer(app, settings.http_host, settings.http_port,
                             error_headers=SECURITY_HEADERS) as server:
            scheduler.start()
            tasks = [asyncio.create_task(reloader.run(), name="config-reload"),
                     asyncio.create_task(runtime.keep_leases(), name="shard-leases")]
            # With port 0 (tests) the real address is only known now.
            base_url = settings.public_base_url(config.publish.base_url) if settings.http_port else server.url
            log.info("started", clients=len(config.clients), accounts=len(config.accounts), listen=server.url,
                     shard=settings.shard)
            if on_ready is not None:
                await on_ready(runtime.coordinator, base_url)
            await stop.wait()
            log.info("stopping")
            scheduler.shutdown(wait=False)
            for task in tasks:
                task.cancel()
            await runtime.jobs.drain()
            if keeper is not None:
                await keeper.release()
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if scheduler.running:
            scheduler.shutdown(wait=False)
        await push.aclose()
        if runtime is not None:
            await runtime.coordinator.aclose()
        elif coordinator is not None:
            await coordinator.aclose()
        await asyncio.to_thread(store.close)
        for sig in handlers:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        log.info("stopped")
