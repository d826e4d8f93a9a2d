"""The ledger: cycles, pools and balances, turning published lines into a statement (pure)."""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

from syncd.config import CycleConfig, PoolConfig, RetainerConfig
from syncd.models import (
    Adjustment,
    Cycle,
    Line,
    PastCycle,
    PoolBalance,
    SourceFreshness,
    Statement,
    hours,
)

__all__ = [
    "FORECAST_HORIZON_DAYS",
    "HISTORY_CYCLES",
    "build_statement",
    "cycle_containing",
    "history_start",
    "read_from",
    "reconcile_window",
]

HISTORY_CYCLES = 12
# The forecast needs a few days of pace before it means anything.
FORECAST_FROM_DAY = 3
# A block has no cycle end to bound its forecast: a date further out than this says little.
FORECAST_HORIZON_DAYS = 365
_ZERO = Decimal("0.00")


# --- cycles ------------------------------------------------------------------------------


def _nth_start(cycle: CycleConfig, n: int) -> date:
    """Start of the n-th cycle from the anchor (n may be negative), the day clamped to the month."""
    anchor = cycle.anchor
    months = anchor.year * 12 + (anchor.month - 1) + n * cycle.months
    year, month0 = divmod(months, 12)
    # Clamp from the anchor's own day every time: 31 Jan → 28 Feb → 31 Mar, not 28 Mar.
    day = min(anchor.day, calendar.monthrange(year, month0 + 1)[1])
    return date(year, month0 + 1, day)


def _index_of(day: date, cycle: CycleConfig) -> int:
    if not cycle.resets:
        # A block is one cycle: counting cycles of zero months would never end.
        raise ValueError("a prepaid block has no numbered cycles")
    anchor = cycle.anchor
    n = ((day.year - anchor.year) * 12 + day.month - anchor.month) // cycle.months
    # The month arithmetic is right to within one cycle; the anchor day settles it.
    while _nth_start(cycle, n) > day:
        n -= 1
    while _nth_start(cycle, n + 1) <= day:
        n += 1
    return n


def _cycle(cycle: CycleConfig, n: int, timezone: str) -> Cycle:
    return Cycle(_nth_start(cycle, n), _nth_start(cycle, n + 1), timezone)


def cycle_containing(day: date, cycle: CycleConfig, timezone: str) -> Cycle:
    """The cycle [start, end) holding the local date ``day``; works before the anchor too.

    A block is one cycle from its start with no end, whatever ``day`` is.
    """
    if not cycle.resets:
        return Cycle(cycle.anchor, None, timezone)
    return _cycle(cycle, _index_of(day, cycle), timezone)


def history_start(cycle: CycleConfig, timezone: str, today: date, cycles: int = HISTORY_CYCLES) -> date:
    """The start of the cycle ``cycles`` before the one holding ``today`` (a block's start)."""
    if not cycle.resets:
        return cycle.anchor
    return _nth_start(cycle, _index_of(today, cycle) - cycles)


def read_from(retainer: RetainerConfig, timezone: str, today: date) -> date:
    """The first local date whose lines the statement for ``today`` needs.

    The history's cycles; one more with rollover (the oldest shown cycle's carry comes
    from the one before); back to the anchor when a pool never resets (its balance runs
    from there); a block's start for a block.
    """
    cycle = retainer.cycle
    start = history_start(cycle, timezone, today, HISTORY_CYCLES + (1 if retainer.rollover else 0))
    if any(not retainer.resets(name) for name in retainer.pools):
        start = min(start, cycle.anchor)
    return start


def reconcile_window(cycle: CycleConfig, timezone: str, today: date) -> tuple[date, date]:
    """Previous cycle's start .. today: the window re-listed to catch upstream deletions.

    The previous cycle is included because late edits and deletions land there too
    while its page figure is still being looked at. A block's whole life is open (every
    deletion since its start changes the balance), so its window starts at its start.
    """
    if not cycle.resets:
        return min(cycle.anchor, today), today
    return _nth_start(cycle, _index_of(today, cycle) - 1), today


def local_today(now: datetime, timezone: str) -> date:
    """``now`` (UTC; naive taken as UTC) as a local date in ``timezone``."""
    aware = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    return aware.astimezone(ZoneInfo(timezone)).date()


# --- the statement -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Period:
    """One cycle worked through: its pools' figures and its lines (chronological, with balances)."""

    index: int
    start: date
    end: date | None
    pools: tuple[PoolBalance, ...]
    lines: tuple[Line, ...]
    adjustments: tuple[Adjustment, ...]

    @property
    def used(self) -> Decimal:
        return sum((p.used for p in self.pools if p.tracked), _ZERO)

    @property
    def available(self) -> Decimal:
        return sum((p.available for p in self.pools if p.tracked), _ZERO)


