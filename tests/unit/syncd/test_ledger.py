"""Tests for syncd.ledger: cycles, pools, running balance, history, forecast and notices."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from syncd.config import CycleConfig, RetainerConfig
from syncd.ledger import build_statement, cycle_containing, history_start, read_from, reconcile_window
from syncd.models import Adjustment, Line, PastCycle, SourceFreshness

TZ = "America/Chicago"


def cyc(kind: str, anchor: str) -> CycleConfig:
    return CycleConfig.model_validate({kind: anchor})


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- cycles -------------------------------------------------------------------------------

CYCLES = [
    # (kind, anchor, day, start, end)
    ("monthly", "2026-01-01", "2026-02-14", "2026-02-01", "2026-03-01"),
    ("monthly", "2026-01-01", "2026-01-01", "2026-01-01", "2026-02-01"),
    ("monthly", "2026-01-15", "2026-02-14", "2026-01-15", "2026-02-15"),
    ("monthly", "2026-01-15", "2026-02-15", "2026-02-15", "2026-03-15"),
    ("monthly", "2026-01-15", "2026-12-31", "2026-12-15", "2027-01-15"),
    ("monthly", "2024-01-29", "2024-02-28", "2024-01-29", "2024-02-29"),
    ("monthly", "2024-01-29", "2024-02-29", "2024-02-29", "2024-03-29"),
    ("monthly", "2025-01-29", "2025-02-27", "2025-01-29", "2025-02-28"),
    ("monthly", "2025-01-29", "2025-02-28", "2025-02-28", "2025-03-29"),
    ("monthly", "2025-01-30", "2025-02-28", "2025-02-28", "2025-03-30"),
    ("monthly", "2025-01-30", "2025-03-29", "2025-02-28", "2025-03-30"),
    ("monthly", "2024-01-30", "2024-02-29", "2024-02-29", "2024-03-30"),
    ("monthly", "2026-01-31", "2026-02-27", "2026-01-31", "2026-02-28"),
    ("monthly", "2026-01-31", "2026-02-28", "2026-02-28", "2026-03-31"),
    ("monthly", "2026-01-31", "2026-03-31", "2026-03-31", "2026-04-30"),
    ("monthly", "2026-01-31", "2026-04-30", "2026-04-30", "2026-05-31"),
    ("monthly", "2024-01-31", "2024-02-29", "2024-02-29", "2024-03-31"),
    ("monthly", "2024-01-31", "2024-02-28", "2024-01-31", "2024-02-29"),
    # Days before the anchor: cycles extend backwards with the same clamping.
    ("monthly", "2026-01-15", "2026-01-14", "2025-12-15", "2026-01-15"),
    ("monthly", "2026-01-15", "2025-03-01", "2025-02-15", "2025-03-15"),
    ("monthly", "2026-01-31", "2025-12-01", "2025-11-30", "2025-12-31"),
    ("monthly", "2026-03-31", "2025-03-01", "2025-02-28", "2025-03-31"),
    ("monthly", "2026-03-31", "2024-02-29", "2024-02-29", "2024-03-31"),
    ("quarterly", "2026-01-01", "2026-05-10", "2026-04-01", "2026-07-01"),
    ("quarterly", "2025-11-30", "2026-02-28", "2026-02-28", "2026-05-30"),
    ("quarterly", "2025-11-30", "2026-02-27", "2025-11-30", "2026-02-28"),
    ("quarterly", "2026-01-15", "2025-11-01", "2025-10-15", "2026-01-15"),
    ("yearly", "2024-02-29", "2025-03-01", "2025-02-28", "2026-02-28"),
    ("yearly", "2024-02-29", "2028-02-29", "2028-02-29", "2029-02-28"),
    ("yearly", "2024-02-29", "2028-02-28", "2027-02-28", "2028-02-29"),
    ("yearly", "2026-04-01", "2026-03-31", "2025-04-01", "2026-04-01"),
    ("yearly", "2026-04-01", "2030-04-01", "2030-04-01", "2031-04-01"),
]


@pytest.mark.parametrize(
    ("kind", "anchor", "day", "start", "end"),
    [pytest.param(*c, id=f"{c[0]}-{c[1]}-on-{c[2]}") for c in CYCLES],
)
def test_cycle_containing(kind: str, anchor: str, day: str, start: str, end: str) -> None:
    cycle = cycle_containing(d(day), cyc(kind, anchor), TZ)
    assert (cycle.start, cycle.end, cycle.resets_on, cycle.timezone) == (d(start), d(end), d(end), TZ)


@given(
    kind=st.sampled_from(["monthly", "quarterly", "yearly"]),
    anchor=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)),
    day=st.dates(min_value=date(1990, 1, 1), max_value=date(2050, 12, 31)),
)
def test_cycles_tile_the_calendar(kind: str, anchor: date, day: date) -> None:
    config = CycleConfig.model_validate({kind: anchor})
    cycle = cycle_containing(day, config, TZ)
    assert cycle.start <= day < cycle.end
    # The anchor's day, or the month's last day when the month is shorter.
    assert cycle.start.day == min(anchor.day, calendar.monthrange(cycle.start.year, cycle.start.month)[1])
    assert cycle_containing(cycle.end, config, TZ).start == cycle.end
    assert cycle_containing(cycle.start - timedelta(days=1), config, TZ).end == cycle.start


@pytest.mark.parametrize(
    ("kind", "anchor", "today", "cycles", "expected"),
    [
        pytest.param("monthly", "2026-01-15", "2026-03-20", 12, "2025-03-15", id="monthly-12"),
        pytest.param("monthly", "2026-01-15", "2026-03-10", 12, "2025-02-15", id="monthly-before-anchor-day"),
        pytest.param("monthly", "2026-01-31", "2026-03-31", 1, "2026-02-28", id="monthly-clamped"),
        pytest.param("monthly", "2026-01-01", "2026-03-20", 0, "2026-03-01", id="zero-is-current"),
        pytest.param("quarterly", "2026-01-01", "2026-05-10", 4, "2025-04-01", id="quarterly"),
        pytest.param("yearly", "2024-02-29", "2026-06-01", 2, "2024-02-29", id="yearly-leap"),
    ],
)
def test_history_start(kind: str, anchor: str, today: str, cycles: int, expected: str) -> None:
    assert history_start(cyc(kind, anchor), TZ, d(today), cycles) == d(expected)


def test_a_blocks_history_starts_at_the_block() -> None:
    assert history_start(cyc("block", "2025-06-10"), TZ, d("2026-03-20")) == d("2025-06-10")


def test_a_block_is_one_cycle_with_no_end() -> None:
    cycle = cycle_containing(d("2029-01-01"), cyc("block", "2025-06-10"), TZ)
    assert (cycle.start, cycle.end, cycle.resets_on) == (d("2025-06-10"), None, None)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, "2025-03-01", id="twelve-cycles"),
        pytest.param({"rollover": {"max_hours": 2}}, "2025-02-01", id="rollover-needs-one-more"),
        pytest.param({"cycle": {"monthly": "2021-05-01"},
                      "pools": {"a": {"cap_hours": 1}, "b": {"cap_hours": 9, "resets": "never"}}},
                     "2021-05-01", id="never-resetting-pool-from-the-anchor"),
        pytest.param({"cycle": {"block": "2020-01-01"}}, "2020-01-01", id="block"),
    ],
)
def test_read_from(overrides: dict[str, Any], expected: str) -> None:
    assert read_from(retainer(**overrides), TZ, d("2026-03-20")) == d(expected)


def test_history_start_defaults_to_twelve_cycles() -> None:
    assert history_start(cyc("monthly", "2026-01-01"), TZ, d("2026-03-20")) == d("2025-03-01")


@pytest.mark.parametrize(
    ("kind", "anchor", "today", "expected"),
    [
        pytest.param("monthly", "2026-01-15", "2026-03-20", ("2026-02-15", "2026-03-20"), id="monthly"),
        pytest.param("monthly", "2026-01-31", "2026-03-31", ("2026-02-28", "2026-03-31"), id="clamped"),
        pytest.param("quarterly", "2026-01-01", "2026-01-01", ("2025-10-01", "2026-01-01"), id="first-day"),
        # Every deletion since a block's start changes its balance.
        pytest.param("block", "2025-06-10", "2026-03-20", ("2025-06-10", "2026-03-20"), id="block"),
        pytest.param("block", "2026-06-10", "2026-03-20", ("2026-03-20", "2026-03-20"), id="block-not-started"),
    ],
)
def test_reconcile_window(kind: str, anchor: str, today: str, expected: tuple[str, str]) -> None:
    assert reconcile_window(cyc(kind, anchor), TZ, d(today)) == (d(expected[0]), d(expected[1]))


# --- statements ---------------------------------------------------------------------------

NOW = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)  # 12:00 CDT, day 20 of the March cycle


def retainer(**overrides: Any) -> RetainerConfig:
    data: dict[str, Any] = {
        "cycle": {"monthly": "2026-01-01"},
        "pools": {"reactive": {"label": "Reactive support", "cap_hours": 10},
                  "scheduled": {"cap_hours": 4}},
    }
    data.update(overrides)
    return RetainerConfig.model_validate(data)


_counter = iter(range(10**9))


def line(day: str, charged: str, pool: str = "reactive", vid: str | None = None, start: str = "") -> Line:
    vid = vid or str(next(_counter))
    return Line(
        date=d(day), description="Work", hours_logged=D(charged), multiplier=D(1), hours_charged=D(charged),
        pool=pool, sort_key=(day, start, "cw", vid.zfill(20)), source=("cw", vid),
    )


def statement(lines: list[Line], now: datetime = NOW, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {"client_key": "acme", "client_name": "Acme Dental", "retainer": retainer(),
                              "timezone": TZ, "now": now}
    kwargs.update(overrides)
    return build_statement(lines, **kwargs)


def figures(pool: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in (pool.cap, pool.carried_in, pool.adjustments, pool.available, pool.used,
                                  pool.remaining, pool.over))


def test_pools_in_config_order_with_figures() -> None:
    s = statement([line("2026-03-02", "2.50"), line("2026-03-05", "1.25", "scheduled"),
                   line("2026-02-27", "9.00")])
    assert [(p.name, p.label) for p in s.pools] == [("reactive", "Reactive support"), ("scheduled", "Scheduled")]
    assert figures(s.pools[0]) == ("10.00", "0.00", "0.00", "10.00", "2.50", "7.50", "0.00")
    assert figures(s.pools[1]) == ("4.00", "0.00", "0.00", "4.00", "1.25", "2.75", "0.00")
    assert (s.used, s.remaining, s.over) == (D("3.75"), D("10.25"), D("0.00"))


def test_over_the_cap() -> None:
    s = statement([line("2026-03-02", "8.00"), line("2026-03-03", "3.30")])
    assert figures(s.pools[0]) == ("10.00", "0.00", "0.00", "10.00", "11.30", "0.00", "1.30")


def test_cycle_is_taken_in_the_client_timezone() -> None:
    # 04:00 UTC on 1 April is still 31 March in Chicago.
    s = statement([line("2026-03-31", "1.00")], now=datetime(2026, 4, 1, 4, 0, tzinfo=UTC))
    assert (s.cycle.start, s.cycle.end) == (d("2026-03-01"), d("2026-04-01"))
    assert s.used == D("1.00")


def test_running_balance_is_chronological_per_pool_and_shown_newest_first() -> None:
    lines = [
        line("2026-03-10", "3.00", vid="30", start="15:00"),
        line("2026-03-02", "4.00", vid="10"),
        line("2026-03-10", "2.00", vid="20", start="09:00"),
        line("2026-03-04", "1.00", "scheduled", vid="40"),
        line("2026-03-12", "2.50", vid="50"),
    ]
    s = statement(lines)
    assert [(ln.source[1], ln.pool, str(ln.balance_after)) for ln in s.lines] == [
        ("50", "reactive", "-1.50"),
        ("30", "reactive", "1.00"),
        ("20", "reactive", "4.00"),
        ("40", "scheduled", "3.00"),
        ("10", "reactive", "6.00"),
    ]


def test_lines_outside_the_current_cycle_are_not_listed() -> None:
    s = statement([line("2026-02-28", "1.00"), line("2026-03-01", "2.00"), line("2026-04-01", "4.00")])
    assert [ln.date for ln in s.lines] == [d("2026-03-01")]
    assert s.used == D("2.00")


def test_a_line_in_an_unknown_pool_counts_in_the_default_pool() -> None:
    s = statement([line("2026-03-02", "1.00", "retired-pool")])
    assert s.lines[0].pool == "reactive"
    assert s.pools[0].used == D("1.00")


def test_adjustments_of_the_current_cycle() -> None:
    r = retainer(adjustments=[
        {"date": "2026-03-05", "hours": 5, "note": "Top-up for the office move"},
        {"date": "2026-03-01", "hours": "-1.5", "note": "Correction", "pool": "scheduled"},
        {"date": "2026-02-28", "hours": 9, "note": "Last cycle"},
        {"date": "2026-04-01", "hours": 9, "note": "Next cycle"},
    ])
    s = statement([line("2026-03-02", "12.00")], retainer=r)
    assert s.adjustments == (
        Adjustment(d("2026-03-01"), D("-1.50"), "Correction", "scheduled"),
        Adjustment(d("2026-03-05"), D("5.00"), "Top-up for the office move", "reactive"),
    )
    assert figures(s.pools[0]) == ("10.00", "0.00", "5.00", "15.00", "12.00", "3.00", "0.00")
    assert figures(s.pools[1]) == ("4.00", "0.00", "-1.50", "2.50", "0.00", "2.50", "0.00")
    assert s.lines[0].balance_after == D("3.00")


def test_statement_carries_freshness_through() -> None:
    source = SourceFreshness("ConnectWise", datetime(2026, 3, 20, 16, 55, tzinfo=UTC))
    due = datetime(2026, 3, 20, 17, 15, tzinfo=UTC)
    s = statement([], sources=[source], next_update_by=due, stale=True)
    assert (s.sources, s.next_update_by, s.stale, s.generated_at) == ((source,), due, True, NOW)
    assert (s.client_key, s.client_name, s.cycle.timezone) == ("acme", "Acme Dental", TZ)


# --- history --------------------------------------------------------------------------------


def test_history_from_the_first_line_newest_first() -> None:
    r = retainer(adjustments=[{"date": "2025-12-10", "hours": 2, "note": "Top-up"}])
    s = statement([line("2025-11-20", "3.00"), line("2026-01-05", "1.00", "scheduled"),
                   line("2026-01-09", "0.50"), line("2026-03-02", "1.00")], retainer=r)
    assert s.history == (
        PastCycle(d("2026-02-01"), d("2026-03-01"), D("14.00"), D("0.00")),
        PastCycle(d("2026-01-01"), d("2026-02-01"), D("14.00"), D("1.50")),
        PastCycle(d("2025-12-01"), d("2026-01-01"), D("16.00"), D("0.00")),
        PastCycle(d("2025-11-01"), d("2025-12-01"), D("14.00"), D("3.00")),
    )


def test_history_is_at_most_twelve_cycles() -> None:
    s = statement([line("2023-06-01", "1.00"), line("2025-03-15", "2.00"), line("2025-04-15", "4.00")])
    assert len(s.history) == 12
    assert s.history[0].start == d("2026-02-01")
    assert s.history[-1] == PastCycle(d("2025-03-01"), d("2025-04-01"), D("14.00"), D("2.00"))


@pytest.mark.parametrize(
    "lines",
    [pytest.param([], id="no-lines"), pytest.param([line("2026-03-02", "1.00")], id="only-current")],
)
def test_no_history(lines: list[Line]) -> None:
    assert statement(lines).history == ()


# --- forecast and notices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "used", "expected"),
    [
        # 14 h available in March. Day 20: 10 h used → 0.5 h/day → 14 h on day 28.
        pytest.param(datetime(2026, 3, 20, 17, tzinfo=UTC), "10.00", "2026-03-28", id="inside-cycle"),
        # Exactly on a day boundary: 7 h in 10 days → 14 h at the end of day 20.
        pytest.param(datetime(2026, 3, 10, 17, tzinfo=UTC), "7.00", "2026-03-20", id="exact-day"),
        pytest.param(datetime(2026, 3, 20, 17, tzinfo=UTC), "5.00", None, id="after-the-cycle"),
        pytest.param(datetime(2026, 3, 3, 17, tzinfo=UTC), "6.00", "2026-03-07", id="third-day"),
        pytest.param(datetime(2026, 3, 2, 17, tzinfo=UTC), "6.00", None, id="second-day-too-early"),
        pytest.param(datetime(2026, 3, 20, 17, tzinfo=UTC), "0.00", None, id="nothing-used"),
        pytest.param(datetime(2026, 3, 20, 17, tzinfo=UTC), "14.00", None, id="nothing-remaining"),
        pytest.param(datetime(2026, 3, 20, 17, tzinfo=UTC), "15.00", None, id="over"),
    ],
)
def test_forecast(now: datetime, used: str, expected: str | None) -> None:
    lines = [line("2026-03-01", used)] if D(used) else []
    s = statement(lines, now=now)
    assert s.forecast == (d(expected) if expected else None)


@pytest.mark.parametrize("kind", ["monthly", "block"])
def test_a_forecast_past_the_calendars_end_is_no_forecast(kind: str) -> None:
    # 9,999,999.99 h available and 0.01 h used by day 20: the pace would take some 54 billion years.
    r = retainer(cycle={kind: "2026-03-01"}, adjustments=[{"date": "2026-03-02", "hours": "9999999.99", "note": "Top-up"}])
    s = build_statement([line("2026-03-01", "0.01")], client_key="acme", client_name="Acme", retainer=r, timezone=TZ,
                        now=datetime(2026, 3, 20, 17, tzinfo=UTC))
    assert s.forecast is None and s.available > D("9999999")


@pytest.mark.parametrize(
    ("used", "thresholds", "expected"),
    [
        pytest.param("7.00", [75, 90, 100], (), id="none-crossed"),
        pytest.param("10.50", [75, 90, 100], ("You have used 75% of your hours this cycle.",), id="exactly-75"),
        pytest.param("13.00", [75, 90, 100], ("You have used 90% of your hours this cycle.",), id="90"),
        pytest.param("20.00", [100, 75, 90], ("You have used 100% of your hours this cycle.",), id="over-unsorted"),
        pytest.param("13.00", [], (), id="no-thresholds"),
    ],
)
def test_notices(used: str, thresholds: list[int], expected: tuple[str, ...]) -> None:
    r = retainer(alerts={"at_percent": thresholds})
    assert statement([line("2026-03-02", used)], retainer=r).notices == expected


def test_notice_with_nothing_available() -> None:
    r = retainer(pools={"reactive": {"cap_hours": 0}})
    assert statement([line("2026-03-02", "1.00")], retainer=r).notices == (
        "You have used 100% of your hours this cycle.",)
    assert statement([], retainer=r).notices == ()


# --- properties ---------------------------------------------------------------------------

POOLS = ["reactive", "scheduled", "unknown"]
line_strategy = st.builds(
    lambda day, cents, pool, vid: line(day.isoformat(), str(D(cents) / 100), pool, vid=str(vid)),
    st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 5, 31)),
    st.integers(min_value=0, max_value=2000),
    st.sampled_from(POOLS),
    st.integers(min_value=0, max_value=10**6),
)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(line_strategy, max_size=40),
    adjust=st.lists(st.tuples(st.dates(min_value=date(2026, 2, 15), max_value=date(2026, 4, 15)),
                              st.integers(min_value=-500, max_value=2000)), max_size=4),
)
def test_totals_always_add_up(lines: list[Line], adjust: list[tuple[date, int]]) -> None:
    r = retainer(adjustments=[{"date": a.isoformat(), "hours": str(D(h) / 100), "note": "adj"}
                              for a, h in adjust])
    s = statement(lines, retainer=r)
    in_cycle = [ln for ln in lines if s.cycle.start <= ln.date < s.cycle.end]
    assert sum((p.used for p in s.pools), D(0)) == sum((ln.hours_charged for ln in in_cycle), D(0))
    assert len(s.lines) == len(in_cycle)
    for pool in s.pools:
        assert pool.remaining == max(D(0), pool.available - pool.used)
        assert pool.over == max(D(0), pool.used - pool.available)
        assert pool.available == pool.cap + pool.carried_in + pool.adjustments
        for value in (pool.cap, pool.adjustments, pool.used, pool.remaining, pool.over):
            assert value.as_tuple().exponent == -2
        mine = [ln for ln in s.lines if ln.pool == pool.name]
        if mine:
            # Shown newest first: the newest line's balance is what the pool has left.
            assert mine[0].balance_after == pool.available - pool.used
    assert s.adjustments == tuple(sorted(s.adjustments, key=lambda a: a.date))
    assert [ln.date for ln in s.lines] == sorted((ln.date for ln in s.lines), reverse=True)
