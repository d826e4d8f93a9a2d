"""The ledger: cycles, pools and balances, turning published lines into a statement (pure)."""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterable, Sequence
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
    "HISTORY_CYCLES",
    "build_statement",
    "cycle_containing",
    "history_start",
    "reconcile_window",
]

HISTORY_CYCLES = 12
# The forecast needs a few days of pace before it means anything.
FORECAST_FROM_DAY = 3
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
    """The cycle [start, end) holding the local date ``day``; works before the anchor too."""
    return _cycle(cycle, _index_of(day, cycle), timezone)


def history_start(cycle: CycleConfig, timezone: str, today: date, cycles: int = HISTORY_CYCLES) -> date:
    """The start of the cycle ``cycles`` before the one holding ``today``."""
    return _nth_start(cycle, _index_of(today, cycle) - cycles)


def reconcile_window(cycle: CycleConfig, timezone: str, today: date) -> tuple[date, date]:
    """Previous cycle's start .. today: the window re-listed to catch upstream deletions.

    The previous cycle is included because late edits and deletions land there too
    while its page figure is still being looked at.
    """
    return _nth_start(cycle, _index_of(today, cycle) - 1), today


def local_today(now: datetime, timezone: str) -> date:
    """``now`` (UTC; naive taken as UTC) as a local date in ``timezone``."""
    aware = now.replace(tzinfo=UTC) if now.tzinfo is None else now
    return aware.astimezone(ZoneInfo(timezone)).date()


# --- the statement -------------------------------------------------------------------------


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
    naming a pool the retainer lacks are counted in the default pool.
    """
    today = local_today(now, timezone)
    cycle = cycle_containing(today, retainer.cycle, timezone)
    ordered = sorted((_in_known_pool(line, retainer) for line in lines), key=chronological)
    current = [line for line in ordered if cycle.start <= line.date < cycle.end]
    adjustments = _adjustments(retainer, cycle.start, cycle.end)
    pools = tuple(
        _pool_balance(name, config, adjustments, current) for name, config in retainer.pools.items()
    )
    used = sum((p.used for p in pools), _ZERO)
    available = sum((p.available for p in pools), _ZERO)
    return Statement(
        client_key=client_key,
        client_name=client_name,
        generated_at=now,
        cycle=cycle,
        pools=pools,
        lines=tuple(reversed(_running_balance(current, pools))),
        sources=tuple(sources),
        next_update_by=next_update_by,
        stale=stale,
        adjustments=adjustments,
        history=_history(ordered, retainer, today),
        forecast=forecast(cycle, today, used, available),
        notices=notices(used, available, retainer.alerts.at_percent),
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


def _adjustments(retainer: RetainerConfig, start: date, end: date) -> tuple[Adjustment, ...]:
    found = [
        Adjustment(a.date, hours(a.hours), a.note, a.pool or retainer.default_pool)
        for a in retainer.adjustments
        if start <= a.date < end
    ]
    return tuple(sorted(found, key=lambda a: a.date))


def pool_label(name: str, config: PoolConfig) -> str:
    """The pool's label, or its key made readable ("scheduled_work" → "Scheduled work")."""
    return config.label or name.replace("_", " ").replace("-", " ").capitalize()


def _pool_balance(name: str, config: PoolConfig, adjustments: Sequence[Adjustment],
                  lines: Sequence[Line]) -> PoolBalance:
    return PoolBalance(
        name=name,
        label=pool_label(name, config),
        cap=hours(config.cap_hours),
        carried_in=_ZERO,
        adjustments=sum((a.hours for a in adjustments if a.pool == name), _ZERO),
        used=sum((line.hours_charged for line in lines if line.pool == name), _ZERO),
    )


def _running_balance(lines: Sequence[Line], pools: Sequence[PoolBalance]) -> list[Line]:
    """Lines (chronological) with each one's pool balance after it; may go negative."""
    balance = {p.name: p.available for p in pools}
    out = []
    for line in lines:
        balance[line.pool] -= line.hours_charged
        out.append(dataclasses.replace(line, balance_after=balance[line.pool]))
    return out


def _history(lines: Sequence[Line], retainer: RetainerConfig, today: date) -> tuple[PastCycle, ...]:
    """Past cycles, newest first: from the first line's cycle on, at most HISTORY_CYCLES back."""
    if not lines:
        return ()
    config = retainer.cycle
    current = _index_of(today, config)
    first = _index_of(lines[0].date, config)
    cap = sum((hours(p.cap_hours) for p in retainer.pools.values()), _ZERO)
    out = []
    for n in range(current - 1, max(first, current - HISTORY_CYCLES) - 1, -1):
        start, end = _nth_start(config, n), _nth_start(config, n + 1)
        added = sum((hours(a.hours) for a in retainer.adjustments if start <= a.date < end), _ZERO)
        used = sum((line.hours_charged for line in lines if start <= line.date < end), _ZERO)
        out.append(PastCycle(start, end, cap + added, used))
    return tuple(out)


def forecast(cycle: Cycle, today: date, used: Decimal, available: Decimal) -> date | None:
    """The day the current daily pace uses up the available hours, if that is inside the cycle.

    Only from the third day of the cycle, with hours used and some remaining. The pace
    is hours used over days elapsed (today included); the forecast is the first day whose
    end the cumulative pace reaches the available hours.
    """
    elapsed = (today - cycle.start).days + 1
    if elapsed < FORECAST_FROM_DAY or used <= 0 or available - used <= 0:
        return None
    days = (available * elapsed / used).to_integral_value(rounding=ROUND_CEILING)
    when = cycle.start + timedelta(days=int(days) - 1)
    return when if when < cycle.end else None


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
