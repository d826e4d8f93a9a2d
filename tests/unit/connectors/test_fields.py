"""The shared payload field readers: one rule for every source's ids, timestamps, durations and text."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

from connectors import fields
from connectors.fields import FieldError, read

UTC = timezone.utc


@pytest.mark.parametrize(("value", "seconds"), [
    (0, 0), (1.5, 5400), ("1.5", 5400), (Decimal("0.17"), 612), (24, 86400), ("24", 86400), (1e-12, 0),
])
def test_durations_from_zero_to_a_whole_day_are_read_in_seconds(value: Any, seconds: int) -> None:
    assert fields.seconds(value) == seconds


@pytest.mark.parametrize(("value", "problem"), [
    (None, "missing"), (True, "expected a number, got bool"), ([1], "expected a number, got list"),
    ("1,5", "not a number: '1,5'"), ("lots", "not a number"), ("NaN", "'NaN' is not a finite number"),
    ("sNaN", "is not a finite number"), (float("nan"), "nan is not a finite number"),
    (float("inf"), "inf is not a finite number"), ("-Infinity", "is not a finite number"),
    (-0.25, "-0.25 is negative"), (24.01, "24.01 is more than 24 hours in one entry"),
    (1e12, "is more than 24 hours"), ("1E999999", "is more than 24 hours"), (10**30, "is more than 24 hours"),
])
def test_a_duration_that_cannot_be_right_is_refused_saying_why(value: Any, problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        fields.seconds(value)


def test_a_duration_in_seconds_has_the_same_one_day_limit() -> None:
    assert fields.seconds(86400, unit=1) == 86400
    with pytest.raises(ValueError, match="more than 24 hours"):
        fields.seconds(86401, unit=1)


@pytest.mark.parametrize(("value", "problem"), [(-1, "negative"), (86399.6, None), (86401, "more than 24 hours")])
def test_a_worked_out_duration_is_checked_like_a_given_one(value: float, problem: str | None) -> None:
    if problem is None:
        assert fields.checked_seconds(value) == 86400
    else:
        with pytest.raises(ValueError, match=problem):
            fields.checked_seconds(value)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T15:04:05Z", datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)),
    ("2026-11-20T15:04:05z", datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)),
    (" 2026-11-20T09:04:05-06:00 ", datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)),
    ("2026-11-20T15:04:05", datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)),
    ("2026-11-20T15:04:05.1234567Z", datetime(2026, 11, 20, 15, 4, 5, 123456, tzinfo=UTC)),
    ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
    ("2999-12-31T23:59:59Z", datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)),
])
def test_timestamps_are_aware_utc(text: str, expected: datetime) -> None:
    moment = fields.instant(text)
    assert moment == expected and moment.utcoffset() is not None and moment.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(("value", "problem"), [
    (None, "missing"), (1730559600, "expected a timestamp, got int"), ("yesterday", "not a timestamp"),
    ("2026-02-30T10:00:00Z", "not a timestamp"), ("2026-11-20T15:00:00+25:00", "not a timestamp"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00\\+00:00 is outside 1970..2999"),
    ("0001-01-01T00:30:00+01:00", "is outside 1970..2999"),  # would overflow on the way to UTC
    ("9999-12-31T23:00:00-05:00", "is outside 1970..2999"),
    ("1969-12-31T23:59:59Z", "is outside"), ("3000-01-01T00:00:00Z", "is outside"),
])
def test_a_timestamp_that_cannot_be_work_is_refused(value: Any, problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        fields.instant(value)


@pytest.mark.parametrize(("value", "problem"), [
    ("2026-02-30", "not a date"), ("0001-01-01", "outside"), ("9999-12-31", "outside"), (20261120, "expected a date"),
])
def test_a_date_that_cannot_be_work_is_refused(value: Any, problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        fields.day(value)


@pytest.mark.parametrize(("value", "expected"), [(1502231, "1502231"), ("1502231", "1502231"), (" 7 ", "7"),
                                                 (2**63 - 1, str(2**63 - 1))])
def test_record_ids_are_integers_as_text(value: Any, expected: str) -> None:
    assert fields.record_id(value) == expected


@pytest.mark.parametrize("value", [True, 1.5, -1, 2**63, "abc", "", "²", "١٢", "1e3", [1], {"id": 1}])
def test_anything_else_is_not_a_record_id(value: Any) -> None:
    with pytest.raises(ValueError, match="not an id"):
        fields.record_id(value)


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("  ", None), (" Fixed it ", "Fixed it"), ("a\x00b", "ab"),
    ("cut \ud83d", "cut ?"), ("😀 whole", "😀 whole"),
])
def test_text_is_trimmed_and_made_storable(value: Any, expected: str | None) -> None:
    assert fields.text(value) == expected


def test_a_name_longer_than_the_store_holds_is_refused() -> None:
    assert fields.name("x" * fields.MAX_NAME) == "x" * fields.MAX_NAME
    with pytest.raises(ValueError, match="a name of 257 characters"):
        fields.name("x" * 257)


@pytest.mark.parametrize(("raw", "path", "message"), [
    ({}, "timeStart", "timeStart: missing"),
    ({"member": "Ingrid"}, "member.name", "member: expected an object, got str"),
    ({"member": {"name": 5}}, "member.name", "member.name: expected text, got int"),
    ({"_info": {"lastUpdated": "soon"}}, "_info.lastUpdated", "_info.lastUpdated: not a timestamp: 'soon'"),
])
def test_read_names_the_path_of_the_field_that_failed(raw: dict[str, Any], path: str, message: str) -> None:
    parse = fields.required(fields.instant) if path in ("timeStart", "_info.lastUpdated") else fields.text
    with pytest.raises(FieldError) as caught:
        read(raw, path, parse)
    assert str(caught.value) == message


def test_read_gives_none_for_an_absent_nested_object() -> None:
    assert read({"member": None}, "member.name", fields.text) is None
    assert read({}, "member.name", fields.text) is None


def test_a_quoted_value_is_cut_short() -> None:
    assert len(fields.shown("x" * 10_000)) == 60


def test_the_day_range_holds_the_dates_the_range_names() -> None:
    assert fields.day("1970-01-01") == date(1970, 1, 1) and fields.day("2999-12-31") == date(2999, 12, 31)