def build_statement(
    lines: Iterable[Line],
    *,
    client_key: str,
    client_name: str,
    retainer: RetainerConfig,
    timezone: str,
    now: datetime,
    sources: Sequence[SourceFreshness] = (),
    next_update_by: datetime | None = None,
    stale: bool = False,
    locale: str = "en",
) -> Statement:
    """Everything a client's page shows for the cycle holding ``now`` in the client's timezone.

    Every figure is a sum of two-place line values, so the page always adds up. Lines
    naming a pool the retainer lacks are counted in the default pool. Past cycles are
    worked through oldest first, as far back as rollover and never-resetting pools need.
    """
    today = local_today(now, timezone)
    cycle = cycle_containing(today, retainer.cycle, timezone)
    ordered = sorted((_in_known_pool(line, retainer) for line in lines), key=chronological)
    periods = _periods(ordered, retainer, today)
    current = periods[-1]
    return Statement(
        client_key=client_key,
        client_name=client_name,
        generated_at=now,
        cycle=cycle,
        pools=current.pools,
        lines=tuple(reversed(current.lines)),
        sources=tuple(sources),
        next_update_by=next_update_by,
        stale=stale,
        adjustments=current.adjustments,
        history=_history(periods[:-1], ordered, retainer),
        forecast=forecast(cycle, today, current.used, current.available),
        notices=notices(current.used, current.available, retainer.alerts.at_percent),
        overage_policy=retainer.overage_policy,
        locale=locale,
    )


def chronological(line: Line) -> tuple[date, tuple[str, ...], tuple[str, str]]:
    """Sort key for lines oldest first: local date, the rules' sort key, then source."""
    return (line.date, line.sort_key, line.source)


def _in_known_pool(line: Line, retainer: RetainerConfig) -> Line:
    if line.pool in retainer.pools:
        return line
    return dataclasses.replace(line, pool=retainer.default_pool)


def pool_label(name: str, config: PoolConfig) -> str:
    """The pool's label, or its key made readable ("scheduled_work" → "Scheduled work")."""
    return config.label or name.replace("_", " ").replace("-", " ").capitalize()


def _periods(lines: Sequence[Line], retainer: RetainerConfig, today: date) -> list[_Period]:
    """The cycles up to the one holding ``today``, oldest first, each with its carries worked in.

    A block is a single period. Otherwise the walk starts one cycle before the oldest the
    history shows (its leftover is the oldest shown cycle's rollover), or at the anchor's
    cycle when a pool never resets. Rollover carries min(max_hours, the previous cycle's
    own unused hours: cap + its adjustments − its use) per pool, so carried hours never
    carry twice, and nothing carries from a cycle before the anchor.
    """
    config = retainer.cycle
    if not config.resets:
        mine = [line for line in lines if line.date >= config.anchor]
        return [_period(0, config.anchor, None, mine, retainer, {})]
    current = _index_of(today, config)
    first = current - HISTORY_CYCLES - 1
    if any(not retainer.resets(name) for name in retainer.pools):
        first = min(first, 0)
    by_index: dict[int, list[Line]] = {}
    for line in lines:
        by_index.setdefault(_index_of(line.date, config), []).append(line)
    brought: dict[str, Decimal] = {}
    out: list[_Period] = []
    for n in range(first, current + 1):
        carried = dict(brought)
        if out and retainer.rollover is not None and n >= 1:
            ceiling = hours(retainer.rollover.max_hours)
            for pool in out[-1].pools:
                if pool.tracked and pool.resets:
                    leftover = max(_ZERO, pool.cap + pool.adjustments - pool.used)
                    carried[pool.name] = min(ceiling, leftover)
        period = _period(n, _nth_start(config, n), _nth_start(config, n + 1), by_index.get(n, []), retainer,
                         carried)
        if n >= 0:
            # A never-resetting pool's cap counts once, from the anchor; after that only its
            # adjustments and its use move it.
            for pool in period.pools:
                if not pool.resets:
                    brought[pool.name] = pool.carried_in + pool.adjustments - pool.used
        out.append(period)
    return out


def _period(index: int, start: date, end: date | None, lines: Sequence[Line], retainer: RetainerConfig,
            carried: dict[str, Decimal]) -> _Period:
    """One cycle's pools and lines, given what each pool carries in."""
    adjustments = _adjustments(retainer, start, end)
    opening = {}
    for name, config in retainer.pools.items():
        added = sum((a.hours for a in adjustments if a.pool == name), _ZERO)
        opening[name] = hours(config.cap) + carried.get(name, _ZERO) + added
    drawn = _draw_down(lines, retainer, opening)
    pools = tuple(
        PoolBalance(
            name=name,
            label=pool_label(name, config),
            cap=hours(config.cap),
            carried_in=carried.get(name, _ZERO),
            adjustments=sum((a.hours for a in adjustments if a.pool == name), _ZERO),
            used=sum((line.hours_charged for line in drawn if line.pool == name), _ZERO),
            tracked=config.tracked,
            resets=retainer.resets(name),
            overflow_to=config.overflow_to,
            pending=sum((line.hours_charged for line in drawn if line.pool == name and line.pending), _ZERO),
        )
        for name, config in retainer.pools.items()
    )
    return _Period(index, start, end, pools, tuple(drawn), adjustments)


