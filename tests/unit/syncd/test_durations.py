"""Human interval strings ("15m", "1h30m") as seconds: what is read, and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.durations import MAX_INTERVAL, format_interval, parse_interval


@pytest.mark.parametrize(("value", "seconds"), [
    ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("90s", 90), (" 1H ", 3600), (45, 45), (2.9, 2), ("366d", MAX_INTERVAL),
])
def test_intervals_are_read_in_seconds(value: Any, seconds: int) -> None:
    assert parse_interval(value) == seconds


@pytest.mark.parametrize(("value", "problem"), [
    ("0m", "longer than zero"), (-5, "longer than zero"), ("15 minutes", "expected an interval"),
    (True, "expected an interval"), (None, "expected an interval"), (float("inf"), "expected an interval"),
    (float("nan"), "expected an interval"), ("367d", "at most 366 days"), (10**30, "at most 366 days"),
    (1e308, "at most 366 days"), ("99999999999999999999d", "at most 366 days"),
])
def test_an_interval_that_cannot_be_meant_is_refused(value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_interval(value)


def test_format_interval_is_the_shortest_spelling() -> None:
    assert (format_interval(5400), format_interval(0)) == ("1h30m", "0s")
