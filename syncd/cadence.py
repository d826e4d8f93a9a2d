"""Refresh cadences: an interval, or a cron expression read in the client's timezone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from syncd.durations import format_interval

# Cron fires are spread over this many seconds so hundreds of "0 7 * * *" clients do not
# hit a vendor in the same second; small enough that a 07:00 refresh still reads 07:00.
CRON_JITTER = 30
# How far ahead a cron expression is read to find its longest gap between two fires.
_GAP_HORIZON = timedelta(days=400)
_GAP_FIRES = 600
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_TOKEN = re.compile(r"^(?:(\*)|(\d)(?:-(\d))?)(?:/(\d+))?$")


def _weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3 names.

    Crontab counts 0 (and 7) as Sunday; APScheduler 3 counts 0 as Monday. Numbers are
    expanded to day names so "1-5" means Monday to Friday, as an admin expects.
    """
    if not any(ch.isdigit() for ch in field) or any(ch.isalpha() for ch in field):
        return field  # names (or *) mean the same in both
    days: set[int] = set()
    for token in field.split(","):
        match = _DOW_TOKEN.match(token)
        if match is None:
            raise ValueError(f"cannot read day-of-week {token!r}")
        star, first, last, step = match.groups()
        low = 0 if star else int(first)
        high = 6 if star else int(last if last is not None else first)
        if not (0 <= low <= 7 and 0 <= high <= 7) or low > high:
            raise ValueError(f"day-of-week {token!r} is out of range (0-7, 0 and 7 are Sunday)")
        if last is None and step is not None and not star:
            high = 6  # "1/2": from Monday on, every other day
        days.update(d % 7 for d in range(low, high + 1, int(step or 1)))
    return ",".join(_DAY_NAMES[d] for d in sorted(days))


@lru_cache(maxsize=1024)
def cron_trigger(expr: str, tz: str, jitter: int | None = None) -> CronTrigger:
    """A trigger for a five-field crontab expression read in timezone ``tz``.

    Raises ValueError naming what is wrong.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}: {expr!r}")
    minute, hour, day, month, weekday = fields
    try:
        trigger = CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday),
                              timezone=ZoneInfo(tz), jitter=jitter)
    except ValueError as err:
        raise ValueError(f"invalid cron expression {expr!r}: {err}") from err
    return trigger


def check_cron(expr: str) -> str:
    """``expr`` when it is a cron expression that fires at all; ValueError otherwise."""
    trigger = cron_trigger(expr, "UTC")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    if trigger.get_next_fire_time(None, start) is None or longest_gap(expr, "UTC") is None:
        raise ValueError(f"cron expression {expr!r} never fires (or fires less than once a year)")
    return " ".join(expr.split())


@lru_cache(maxsize=1024)
def longest_gap(expr: str, tz: str) -> int | None:
    """The longest wait, in seconds, between two fires of ``expr`` over the next year or so:
    how stale a page on this cadence may get. None when it fires less than twice."""
    trigger = cron_trigger(expr, tz)
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    previous = trigger.get_next_fire_time(None, start)
    gap = None
    for _ in range(_GAP_FIRES):
        if previous is None or previous - start > _GAP_HORIZON:
            break
        nxt = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
        if nxt is None:
            break
        seconds = int((nxt - previous).total_seconds())
        gap = seconds if gap is None else max(gap, seconds)
        previous = nxt
    return gap


@dataclass(frozen=True, order=True)
class Cadence:
    """When a client is refreshed: every ``every`` seconds, or on ``cron`` in ``timezone``.

    Clients with equal cadences share one scheduler job, so an account they all read is
    polled once per tick however many of them there are.
    """

    every: int = 0
    cron: str = ""
    timezone: str = ""

    @classmethod
    def of(cls, client: Any) -> Cadence:
        """The cadence of a loaded client (a ClientSpec)."""
        if client.cron:
            return cls(cron=client.cron, timezone=client.timezone)
        return cls(every=client.refresh)

    @property
    def key(self) -> str:
        """A stable job id part."""
        return f"cron:{self.cron}@{self.timezone}" if self.cron else f"every:{self.every}"

    @property
    def label(self) -> str:
        """How the cadence reads in a job's name."""
        return f"cron {self.cron!r} ({self.timezone})" if self.cron else f"every {format_interval(self.every)}"

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger for this cadence, with jitter."""
        if self.cron:
            return cron_trigger(self.cron, self.timezone, CRON_JITTER)
        return IntervalTrigger(seconds=self.every, jitter=max(1, self.every // 20))

    def next_after(self, now: datetime) -> datetime:
        """When the refresh after ``now`` is due (without jitter): what a page promises."""
        if self.cron:
            fire = cron_trigger(self.cron, self.timezone).get_next_fire_time(None, now + timedelta(microseconds=1))
            if fire is not None:
                return fire.astimezone(timezone.utc)
        return now + timedelta(seconds=self.every or 900)