def _adjustments(retainer: RetainerConfig, start: date, end: date | None) -> tuple[Adjustment, ...]:
    found = [
        Adjustment(a.date, hours(a.hours), a.note, a.pool or retainer.default_pool)
        for a in retainer.adjustments
        if start <= a.date and (end is None or a.date < end)
    ]
    return tuple(sorted(found, key=lambda a: a.date))


def _draw_down(lines: Sequence[Line], retainer: RetainerConfig, opening: dict[str, Decimal]) -> list[Line]:
    """Lines (chronological) against their pools' balances, split where a pool overflows.

    Each tracked line gets its pool's balance after it (which may go negative in a pool
    without overflow_to); flat-fee lines get none.
    """
    balance = dict(opening)
    out: list[Line] = []
    for line in lines:
        _draw(line, line.pool, False, balance, retainer, out)
    return out


def _draw(line: Line, pool: str, overflowed: bool, balance: dict[str, Decimal], retainer: RetainerConfig,
          out: list[Line]) -> None:
    """Charge ``line`` to ``pool``; what the pool cannot hold goes on down its overflow_to chain.

    Once a line has overflowed (``overflowed``) the part in another pool carries one label
    naming the pool it first came from, however far down the chain it goes.
    """
    config = retainer.pools[pool]
    line = dataclasses.replace(line, pool=pool)
    if not config.tracked:
        out.append(dataclasses.replace(line, balance_after=None))
        return
    charge, left, target = line.hours_charged, balance[pool], config.overflow_to
    if target is None or charge <= left or charge <= 0:
        balance[pool] = left - charge
        out.append(dataclasses.replace(line, balance_after=balance[pool]))
        return
    if left > 0:
        # The part that fits stays; logged time is split in the same proportion, so both
        # halves still add up to the original line's figures exactly.
        logged = hours(line.hours_logged * left / charge)
        out.append(dataclasses.replace(line, hours_charged=left, hours_logged=logged, balance_after=_ZERO))
        balance[pool] = _ZERO
        line = dataclasses.replace(line, hours_charged=charge - left, hours_logged=line.hours_logged - logged)
    if not overflowed:
        line = dataclasses.replace(line, labels=(*line.labels, f"Overflow from {pool_label(pool, config)}"))
    _draw(line, target, True, balance, retainer, out)


def _history(periods: Sequence[_Period], lines: Sequence[Line], retainer: RetainerConfig) -> tuple[PastCycle, ...]:
    """Past cycles, newest first: from the first line's cycle on, at most HISTORY_CYCLES back.

    Each cycle's available and used are its tracked pools' (carried-in hours and
    adjustments included), as its page showed them on its last day.
    """
    if not lines or not periods:
        return ()
    first = _index_of(lines[0].date, retainer.cycle)
    shown = [p for p in periods[-HISTORY_CYCLES:] if p.index >= first]
    return tuple(PastCycle(p.start, p.end, p.available, p.used) for p in reversed(shown) if p.end is not None)


def forecast(cycle: Cycle, today: date, used: Decimal, available: Decimal) -> date | None:
    """The day the current daily pace uses up the available hours, if that is inside the cycle.

    Only from the third day of the cycle, with hours used and some remaining. The pace
    is hours used over days elapsed (today included); the forecast is the first day whose
    end the cumulative pace reaches the available hours. A block has no end: its forecast
    is shown when it falls within FORECAST_HORIZON_DAYS of today.
    """
    elapsed = (today - cycle.start).days + 1
    if elapsed < FORECAST_FROM_DAY or used <= 0 or available - used <= 0:
        return None
    days = int((available * elapsed / used).to_integral_value(rounding=ROUND_CEILING))
    last = cycle.end - timedelta(days=1) if cycle.end is not None else today + timedelta(days=FORECAST_HORIZON_DAYS)
    # Compared in days before any date is made: a slow pace on a large balance can put the
    # day past the calendar's end (10,000 h at 0.01 h over a month is millions of days).
    if days - 1 > (last - cycle.start).days:
        return None
    return cycle.start + timedelta(days=days - 1)


def notices(used: Decimal, available: Decimal, thresholds: Iterable[int]) -> tuple[str, ...]:
    """The highest crossed low-balance threshold, as a sentence for the page (or nothing)."""
    if available > 0:
        crossed = [t for t in thresholds if used * 100 >= t * available]
    else:
        # Nothing available and something used counts as 100%, as PoolBalance.percent_used does.
        crossed = [t for t in thresholds if used > 0 and t <= 100]
    if not crossed:
        return ()
    return (f"You have used {max(crossed)}% of your hours this cycle.",)
