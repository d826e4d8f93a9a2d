"""Business-hours windows such as "mon-fri 08:00-18:00, sat 09:00-12:00", in local time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(
    r"^(?P<d1>[a-z]{3})(?:-(?P<d2>[a-z]{3}))?\s+(?P<h1>\d{1,2}:\d{2})-(?P<h2>\d{1,2}:\d{2})$"
)


@dataclass(frozen=True, slots=True)
class Window:
    """One span of local weekdays (0 = Monday) and a [start, end) time of day."""

    days: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """A set of windows; a local time is inside when any window holds it."""

    windows: tuple[Window, ...]
    text: str

    def contains(self, local: datetime) -> bool:
        """True when the (already local) datetime falls inside business hours."""
        moment = local.time()
        return any(
            local.weekday() in w.days and w.start <= moment < w.end for w in self.windows
        )


def _clock(text: str) -> time:
    hh, mm = (int(x) for x in text.split(":"))
    if hh == 24 and mm == 0:
        return time.max
    if not (0 <= hh < 24 and 0 <= mm < 60):
        raise ValueError(f"{text!r} is not a time of day (HH:MM)")
    return time(hh, mm)


def parse_business_hours(text: str) -> BusinessHours:
    """Parse "mon-fri 08:00-18:00[, sat 09:00-12:00 …]"; raise ValueError naming the bad part."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError('expected windows such as "mon-fri 08:00-18:00"')
    windows = []
    for part in (p.strip().lower() for p in text.split(",")):
        match = _WINDOW.match(part)
        if not match:
            raise ValueError(f'{part!r} is not a window such as "mon-fri 08:00-18:00"')
        d1, d2 = match["d1"], match["d2"] or match["d1"]
        for day in (d1, d2):
            if day not in _DAYS:
                raise ValueError(f"{day!r} is not a weekday (mon, tue, … sun)")
        first, last = _DAYS.index(d1), _DAYS.index(d2)
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
        start, end = _clock(match["h1"]), _clock(match["h2"])
        if end <= start:
            raise ValueError(f"{part!r}: the window must end after it starts")
        windows.append(Window(frozenset(days), start, end))
    return BusinessHours(tuple(windows), text)
