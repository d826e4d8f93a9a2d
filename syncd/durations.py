"""Parsing of human interval strings such as "15m", "1h30m" or "90s" into seconds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_PART = re.compile(r"(\d+)\s*(d|h|m|s)")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# Longer than any refresh, lookback or rule duration means anything for; also what schedulers
# and date sums can hold.
MAX_INTERVAL = 366 * 86400
_WHOLE = re.compile(r"^\s*(?:\d+\s*[dhms]\s*)+$")


def parse_interval(value: Any) -> int:
    """Seconds in an interval written as "15m", "1h30m", "2d" or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected an interval such as 15m or 1h, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected an interval such as 15m or 1h, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = int(value)
    elif isinstance(value, str) and _WHOLE.match(value.lower()):
        seconds = sum(int(n) * _UNIT[u] for n, u in _PART.findall(value.lower()))
    else:
        raise ValueError(f"expected an interval such as 15m, 1h or 1h30m, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"an interval must be longer than zero, got {value!r}")
    if seconds > MAX_INTERVAL:
        raise ValueError(f"an interval of at most {MAX_INTERVAL // 86400} days, got {value!r}")
    return seconds


def format_interval(seconds: int) -> str:
    """The shortest "1h30m"-style spelling of a number of seconds."""
    out = []
    for unit, size in _UNIT.items():
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


Interval = Annotated[int, BeforeValidator(parse_interval)]
"""A pydantic field type: an interval in seconds, written in YAML as "15m" and the like."""
