"""A fault scene: a good first read, upstream work while a fault lasts, and what the pages, logs,
cursor and ledger must show before, during and after it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import func, select
from structlog.testing import capture_logs

from connectors.registry import open_connector
from publisher.sinks import DirectorySink
from syncd.coordinator import STALE_AFTER_INTERVALS, Coordinator
from syncd.store import Store, entries

from .conftest import ACCOUNT, Contract, transport_to

INTERVAL = timedelta(minutes=15)  # every contract client refreshes every 15 minutes
OBSERVED = "c0"  # the client whose page is watched; the work done during a fault goes to c1
BATCHED = "c2"  # the client whose big batch of new work makes the next poll span several pages
BANNER = '<div class="banner" role="status">'
# Three refresh intervals and a minute after the first failed refresh: the page must say stale.
STALE_BY = STALE_AFTER_INTERVALS * INTERVAL + timedelta(minutes=1)

# One client's ledger as a fresh read would build it: its lines as (vendor id, hours charged),
# each pool's used hours this cycle, and each past cycle's used hours.
Ledger = dict[str, tuple[Counter[tuple[str, Decimal]], tuple[tuple[str, Decimal], ...], tuple[Any, ...]]]


def ledger_of(coordinator: Coordinator) -> Ledger:
    """Every client's lines and totals as ``coordinator`` would publish them now."""
    ledger: Ledger = {}
    for key in sorted(coordinator.config.clients):
        statement = coordinator.statement(key)
        ledger[key] = (
            Counter((line.source[1], line.hours_charged) for line in statement.lines),
            tuple((p.name, p.used) for p in statement.pools),
            tuple((h.start, h.used) for h in statement.history),
        )
    return ledger


def section(html: str, heading: str) -> str:
    """The page section labelled by ``heading`` (e.g. "balance-h", "log-h")."""
    found = re.search(rf'<section class="card" aria-labelledby="{heading}">.*?</section>', html, re.S)
    assert found is not None, f"the page has no {heading} section"
    return found.group(0)


@dataclass(frozen=True)
class Page:
    """What a client's published page says: balance.json's lines and pools, and index.html."""

    lines: list[dict[str, Any]]
    pools: list[dict[str, Any]]
    stale: bool
    html: str

    def same_figures(self, other: Page) -> bool:
        """Same lines and totals, in the JSON and in the HTML's balance and work-log sections."""
        return (self.lines, self.pools) == (other.lines, other.pools) and all(
            section(self.html, h) == section(other.html, h) for h in ("balance-h", "log-h"))


