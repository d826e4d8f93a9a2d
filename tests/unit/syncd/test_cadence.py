"""Cadences: cron expressions read in the client's timezone, across DST; intervals as before."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from syncd.cadence import CRON_JITTER, Cadence, check_cron, longest_gap

UTC = timezone.utc


def fires(cadence: Cadence, start: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times of the cadence's trigger, asked as APScheduler asks
    (each from the previous fire, jitter included): a frozen clock, no waiting."""
    trigger, out, previous, now = cadence.trigger(), [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        out.append(fire)
        previous = now = fire
    return out


@pytest.mark.parametrize(
    ("tz", "start", "expected_utc_hours"),
    [
        # London springs forward on 29 Mar 2026: 07:00 local is 07:00 UTC before, 06:00 UTC after.
        pytest.param("Europe/London", datetime(2026, 3, 26, 12, tzinfo=UTC), [7, 7, 6, 6], id="london-spring"),
        # Chicago falls back on 1 Nov 2026: 07:00 local is 12:00 UTC before, 13:00 UTC after.
        pytest.param("America/Chicago", datetime(2026, 10, 29, 18, tzinfo=UTC), [12, 12, 13, 13], id="chicago-fall"),
    ],
)
def test_a_daily_cron_fires_at_seven_local_time_across_a_dst_change(
    tz: str, start: datetime, expected_utc_hours: list[int]
) -> None:
    cadence = Cadence(cron="0 7 * * *", timezone=tz)
    got = fires(cadence, start, 4)
    assert [f.astimezone(UTC).hour for f in got] == expected_utc_hours
    for fire in got:
        local = fire.astimezone(ZoneInfo(tz))
        assert (local.hour, local.minute) == (7, 0)
        assert local.second < CRON_JITTER or (local.second == CRON_JITTER and local.microsecond == 0)


def test_mon_thu_cron_in_chicago_fires_on_mondays_and_thursdays_at_seven_across_the_fall_back() -> None:
    cadence = Cadence(cron="0 7 * * mon,thu", timezone="America/Chicago")
    got = [f.astimezone(ZoneInfo("America/Chicago")) for f in fires(cadence, datetime(2026, 10, 26, tzinfo=UTC), 4)]
    assert [(f.strftime("%a %d %b"), f.hour, f.minute) for f in got] == [
        ("Mon 26 Oct", 7, 0), ("Thu 29 Oct", 7, 0), ("Mon 02 Nov", 7, 0), ("Thu 05 Nov", 7, 0)]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Before the change: Monday 07:00 CST, after the clocks went back on Sunday 1 Nov.
        pytest.param(datetime(2026, 10, 30, 12, tzinfo=UTC), datetime(2026, 11, 2, 13, tzinfo=UTC), id="over-dst"),
        pytest.param(datetime(2026, 10, 29, 11, 59, tzinfo=UTC), datetime(2026, 10, 29, 12, tzinfo=UTC), id="same-day"),
        pytest.param(datetime(2026, 10, 29, 12, tzinfo=UTC), datetime(2026, 11, 2, 13, tzinfo=UTC), id="at-a-fire"),
    ],
)
def test_next_after_is_the_next_fire_without_jitter(now: datetime, expected: datetime) -> None:
    assert Cadence(cron="0 7 * * mon,thu", timezone="America/Chicago").next_after(now) == expected


def test_an_interval_cadence_is_due_one_interval_later() -> None:
    now = datetime(2026, 11, 18, 15, tzinfo=UTC)
    assert Cadence(every=900).next_after(now) == datetime(2026, 11, 18, 15, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expr", "gap"),
    [
        ("0 7 * * mon,thu", 4 * 86400),
        ("0 7 * * 1-5", 3 * 86400),  # crontab numbers: 1-5 is Monday to Friday, 0 and 7 Sunday
        ("*/15 * * * *", 900),
        ("30 6 * * 0,7", 7 * 86400),
    ],
)
def test_longest_gap_reads_crontab_weekday_numbers_as_crontab_does(expr: str, gap: int) -> None:
    assert longest_gap(expr, "Europe/London") == gap


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 7 * *", "a cron expression has 5 fields"),
        ("61 7 * * *", "invalid cron expression '61 7 * * *'"),
        ("0 7 * * 9", "day-of-week '9' is out of range"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_cron(expr)
