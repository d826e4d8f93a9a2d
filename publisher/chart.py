"""Geometry of the page's burn chart: cumulative hours used against the hours available."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

# The SVG's own coordinate space; the page scales it to its width.
WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 470, 14, 170
LABEL_X, AXIS_Y = 50, 192
_ONE_DAY = timedelta(days=1)
_STEPS = (1, 2, 5)
_MAX_TICKS = 5


@dataclass(frozen=True, slots=True)
class Tick:
    """A gridline: its height in the SVG and the hours it marks."""

    y: float
    hours: Decimal


@dataclass(frozen=True, slots=True)
class Chart:
    """Polylines and marks in SVG units, and the facts the text summary repeats."""

    used: str
    available: str
    forecast: tuple[float, float, float, float] | None
    today_x: float
    ticks: tuple[Tick, ...]
    first_day: date
    last_day: date
    today: date
    day: int
    days: int


@dataclass(frozen=True, slots=True)
class Series:
    """What the chart plots, in local dates.

    ``end`` is the cycle's exclusive end, None for a prepaid block (charted up to today).
    ``used_by_day`` holds the counted hours charged per day; ``used_before`` is use the
    lines do not show (a block's earlier cycles), so the line ends at the statement's figure.
    ``available_from`` lists (date, hours available from that day on), first entry the start.
    """

    start: date
    end: date | None
    today: date
    used_by_day: Mapping[date, Decimal]
    used_before: Decimal
    available_from: Sequence[tuple[date, Decimal]]
    forecast: date | None = None


def burn_chart(series: Series) -> Chart:
    """Lay out a cycle's (or a block's) hours used and available on the chart's axes."""
    start = series.start
    work_days = sorted(d for d in series.used_by_day if d >= start)
    today = max(series.today, start)
    if series.end is not None:
        span_end = series.end
        today = min(today, span_end - _ONE_DAY)
    else:
        # A block has no end: chart up to today, or to the forecast run-out date if later.
        span_end = max([today, *work_days, *([series.forecast] if series.forecast else [])]) + _ONE_DAY
    days = (span_end - start).days
    used_total = series.used_before + sum((series.used_by_day[d] for d in work_days), Decimal(0))
    available_final = series.available_from[-1][1] if series.available_from else Decimal(0)
    peak = max([used_total, *(a for _, a in series.available_from), Decimal(1)])
    ticks, top = _ticks(peak)

    def x(day: date) -> float:
        return LEFT + (day - start).days / days * (RIGHT - LEFT)

    def y(value: Decimal) -> float:
        return BOTTOM - float(value / top) * (BOTTOM - TOP)

    # Each day's hours are plotted at the end of that day: the line climbs across the day.
    cumulative = series.used_before
    used = [(x(start), y(cumulative))]
    for day in work_days:
        cumulative += series.used_by_day[day]
        used.append((x(min(day + _ONE_DAY, span_end)), y(cumulative)))
    today_x = x(today + _ONE_DAY)
    if today_x > used[-1][0]:
        used.append((today_x, y(cumulative)))

    available: list[tuple[float, float]] = []
    for when, amount in series.available_from:
        at = x(min(max(when, start), span_end))
        if available:
            available.append((at, available[-1][1]))
        available.append((at, y(amount)))
    if available:
        available.append((x(span_end), available[-1][1]))

    forecast = None
    if series.forecast is not None and series.forecast > today:
        ends = (today_x, y(used_total), x(min(series.forecast + _ONE_DAY, span_end)), y(available_final))
        forecast = (round(ends[0], 1), round(ends[1], 1), round(ends[2], 1), round(ends[3], 1))
    return Chart(
        used=_points(used),
        available=_points(available),
        forecast=forecast,
        today_x=round(today_x, 1),
        ticks=tuple(Tick(round(y(t), 1), t) for t in ticks),
        first_day=start,
        last_day=span_end - _ONE_DAY,
        today=today,
        day=(today - start).days + 1,
        days=days,
    )


def _ticks(peak: Decimal) -> tuple[list[Decimal], Decimal]:
    # A 1-2-5 step giving at most five gridlines above zero, the top one at or above the peak.
    scale = Decimal(1)
    while True:
        for step in _STEPS:
            size = step * scale
            count = (peak / size).to_integral_value(rounding=ROUND_CEILING)
            if count <= _MAX_TICKS:
                return [size * i for i in range(int(count) + 1)], size * count
        scale *= 10


def _points(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{round(px, 1):g},{round(py, 1):g}" for px, py in points)
