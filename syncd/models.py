"""The domain's value types: normalized time entries, published lines and statements."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

Location = Literal["remote", "onsite", "unknown"]

HUNDREDTH = Decimal("0.01")
# The days work can be dated, and so the dates a config can name. Outside them a value is a
# placeholder or a typo ("0001-01-01", "9999-12-31"), never work; keeping every date inside
# also keeps every later date sum (a timezone shift, a cycle's end, a day before a start) far
# inside what a date can hold.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def hours(value: Decimal | int | str) -> Decimal:
    """Round hours half-up to two places, the one rounding every published figure gets."""
    return Decimal(value).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)


def format_hours(value: Decimal) -> str:
    """Hours as the decimal string the page and balance.json carry ("14.25")."""
    return str(hours(value))


@dataclass(frozen=True, slots=True)
class TimeEntry:
    """One vendor time entry, normalized. Internal: never published as such.

    ``client_key`` is the syncd client the account's selectors routed it to (None when
    it belongs to no configured client). ``started_at`` and ``updated_at`` are UTC.
    ``work_date`` is the vendor's own date for the work, used when no start time exists.
    """

    account: str
    vendor_id: str
    client_key: str | None
    work_date: date
    duration_seconds: int
    updated_at: datetime
    started_at: datetime | None = None
    billable: bool = True
    worker_id: str | None = None
    worker_name: str | None = None
    work_type: str | None = None
    role: str | None = None
    ticket_id: str | None = None
    ticket_number: str | None = None
    ticket_title: str | None = None
    ticket_type: str | None = None
    project: str | None = None
    task: str | None = None
    notes: str | None = None
    internal_notes: str | None = None
    location: Location = "unknown"
    travel: bool = False
    tags: tuple[str, ...] = ()
    approval: str | None = None
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings), the store's serialized form."""
        out: dict[str, Any] = {}
        for name in _ENTRY_FIELDS:
            value = getattr(self, name)
            if isinstance(value, (datetime, date)):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimeEntry:
        """Inverse of :meth:`to_dict`; unknown keys are ignored so old rows still load."""
        kwargs = {k: v for k, v in data.items() if k in _ENTRY_FIELD_SET}
        kwargs["work_date"] = date.fromisoformat(kwargs["work_date"])
        kwargs["updated_at"] = datetime.fromisoformat(kwargs["updated_at"])
        if kwargs.get("started_at"):
            kwargs["started_at"] = datetime.fromisoformat(kwargs["started_at"])
        kwargs["tags"] = tuple(kwargs.get("tags") or ())
        return cls(**kwargs)


# Read once: dataclasses.fields() on every call was a noticeable share of a backfill.
_ENTRY_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TimeEntry))
_ENTRY_FIELD_SET = frozenset(_ENTRY_FIELDS)


@dataclass(frozen=True, slots=True)
class Line:
    """One published work-log line: built only from allow-listed fields.

    ``source`` ties the line back to (account, vendor id) for ``syncd explain``; the
    publisher never writes it.
    """

    date: date
    description: str
    hours_logged: Decimal
    multiplier: Decimal
    hours_charged: Decimal
    pool: str
    labels: tuple[str, ...] = ()
    ticket_number: str | None = None
    sort_key: tuple[str, ...] = ()
    source: tuple[str, str] = ("", "")
    balance_after: Decimal | None = None
    # Upstream approval is still open: counted, and marked so the client knows it may move.
    pending: bool = False


@dataclass(frozen=True, slots=True)
class Dropped:
    """An entry the rules kept off the page, and the rule that did it (for preview and counts)."""

    source: tuple[str, str]
    rule: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Cycle:
    """A retainer cycle: [start, end) in local dates; ``resets_on`` is the next cycle's start.

    A prepaid block never resets: its ``end`` (and so ``resets_on``) is None.
    """

    start: date
    end: date | None
    timezone: str

    @property
    def resets_on(self) -> date | None:
        return self.end


@dataclass(frozen=True, slots=True)
class PoolBalance:
    """One pool's figures for a cycle.

    ``tracked`` False is flat-fee scope: its work is shown as covered and never counted
    against anything (the statement's totals leave it out). ``resets`` False is a prepaid
    block inside a cycling retainer: depleted by use across cycles, topped up by adjustments.
    ``pending`` is the part of ``used`` still awaiting approval upstream.
    """

    name: str
    label: str
    cap: Decimal
    carried_in: Decimal
    adjustments: Decimal
    used: Decimal
    tracked: bool = True
    resets: bool = True
    overflow_to: str | None = None
    pending: Decimal = Decimal("0.00")

    @property
    def available(self) -> Decimal:
        return self.cap + self.carried_in + self.adjustments

    @property
    def remaining(self) -> Decimal:
        return max(Decimal("0.00"), self.available - self.used)

    @property
    def over(self) -> Decimal:
        return max(Decimal("0.00"), self.used - self.available)

    @property
    def percent_used(self) -> Decimal:
        if self.available <= 0:
            return Decimal("100.0") if self.used > 0 else Decimal("0.0")
        return (self.used * 100 / self.available).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A top-up or correction shown to the client."""

    date: date
    hours: Decimal
    note: str
    pool: str


@dataclass(frozen=True, slots=True)
class PastCycle:
    """A closed cycle's totals for the history table."""

    start: date
    end: date
    available: Decimal
    used: Decimal


@dataclass(frozen=True, slots=True)
class SourceFreshness:
    """What the page says about one source: when data was last read, and whether it is failing."""

    name: str
    data_through: datetime | None
    failing: bool = False
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """Everything a client's page shows; the publisher renders it and adds nothing of its own.

    ``lines`` are the current cycle's, newest first; each ``balance_after`` was worked out in
    chronological order. Cycle and history ends are exclusive dates.
    """

    client_key: str
    client_name: str
    generated_at: datetime
    cycle: Cycle
    pools: tuple[PoolBalance, ...]
    lines: tuple[Line, ...]
    sources: tuple[SourceFreshness, ...] = ()
    next_update_by: datetime | None = None
    stale: bool = False
    adjustments: tuple[Adjustment, ...] = ()
    history: tuple[PastCycle, ...] = ()
    forecast: date | None = None
    notices: tuple[str, ...] = field(default=())
    overage_policy: str | None = None
    # Babel locale name for dates and numbers on the page ("en", "en_GB", "de_DE").
    locale: str = "en"

    @property
    def counted_pools(self) -> tuple[PoolBalance, ...]:
        """The pools whose hours count (flat-fee scope left out)."""
        return tuple(p for p in self.pools if p.tracked)

    @property
    def used(self) -> Decimal:
        return sum((p.used for p in self.counted_pools), Decimal("0.00"))

    @property
    def available(self) -> Decimal:
        return sum((p.available for p in self.counted_pools), Decimal("0.00"))

    @property
    def remaining(self) -> Decimal:
        return sum((p.remaining for p in self.counted_pools), Decimal("0.00"))

    @property
    def over(self) -> Decimal:
        return sum((p.over for p in self.counted_pools), Decimal("0.00"))

    @property
    def pending(self) -> Decimal:
        return sum((p.pending for p in self.counted_pools), Decimal("0.00"))
