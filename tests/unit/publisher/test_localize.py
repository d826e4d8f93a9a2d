"""Figures, dates and times in the client's locale and timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from publisher.localize import Formatter, parse_locale

MOMENT = datetime(2026, 11, 21, 20, 5, tzinfo=UTC)


@pytest.mark.parametrize(("locale", "zone", "hours", "day", "moment"), [
    ("en", "America/Chicago", "1,234.50", "Nov 21, 2026", "Nov 21, 2026, 2:05\u202fPM CST"),
    ("en_GB", "Europe/London", "1,234.50", "21 Nov 2026", "21 Nov 2026, 20:05 GMT"),
    ("de_DE", "Europe/Berlin", "1.234,50", "21.11.2026", "21.11.2026, 21:05 CET"),
    ("fr", "Europe/Paris", "1\u202f234,50", "21 nov. 2026", "21 nov. 2026, 21:05 CET"),
    ("pt-BR", "America/Sao_Paulo", "1.234,50", "21 de nov. de 2026", "21 de nov. de 2026 17:05 -03"),
    ("ja", "Asia/Tokyo", "1,234.50", "2026/11/21", "2026/11/22 5:05 JST"),
])
def test_each_locale_writes_hours_dates_and_times_its_own_way(
    locale: str, zone: str, hours: str, day: str, moment: str
) -> None:
    fmt = Formatter.of(locale, zone)
    assert fmt.hours(D("1234.5")) == hours
    assert fmt.date(date(2026, 11, 21)) == day
    assert fmt.moment(MOMENT) == moment


@pytest.mark.parametrize(("value", "text"), [
    (D("0"), "0.00"), (D("0.005"), "0.01"), (D("-2.5"), "-2.50"), (D("14.25"), "14.25"),
])
def test_hours_always_have_two_places_rounded_half_up(value: D, text: str) -> None:
    assert Formatter.of("en", "UTC").hours(value) == text


@pytest.mark.parametrize(("value", "text"), [(D("10"), "+10.00"), (D("-3"), "-3.00"), (D("0"), "0.00")])
def test_signed_hours_carry_a_plus_only_when_positive(value: D, text: str) -> None:
    assert Formatter.of("en", "UTC").signed_hours(value) == text


def test_a_naive_instant_is_taken_as_utc() -> None:
    fmt = Formatter.of("en_GB", "Europe/London")
    assert fmt.moment(MOMENT.replace(tzinfo=None)) == fmt.moment(MOMENT)
    assert fmt.local_date(datetime(2026, 11, 21, 23, 30)) == date(2026, 11, 21)


@pytest.mark.parametrize(("name", "tag"), [("en", "en"), ("en_GB", "en-GB"), ("pt-BR", "pt-BR")])
def test_the_locale_tag_is_bcp47_for_the_lang_attribute(name: str, tag: str) -> None:
    assert Formatter.of(name, "UTC").tag == tag


@pytest.mark.parametrize("name", ["xx", "zz_QQ", ""])
def test_an_unknown_locale_is_a_value_error_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match=f"unknown locale '{name}'"):
        parse_locale(name)