@dataclass
class Scene:
    """A contract rig driven through one fault, with what it saw along the way."""

    c: Contract
    good: Page | None = None
    edited: list[str] = field(default_factory=list)  # client 1's older entries, corrected during the fault
    batch: list[str] = field(default_factory=list)  # vendor ids of the work logged after the first read
    logs: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    counter: Callable[[], int] | None = None  # what counts the source being asked; default: its requests
    before_reference: Callable[[], None] = lambda: None  # e.g. a folder's fresh export

    def asked(self) -> int:
        return (self.counter or self.c.driver.requests)()

    @property
    def now(self) -> datetime:
        return self.c.clock.now

    def page(self, client: str = OBSERVED) -> Page:
        token = self.c.store.token_for(client, now=self.now)
        balance = self.c.balance(client)
        html = (self.c.sink.read(token, "index.html") or b"").decode("utf-8")
        return Page(balance["lines"], balance["pools"], balance["stale"], html)

    def cursor(self) -> datetime | None:
        return self.c.store.cursor(ACCOUNT)

    def failing(self) -> str | None:
        """The error kind while the account is failing, else None."""
        state: str | None = self.c.coordinator.account_state(ACCOUNT)["failing"]
        return state

    async def settle(self, *, bulk_pages: int = 1) -> None:
        """The good first read (backfill and reconcile), every page published, the observed one
        kept as the last good page; then enough new work for client 2 that the next poll spans
        ``bulk_pages`` listing pages."""
        outcome = await self.c.coordinator.sync_account(ACCOUNT, reconcile=True)
        assert outcome.ok, outcome.error
        await self.c.coordinator.publish_client(OBSERVED)
        self.good = self.page()
        assert self.good.lines and not self.good.stale
        held = sorted((e.vendor_id for e in self.c.store.entries_for_client("c1", self.now.date() - timedelta(days=60))
                       if not e.vendor_id.endswith(":travel")), key=lambda v: (len(v), v))
        self.edited = held[:3]
        self.c.clock.advance(minutes=1)
        if bulk_pages > 1:
            # Dated in the previous cycle: the polls page through them all the same (they are
            # listed by last update), while the pages show them as that cycle's total only.
            size, day = self.c.driver.max_page_size, self.now.date() - timedelta(days=25)
            self.batch = [self.c.driver.add_entry(2, hours=0.25, notes=f"Batch job {i}", day=day,
                                                  start=time(7, 0))
                          for i in range((bulk_pages - 1) * size + 1)]
            self.c.clock.advance(minutes=1)

    def work(self) -> None:
        """What technicians do meanwhile: new work for client 1, and a correction to one of its
        older entries (its new last-update puts it among the first a keyset reads)."""
        self.steps += 1
        day = self.now.date()
        self.c.driver.add_entry(1, hours=0.5, notes=f"Fault-time work {self.steps}", day=day,
                                start=time(8 + self.steps % 8, 0))
        self.c.driver.add_entry(1, hours=1.25, notes=f"Fault-time visit {self.steps}", day=day,
                                start=time(9 + self.steps % 8, 30))
        self.c.driver.edit_entry(self.edited[self.steps % len(self.edited)], hours=1.75 + 0.25 * self.steps)

    async def refresh_at(self, when: datetime) -> None:
        """The watched client's scheduled refresh at ``when`` (or now, if retries already ran past
        it), as Coordinator.refresh_clients runs it but without the hourly deletion reconcile: what
        a fault costs must be repaired by the polls themselves, not by the next re-list. It must
        never raise: the daemon stays up whatever the vendor does."""
        self.c.clock.now = max(self.c.clock.now, when)
        coordinator = self.c.coordinator
        outcome = await coordinator.sync_account(ACCOUNT, max_age=5.0, reconcile=False, publish=False)
        for key in sorted(outcome.touched - {OBSERVED}):
            await coordinator.publish_client(key)
        await coordinator.publish_client(OBSERVED)

    async def recover(self, *, within: timedelta = timedelta(hours=3)) -> None:
        """Refresh every interval until the account reads again (a vendor's wait or the hour
        refused credentials sit out may defer the first tries)."""
        deadline = self.now + within
        while self.failing() is not None:
            assert self.now < deadline, f"still failing ({self.failing()}) {within} after the fault cleared"
            self.work()
            await self.refresh_at(self.now + INTERVAL)

    async def ride_out(self, arm: Callable[[], None], clear: Callable[[], None], *, kind: str,
                       stale_at_once: bool = False, polls_while_failing: bool = True,
                       work_while_failing: bool = True) -> None:
        """Arm a lasting fault, refresh through it until the page must say stale, clear it, recover.

        Checked at every refresh while it lasts: the account fails with ``kind``, the watched page
        keeps its last good lines and totals, says stale only after three intervals (at once with
        ``stale_at_once``), and the cursor stays where the last good read left it. Then: the
        failure and the recovery are each logged once, and nothing is lost or doubled.
        ``polls_while_failing`` False: the source is not asked again within the first interval
        (the vendor's wait, or refused credentials, defer it); a refresh then checks it is not.
        ``work_while_failing`` False: nobody can log work upstream while it lasts.
        """
        assert self.good is not None
        cursor = self.cursor()
        with self.logged():
            arm()
            first = self.now + INTERVAL
            for when in (first, *([] if polls_while_failing else [first + INTERVAL]), first + STALE_BY):
                if work_while_failing:
                    self.work()
                before = self.asked()
                await self.refresh_at(when)
                assert self.failing() == kind
                page = self.page()
                assert page.same_figures(self.good), "the page must keep its last good lines and totals"
                stale = stale_at_once or when == first + STALE_BY
                assert page.stale is stale and (BANNER in page.html) is stale
                assert self.cursor() == cursor, "a failed read must not move the cursor"
                if when == first + INTERVAL and not polls_while_failing:
                    assert self.asked() == before, "the source must not be asked before its wait ends"
            clear()
            await self.recover()
            assert not self.page().stale
        failed = self.events("source_failed")
        assert [e["error_kind"] for e in failed] == [kind], "the failure is logged once"
        assert len(self.events("source_recovered")) == 1, "the recovery is logged once"
        await self.assert_nothing_lost_or_doubled()

    async def absorb(self, arm: Callable[[], None]) -> None:
        """Arm a fault the source's own handling absorbs (a retry within the request, a renewed
        token, a file read at the next look): the refresh reads and nothing is logged failing."""
        with self.logged():
            arm()
            self.work()
            await self.refresh_at(self.now + INTERVAL)
            assert self.failing() is None
        assert self.events("source_failed") == [] and self.events("source_recovered") == []
        assert [e["outcome"] for e in self.events("sync")] == ["ok"]
        await self.assert_nothing_lost_or_doubled()

    @contextmanager
    def logged(self) -> Iterator[None]:
        with capture_logs() as logs:
            yield
        self.logs.extend(logs)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.logs if e["event"] == name]

    async def reference(self) -> Ledger:
        """The ledger a fault-free first read of the same upstream data builds, in a store of its own."""
        self.before_reference()
        folder = self.c.publish_dir.parent / "reference"
        store = Store.open(f"sqlite:///{folder}.db")
        factory = partial(open_connector, transport=transport_to(self.c.driver), sleep=self.c.sleeps,
                          monotonic=self.c.clock.monotonic)
        coordinator = Coordinator(self.c.config, store, DirectorySink(folder), clock=self.c.clock,
                                  connector_factory=factory)
        try:
            outcome = await coordinator.sync_account(ACCOUNT, reconcile=False)  # nothing held to delete
            assert outcome.ok, outcome.error
            return ledger_of(coordinator)
        finally:
            await coordinator.aclose()
            store.close()

    async def assert_nothing_lost_or_doubled(self) -> None:
        """Once the fault has cleared, one more refresh, then the ledger equals a fresh read's."""
        await self.refresh_at(self.now + INTERVAL)
        assert self.failing() is None
        cursor = self.cursor()
        with self.c.store.engine.connect() as conn:
            committed = conn.execute(select(func.max(entries.c.updated_at)).where(entries.c.account == ACCOUNT)).scalar()
        assert cursor is None or cursor <= committed, "the cursor passed what was committed"
        ours = ledger_of(self.c.coordinator)
        theirs = await self.reference()
        for key in theirs:
            lines, pools, history = ours[key]
            want_lines, want_pools, want_history = theirs[key]
            assert sorted((want_lines - lines).elements()) == [], f"{key}: lines missing after the fault"
            assert sorted((lines - want_lines).elements()) == [], f"{key}: lines doubled or not upstream"
            assert (pools, history) == (want_pools, want_history), f"{key}: totals differ from a fresh read"

