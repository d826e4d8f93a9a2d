"""The burn chart's geometry: cumulative use, the available line, the forecast and the axes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from publisher.chart import BOTTOM, LEFT, RIGHT, TOP, Series, burn_chart

START = date(2026, 11, 1)
END = date(2026, 12, 1)  # 30 days
DAY_WIDTH = (RIGHT - LEFT) / 30


def series(**overrides: object) -> Series:
    fields: dict[str, object] = {
        "start": START,
        "end": END,
        "today": date(2026, 11, 10),
        "used_by_day": {date(2026, 11, 2): D("2"), date(2026, 11, 5): D("3")},
        "used_before": D("0"),
        "available_from": [(START, D("20"))],
    }
    fields.update(overrides)
    return Series(**fields)  # type: ignore[arg-type]


def points(text: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in text.split())]


def x_of(day: date) -> float:
    return round(LEFT + (day - START).days * DAY_WIDTH, 1)


def test_used_climbs_at_the_end_of_each_working_day_and_runs_flat_to_today() -> None:
    chart = burn_chart(series())
    # 20 h on a 0-20 axis with 5 h gridlines: y falls 7.8 units an hour.
    per_hour = (BOTTOM - TOP) / 20
    assert points(chart.used) == [
        (LEFT, BOTTOM),
        (x_of(date(2026, 11, 3)), round(BOTTOM - 2 * per_hour, 1)),
        (x_of(date(2026, 11, 6)), round(BOTTOM - 5 * per_hour, 1)),
        (x_of(date(2026, 11, 11)), round(BOTTOM - 5 * per_hour, 1)),
    ]
    assert (chart.day, chart.days, chart.last_day) == (10, 30, date(2026, 11, 30))


def test_the_available_line_steps_up_on_a_top_up_day() -> None:
    chart = burn_chart(series(available_from=[(START, D("10")), (date(2026, 11, 16), D("20"))]))
    half, full = round(BOTTOM - (BOTTOM - TOP) / 2, 1), float(TOP)
    x = x_of(date(2026, 11, 16))
    assert points(chart.available) == [(LEFT, half), (x, half), (x, full), (RIGHT, full)]


def test_use_the_lines_do_not_show_lifts_the_start_of_the_line() -> None:
    chart = burn_chart(series(used_before=D("10")))
    assert points(chart.used)[0] == (LEFT, round(BOTTOM - (BOTTOM - TOP) / 2, 1))


@pytest.mark.parametrize(("forecast", "drawn"), [
    (date(2026, 11, 25), True),
    (None, False),
    (date(2026, 11, 10), False),  # not after today: nothing to project
])
def test_the_forecast_is_a_segment_from_today_to_the_run_out_day_at_the_available_line(
    forecast: date | None, drawn: bool
) -> None:
    chart = burn_chart(series(forecast=forecast))
    assert (chart.forecast is not None) is drawn
    if chart.forecast and forecast:
        x1, y1, x2, y2 = chart.forecast
        assert (x1, x2, y2) == (chart.today_x, x_of(forecast + timedelta(days=1)), float(TOP))
        assert y1 == points(chart.used)[-1][1]


def test_a_block_is_charted_from_its_start_to_today() -> None:
    chart = burn_chart(series(end=None, today=date(2027, 1, 14)))
    assert (chart.first_day, chart.last_day, chart.day, chart.days) == (START, date(2027, 1, 14), 75, 75)
    assert points(chart.used)[-1][0] == RIGHT
    assert points(chart.available)[-1][0] == RIGHT


def test_a_block_reaches_out_to_a_forecast_after_today() -> None:
    chart = burn_chart(series(end=None, today=date(2026, 11, 10), forecast=date(2026, 11, 20)))
    assert chart.last_day == date(2026, 11, 20)
    assert chart.forecast is not None and chart.forecast[2] == RIGHT


@pytest.mark.parametrize(("peak", "ticks"), [
    (D("0"), [0, 1]),
    (D("0.5"), [0, 1]),
    (D("3"), [0, 1, 2, 3]),
    (D("7.5"), [0, 2, 4, 6, 8]),
    (D("20"), [0, 5, 10, 15, 20]),
    (D("40"), [0, 10, 20, 30, 40]),
    (D("41"), [0, 10, 20, 30, 40, 50]),
    (D("160"), [0, 50, 100, 150, 200]),
])
def test_gridlines_step_by_one_two_or_five_with_the_top_one_at_or_above_the_peak(peak: D, ticks: list[int]) -> None:
    chart = burn_chart(series(used_by_day={}, available_from=[(START, peak)]))
    assert [int(t.hours) for t in chart.ticks] == ticks
    assert chart.ticks[0].y == BOTTOM and chart.ticks[-1].y == TOP


def test_today_before_the_start_or_after_the_end_is_clamped_to_the_cycle() -> None:
    assert burn_chart(series(today=date(2026, 10, 1))).day == 1
    assert burn_chart(series(today=date(2027, 1, 1))).day == 30
