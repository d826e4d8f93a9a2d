"""The coordinator: single-flight account syncs, per-client refreshes and freshness bookkeeping."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from connectors.base import ClientRoute, Connector, ReplacingPage
from connectors.registry import open_connector
from publisher.render import render
from publisher.sinks import Sink
from syncd import events
from syncd.alerts import AlertPolicy, crossed_thresholds, low_balance_alert, source_alert
from syncd.cadence import Cadence
from syncd.config import ClientSpec, Config
from syncd.errors import AuthError, ConnectorError, RateLimited
from syncd.ledger import build_statement, read_from, reconcile_window
from syncd.quota import AccountBudget, Decision, hourly, next_run_after
from syncd.models import SourceFreshness, Statement, TimeEntry
from syncd.rules.engine import CompiledRules, RuleContext, apply_rules, compile_rules
from syncd.store import Applied, SourceStatus, Store, SyncRun

log = structlog.get_logger("syncd")

Clock = Callable[[], datetime]
ConnectorFactory = Callable[..., Connector]
_Work = Callable[[str, Connector, datetime, Applied, "_Read"], Awaitable[None]]

# A reconcile that would delete more than this share of what we hold in the window, or a
# listing that comes back empty while we hold entries, is refused: vendors do answer
# "nothing" by mistake, and a wiped ledger is worse than a late deletion.
RECONCILE_MAX_SHARE = 0.9
RECONCILE_MIN_HELD = 3
AUTH_RETRY = timedelta(hours=1)
# Pages published at once by one pass: one renders while another waits for fsync (or S3).
# More buys nothing on two cores (rendering holds the GIL) and slows the page server's
# answers while a pass runs (measured: p99 about 80 ms with two, 130-150 ms with four).
PUBLISH_CONCURRENCY = 2
STALE_AFTER_INTERVALS = 3


def source_is_stale(status: SourceStatus, refresh: float, now: datetime) -> bool:
    """Whether a source makes its clients' pages stale: failing for longer than three refresh
    intervals (a blip the next refresh may cure is not worth a banner), or refused credentials,
    which no refresh cures until a human acts."""
    if status.last_outcome == AuthError.kind:
        return True
    if status.failing_since is None:
        return False
    return (now - status.failing_since).total_seconds() > STALE_AFTER_INTERVALS * refresh


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class SyncOutcome:
    """What one account sync did."""

    account: str
    ok: bool
    touched: set[str] = field(default_factory=set)
    skipped: bool = False
    error: ConnectorError | None = None
    deferred: bool = False  # skipped because the account's hourly budget would not stretch to it


@dataclass
class _Read:
    """How many entries one step (poll or reconcile) has read so far: kept when it fails half-way,
    so its run says what was read and committed before the failure."""

    entries: int = 0


@dataclass
class _Account:
    connector: Connector
    display_name: str
    budget: AccountBudget
    asked_every: float  # the shortest refresh among the account's clients
    inflight: asyncio.Task[SyncOutcome] | None = None
    last_success: datetime | None = None
    failing: str | None = None  # the error kind while failing
    not_before: datetime | None = None


@dataclass(frozen=True)
class Published:
    """A client page that was rendered: where it lives and whether its bytes changed.

    ``token`` is None for a client whose link is revoked: its page was built but not written.
    """

    client_key: str
    token: str | None
    changed: bool
    statement: Statement


class Coordinator:
    """Keeps every account's entries current in the store and every client's page published.

    Account syncs are single-flight: concurrent asks for one account share one fetch. A
    client refresh asks each of its accounts for data no older than a few seconds, then
    republishes. After any sync, every configured client whose lines changed is republished.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        sink: Sink,
        *,
        clock: Clock = utcnow,
        connector_factory: ConnectorFactory = open_connector,
        progress: Callable[[str, int], None] | None = None,
        alerts: AlertPolicy | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sink = sink
        self.clock = clock
        self.progress = progress
        self.alerts = alerts
        self._accounts: dict[str, _Account] = {}
        for name, settings in config.accounts.items():
            routes = [ClientRoute(c.key, sel) for c, sel in config.clients_of(name)]
            connector = connector_factory(name, settings, routes, default_timezone=config.defaults.timezone)
            per_hour = settings.hourly_budget or hourly(type(connector).budget_for(settings))
            asked = min((c.refresh for c, _ in config.clients_of(name)), default=3600)
            self._accounts[name] = _Account(connector, connector.display_name, AccountBudget(per_hour), asked)
        self._rules: dict[str, CompiledRules] = {
            key: compile_rules(config.rules_for(key)) for key in config.clients
        }
        # One publish of a client at a time: two of its accounts synced at once would otherwise
        # render side by side, and the one that read the store first could write last.
        self._publishing: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        """Wait for in-flight syncs, then close every connector."""
        pending = [a.inflight for a in self._accounts.values() if a.inflight and not a.inflight.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        for account in self._accounts.values():
            await account.connector.aclose()

    # --- accounts --------------------------------------------------------------------

    def accounts_of(self, client_key: str) -> list[str]:
        """The accounts a client reads, in its file's order, without repeats."""
        return list(dict.fromkeys(s.account for s in self.config.clients[client_key].sources))

    async def sync_account(
        self, account: str, *, max_age: float = 0.0, reconcile: bool | None = None, publish: bool = True,
        paced: bool = True,
    ) -> SyncOutcome:
        """Bring ``account`` up to date unless it synced in the last ``max_age`` seconds.

        Concurrent calls share one fetch. ``reconcile`` True asks for a re-list of the open
        window (deletions), False skips it, None runs it when it is due; either way only
        when the account's hourly budget leaves reconciles their share. With ``publish``,
        every client whose lines changed is republished at once. A sync the hourly budget
        cannot pay for now is deferred (``paced`` False, for a pushed change, skips only the
        pacing, never the hour's ceiling).
        """
        state = self._accounts[account]
        if state.inflight is not None and not state.inflight.done():
            return await asyncio.shield(state.inflight)
        now = self.clock()
        if state.not_before is not None and now < state.not_before:
            # The vendor asked us to wait (or refused our credentials): no job, not even a
            # scheduled reconcile, calls it before then.
            return SyncOutcome(account, ok=False, skipped=True)
        if max_age > 0 and await self._fresh_enough(account, state, now, max_age):
            return SyncOutcome(account, ok=True, skipped=True)
        decision = state.budget.may_poll(now, paced=paced, vendor=state.connector.http.quota,
                                         vendor_now=state.connector.http.monotonic())
        self._note_budget(account, state, decision, paced)
        if not decision.allowed:
            return SyncOutcome(account, ok=True, skipped=True, deferred=True)
        state.inflight = asyncio.create_task(self._sync(account, state, reconcile, max_age), name=f"sync:{account}")
        outcome = await asyncio.shield(state.inflight)
        if publish and outcome.touched:
            await self._republish(outcome.touched)
        return outcome

    def _note_budget(self, account: str, state: _Account, decision: Decision, paced: bool) -> None:
        """Count a deferral; log once when refreshes start being stretched and once when they stop."""
        budget = state.budget
        if not decision.allowed:
            events.refresh_deferred(account, decision.reason)
            if not budget.stretched:
                budget.stretched = True
                events.refresh_stretched(account, budget.per_hour, state.asked_every,
                                         max(budget.poll_interval, state.asked_every))
        elif paced and budget.stretched and budget.poll_interval <= state.asked_every:
            budget.stretched = False
            events.refresh_restored(account, budget.per_hour, state.asked_every)

    async def _fresh_enough(self, account: str, state: _Account, now: datetime, max_age: float) -> bool:
        last = state.last_success
        if last is None or (now - last).total_seconds() > max_age:
            # Another replica sharing the database may have read the account just now.
            last = (await asyncio.to_thread(self.store.source_status, account)).last_success_at
        return last is not None and (now - last).total_seconds() <= max_age

    async def _sync(self, account: str, state: _Account, reconcile: bool | None, max_age: float) -> SyncOutcome:
        lock = await asyncio.to_thread(self.store.try_lock_account, account)
        if lock is None:
            # Another replica is syncing this account right now; its data lands in the
            # shared store, which our pages are built from.
            return SyncOutcome(account, ok=True, skipped=True)
        try:
            # Checked again under the lock: another replica may have finished a sync
            # between our first look and our taking the lock.
            if max_age > 0 and await self._fresh_enough(account, state, self.clock(), max_age):
                return SyncOutcome(account, ok=True, skipped=True)
            return await self._sync_locked(account, state, reconcile)
        finally:
            await asyncio.to_thread(lock.release)

    async def _sync_locked(self, account: str, state: _Account, reconcile: bool | None) -> SyncOutcome:
        started = self.clock()
        first_read = await asyncio.to_thread(self._holds_nothing, account)
        applied, error = await self._step(account, "poll", self._poll)
        relists = self._accounts[account].connector.lists_window
        wanted = relists and (reconcile or (reconcile is None and await self._reconcile_due(account, started)))
        if error is None and wanted and first_read:
            # Everything held came from the listing just read: a re-list now could only
            # find what was deleted in the last seconds, which the next reconcile finds.
            await asyncio.to_thread(self.store.mark_reconciled, account, now=started)
        elif error is None and wanted and state.budget.may_reconcile(self.clock()):
            more, error = await self._step(account, "reconcile", self._reconcile)
            applied |= more
        touched = applied.clients & set(self.config.clients)
        if error is not None:
            outcome = self._failed(account, state, error, started, touched)
            await self._alert_failing(account, error, started)
            return outcome
        if state.failing:
            events.source_recovered(account)
        state.failing, state.not_before, state.last_success = None, None, started
        await self._alert_recovered(account)
        return SyncOutcome(account, ok=True, touched=touched)

    async def _alert_failing(self, account: str, err: ConnectorError, now: datetime) -> None:
        """Refused credentials alert at once; other failures once they have lasted a while."""
        if self.alerts is None or not self.alerts.source_targets:
            return
        since = (await asyncio.to_thread(self.store.source_status, account)).failing_since or now
        if not isinstance(err, AuthError) and (now - since).total_seconds() < self.alerts.failing_after:
            return
        if await asyncio.to_thread(self.store.claim_alert, account, "source_failing", "current", now=now):
            alert = source_alert(account, self._accounts[account].display_name, failing=True, kind=err.kind,
                                 since=since.strftime("%Y-%m-%d %H:%M UTC"))
            await self.alerts.notifier.notify(alert, self.alerts.source_targets)

    async def _alert_recovered(self, account: str) -> None:
        if self.alerts is None or not self.alerts.source_targets:
            return
        if await asyncio.to_thread(self.store.release_alert, account, "source_failing", "current"):
            alert = source_alert(account, self._accounts[account].display_name, failing=False)
            await self.alerts.notifier.notify(alert, self.alerts.source_targets)

    async def _alert_low_balance(self, client: ClientSpec, statement: Statement, now: datetime) -> None:
        """Each threshold fires once per cycle per client (remembered in the store); when
        several are crossed at once, only the highest is sent."""
        targets = client.retainer.alerts.notify
        if self.alerts is None or not targets:
            return
        fresh = [t for t in crossed_thresholds(statement, client.retainer.alerts.at_percent)
                 if await asyncio.to_thread(self.store.claim_alert, client.key, "low_balance",
                                            f"{statement.cycle.start.isoformat()}:{t}", now=now)]
        if fresh:
            await self.alerts.notifier.notify(low_balance_alert(statement, max(fresh)), targets)

    async def _step(self, account: str, kind: str, work: _Work) -> tuple[Applied, ConnectorError | None]:
        """Run one part of a sync (poll or reconcile) and record it as its own run."""
        connector = self._accounts[account].connector
        started = self.clock()
        before, throttled = connector.http.requests, connector.http.throttles
        applied, read = Applied(), _Read()
        error = None
        try:
            await work(account, connector, started, applied, read)
        except ConnectorError as err:
            error = err
        run = SyncRun(account, kind, started, self.clock(), "ok" if error is None else error.kind,
                      connector.http.requests - before, read.entries, applied.changed,
                      None if error is None else str(error))
        self._accounts[account].budget.spent(started, run.requests, kind)
        await asyncio.to_thread(self.store.record_run, run)
        events.sync_finished(run, clients=len(applied.clients & set(self.config.clients)),
                             vendor=self.config.accounts[account].vendor,
                             throttles=connector.http.throttles - throttled)
        return applied, error

    async def _poll(self, account: str, connector: Connector, started: datetime, applied: Applied,
                    read: _Read) -> None:
        """Read what changed since the cursor (minus the lookback) and upsert it page by page.

        Pages are stored in order, one at a time, while the next one is already being read:
        a backfill of many pages waits for the vendor and for the database side by side
        rather than in turn. A failure still leaves every page before it stored.
        """
        cursor = await asyncio.to_thread(self.store.cursor, account)
        since = cursor - timedelta(seconds=connector.settings.lookback) if cursor else None
        newest: datetime | None = None
        storing: asyncio.Future[Applied] | None = None
        try:
            async for page in connector.changes(since, self._backfill_from(account, started)):
                read.entries += len(page)
                if storing is not None:
                    applied |= await storing
                storing = asyncio.ensure_future(asyncio.to_thread(self.apply_page, account, page, started))
                if page:
                    top = max(e.updated_at for e in page)
                    newest = top if newest is None or top > newest else newest
                if self.progress:
                    self.progress(account, read.entries)
            if storing is not None:
                stored, storing = storing, None
                applied |= await stored
        finally:
            if storing is not None:
                # Reading failed (or we were cancelled) while a page was being stored: that
                # write finishes either way, and the clients it changed are republished.
                await asyncio.wait([storing])
                if not storing.cancelled() and storing.exception() is None:
                    applied |= storing.result()
        # The cursor moves only now that every page is committed, to the newest last-update
        # the vendor stamped on what we read (after a backfill too: a vendor whose clock runs
        # behind ours stamps later work before our start, so our own clock would skip it), and
        # never past the sync's start: an entry edited while we paged is re-read next time.
        # A backfill that read nothing leaves no cursor, and the next poll backfills again.
        if newest is not None:
            await asyncio.to_thread(self.store.advance_cursor, account, min(newest, started), now=started)

    def apply_page(self, account: str, page: list[TimeEntry], now: datetime) -> Applied:
        """Store one page (blocking). A page that replaces a period of its source is stored in
        one transaction, and its ``on_commit`` (a drop folder archiving its file) runs after."""
        if not isinstance(page, ReplacingPage):
            return self.store.apply_entries(account, page, now=now)
        r = page.replaces
        applied = self.store.replace_period(account, page, scope=r.scope, start=r.start, end=r.end, now=now)
        page.on_commit()
        return applied

    def _failed(self, account: str, state: _Account, err: ConnectorError, started: datetime,
                touched: set[str]) -> SyncOutcome:
        was = state.failing
        if was != err.kind:
            events.source_failed(account, err.kind, str(err))
        state.failing = err.kind
        if isinstance(err, AuthError):
            # A human must act: stop polling; try again only rarely in case it was fixed upstream.
            state.not_before = started + AUTH_RETRY
        elif isinstance(err, RateLimited):
            state.not_before = started + timedelta(seconds=err.retry_after or 60)
        affected = set(touched)
        if was is None:
            # The transition to failing changes what the pages must say (stale), so every
            # client of the account is republished once from its last good data.
            affected |= {c.key for c, _ in self.config.clients_of(account)}
        return SyncOutcome(account, ok=False, touched=affected, error=err)

    def _holds_nothing(self, account: str) -> bool:
        """Whether the account was never read and nothing of it is stored (blocking)."""
        return self.store.cursor(account) is None and self.store.count_entries(account) == 0

    def _backfill_from(self, account: str, now: datetime) -> date:
        starts = [
            read_from(client.retainer, client.timezone, now.astimezone(ZoneInfo(client.timezone)).date())
            for client, _ in self.config.clients_of(account)
        ]
        return min(starts, default=now.date()) - timedelta(days=1)

    async def _reconcile_due(self, account: str, now: datetime) -> bool:
        last = await asyncio.to_thread(self.store.reconciled_at, account)
        every = self._accounts[account].connector.settings.reconcile_every
        return last is None or (now - last).total_seconds() >= every

    async def _reconcile(self, account: str, connector: Connector, now: datetime, applied: Applied,
                         read: _Read) -> None:
        """Re-list the open window; entries we hold that the vendor no longer lists are deleted."""
        windows = [
            reconcile_window(c.retainer.cycle, c.timezone, now.astimezone(ZoneInfo(c.timezone)).date())
            for c, _ in self.config.clients_of(account)
        ]
        if not windows:
            return
        # A day of slack either side: vendor work dates and client-local dates can differ by one.
        start = min(w[0] for w in windows) - timedelta(days=1)
        end = max(w[1] for w in windows) + timedelta(days=1)
        listed: set[str] = set()
        async for page in connector.window(start, end):
            listed.update(e.vendor_id for e in page)
            read.entries = len(listed)
            applied |= await asyncio.to_thread(self.store.apply_entries, account, page, now=now)
        held = await asyncio.to_thread(self.store.live_ids, account, start, end)
        missing = held - listed
        if missing and (
            (not listed and len(held) >= RECONCILE_MIN_HELD)
            or (len(held) >= 20 and len(missing) > RECONCILE_MAX_SHARE * len(held))
        ):
            events.reconcile_refused(account, listed=len(listed), held=len(held))
        elif missing:
            applied |= await asyncio.to_thread(self.store.mark_deleted, account, missing, now=now)
        await asyncio.to_thread(self.store.mark_reconciled, account, now=now)

    # --- pushed changes -----------------------------------------------------------------

    def connector(self, account: str) -> Connector:
        """The account's connector: a push receiver reads events with its cached names."""
        return self._accounts[account].connector

    async def apply_pushed(self, account: str, pushed: list[TimeEntry]) -> set[str]:
        """Apply entries a vendor pushed (no request sent) and republish the clients they change.

        Deliveries come twice and out of order: an entry older than the copy we hold is
        ignored, and one we already hold unchanged changes nothing. A deletion (a tombstone
        or a reconcile, which keeps the entry's updated-at) outranks a delivery of the same
        version, so an old delivery replayed cannot bring a deleted entry back.
        """
        held = await asyncio.to_thread(self.store.updated_at_of, account, [e.vendor_id for e in pushed])

        def newer(entry: TimeEntry) -> bool:
            if entry.vendor_id not in held:
                return True
            updated_at, deleted = held[entry.vendor_id]
            return entry.updated_at > updated_at or (entry.updated_at == updated_at and not deleted)

        newer_entries = [e for e in pushed if newer(e)]
        if not newer_entries:
            return set()
        return await self._republish_applied(
            await asyncio.to_thread(self.store.apply_entries, account, newer_entries, now=self.clock()))

    async def confirm_deleted(self, account: str, vendor_ids: set[str]) -> set[str]:
        """Mark deleted the entries the vendor, asked one by one, no longer has; republish."""
        connector = self._accounts[account].connector
        entry_gone = getattr(connector, "entry_gone", None)
        if entry_gone is None or not vendor_ids:
            return set()
        before = connector.http.requests
        gone = {v for v in sorted(vendor_ids) if await entry_gone(v)}
        self._accounts[account].budget.spent(self.clock(), connector.http.requests - before, "confirm")
        if not gone:
            return set()
        return await self._republish_applied(
            await asyncio.to_thread(self.store.mark_deleted, account, gone, now=self.clock()))

    async def _republish_applied(self, applied: Applied) -> set[str]:
        touched = applied.clients & set(self.config.clients)
        await self._republish(touched)
        return touched

    # --- clients ---------------------------------------------------------------------

    async def refresh_client(self, client_key: str, *, max_age: float = 5.0) -> Published:
        """One client's refresh: fresh-enough data from each of its accounts, then a new page."""
        return (await self.refresh_clients([client_key], max_age=max_age))[0]

    async def refresh_clients(self, client_keys: list[str], *, max_age: float = 5.0) -> list[Published]:
        """A scheduled refresh of several clients: each account they read is synced once
        (unless it synced in the last ``max_age`` seconds), then every one is republished
        with a new stamp, as is any other client whose lines the syncs changed."""
        accounts = list(dict.fromkeys(a for key in client_keys for a in self.accounts_of(key)))
        touched: set[str] = set()
        for account in accounts:
            touched |= (await self.sync_account(account, max_age=max_age, publish=False)).touched
        await self._republish(touched - set(client_keys))
        return await self._publish_each(client_keys)

    async def _republish(self, client_keys: set[str]) -> None:
        await self._publish_each([key for key in sorted(client_keys) if key in self.config.clients])

    async def _publish_each(self, client_keys: list[str]) -> list[Published]:
        """Publish these clients' pages, two at a time: one page's wait for the disk (or the
        bucket) overlaps the next page's rendering. Every page is attempted; the first
        failure, if any, is raised once all are done."""
        gate = asyncio.Semaphore(PUBLISH_CONCURRENCY)

        async def one(key: str) -> Published:
            async with gate:
                return await self.publish_client(key)

        results = await asyncio.gather(*(one(key) for key in client_keys), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]

    def source_freshness(self, client: ClientSpec, now: datetime) -> tuple[list[SourceFreshness], bool]:
        """What the page says of each source, and whether the page is stale."""
        sources, stale = [], False
        for account in self.accounts_of(client.key):
            status = self.store.source_status(account)
            state = self._accounts[account]
            data_through = status.last_success_at
            sources.append(SourceFreshness(state.display_name, data_through, status.failing, status.failing_since))
            stale = stale or source_is_stale(status, client.refresh, now)
        return sources, stale

    def next_update_by(self, client_key: str, now: datetime) -> datetime:
        """When the client's page will next hold newly read data: its next refresh at which
        every account it reads may be polled (the hourly budget, a vendor's wait) again."""
        client = self.config.clients[client_key]
        ready = now
        for account in self.accounts_of(client_key):
            state = self._accounts[account]
            http = state.connector.http
            ready = max(ready, state.budget.next_poll_at(now, vendor=http.quota, vendor_now=http.monotonic()))
            if state.not_before is not None:
                ready = max(ready, state.not_before)
        if client.cron:
            return Cadence.of(client).next_after(ready)
        return next_run_after(now, client.refresh, ready)

    def statement(self, client_key: str, *, now: datetime | None = None,
                  next_update_by: datetime | None = None) -> Statement:
        """Build a client's statement from the store (no I/O beyond the database)."""
        now = now or self.clock()
        client = self.config.clients[client_key]
        today = now.astimezone(ZoneInfo(client.timezone)).date()
        since = read_from(client.retainer, client.timezone, today) - timedelta(days=1)
        accounts = self.accounts_of(client_key)
        entries: list[TimeEntry] = self.store.entries_for_client(client_key, since)
        names = self.store.worker_names(accounts) | set(self.config.technicians) | set(client.technicians)
        ctx = RuleContext(client.timezone, client.retainer.default_pool, frozenset(names),
                          account_vendors={a: self.config.accounts[a].vendor for a in accounts})
        result = apply_rules(entries, self._rules[client_key], ctx)
        events.rules_applied(client_key, len(result.lines), [d.rule for d in result.dropped])
        sources, stale = self.source_freshness(client, now)
        return build_statement(
            result.lines,
            client_key=client_key,
            client_name=client.name,
            retainer=client.retainer,
            timezone=client.timezone,
            now=now,
            sources=sources,
            next_update_by=next_update_by or Cadence.of(client).next_after(now),
            stale=stale,
            locale=client.locale,
        )

    async def publish_client(self, client_key: str) -> Published:
        """Render the client's page from the store and write it; unchanged bytes stay as they are.

        Publishes of one client queue behind each other, so the page written last is always
        built from the store as it was last read."""
        async with self._publishing.setdefault(client_key, asyncio.Lock()):
            return await self._publish(client_key)

    async def _publish(self, client_key: str) -> Published:
        now = self.clock()
        # Read here, in the loop that owns the budgets, not in the worker thread.
        next_update = self.next_update_by(client_key, now)
        statement = await asyncio.to_thread(self.statement, client_key, now=now, next_update_by=next_update)
        # Rendering takes tens of milliseconds of CPU: off the loop, so the page server
        # keeps answering while a pass publishes many pages.
        files = await asyncio.to_thread(render, statement)
        token = await asyncio.to_thread(self.store.token_for, client_key, now=now)
        changed = False
        # A revoked client (`syncd links revoke`) gets no page until its link is rotated.
        if token is not None:
            changed = await asyncio.to_thread(self.sink.write, token, files)
            if await asyncio.to_thread(self.store.client_for_token, token) is None:
                # Rotated or revoked while this was written, perhaps after the CLI removed the
                # old files: take down what was just written, so an old link never comes back.
                await asyncio.to_thread(self.sink.remove, token)
                token, changed = None, False
        if token is not None:
            digest = hashlib.sha256(b"".join(files[k] for k in sorted(files))).hexdigest()
            await asyncio.to_thread(self.store.record_publish, client_key, token, digest, now=now,
                                    stale=statement.stale)
            through = [s.data_through for s in statement.sources if s.data_through]
            events.published(client_key, changed, statement.stale, min(through).timestamp() if through else None)
        await self._alert_low_balance(self.config.clients[client_key], statement, now)
        return Published(client_key, token, changed, statement)

    async def sync_all(self, *, reconcile: bool | None = None, clients: list[str] | None = None) -> dict[str, SyncOutcome]:
        """One pass: sync every account (of ``clients``, or all), then publish those clients."""
        keys = clients or list(self.config.clients)
        accounts = list(dict.fromkeys(a for k in keys for a in self.accounts_of(k)))
        outcomes = {}
        for account in accounts:
            outcomes[account] = await self.sync_account(account, reconcile=reconcile, publish=False)
        touched = {k for o in outcomes.values() for k in o.touched}
        await self._publish_each(list(dict.fromkeys([*keys, *sorted(touched - set(keys))])))
        return outcomes

    def page_url(self, base_url: str, token: str) -> str:
        """The public address of a client's page."""
        return f"{base_url.rstrip('/')}/c/{token}/"

    def account_state(self, account: str) -> dict[str, Any]:
        """In-memory state of an account, for diagnostics and tests."""
        state = self._accounts[account]
        return {"failing": state.failing, "not_before": state.not_before, "last_success": state.last_success,
                "budget": state.budget}
