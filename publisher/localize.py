"""Dates, times and figures written the way the client's locale writes them, in their timezone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_skeleton, get_date_format, get_datetime_format, get_time_format
from babel.numbers import format_decimal

from syncd.models import hours

_HOURS_PATTERN = "#,##0.00"
_PERCENT_PATTERN = "#,##0.0"


def parse_locale(name: str) -> Locale:
    """A Babel locale from "en", "en_GB" or "pt-BR"; an unknown one raises ValueError."""
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as err:
        raise ValueError(f"unknown locale {name!r}") from err


@dataclass(frozen=True, slots=True)
class Formatter:
    """Formats one page's figures for ``locale``, with times in the client's ``timezone``."""

    locale: Locale
    timezone: ZoneInfo

    @classmethod
    def of(cls, locale: str, timezone: str) -> Formatter:
        """The formatter for a statement's locale name and timezone name."""
        return cls(parse_locale(locale), ZoneInfo(timezone))

    @property
    def tag(self) -> str:
        """The BCP 47 tag of the locale ("en", "de-AT"), for the page's ``lang``."""
        return str(self.locale).replace("_", "-")

    def hours(self, value: Decimal) -> str:
        """Hours with exactly two places and the locale's separators ("1,234.50", "1.234,50")."""
        return format_decimal(hours(value), _HOURS_PATTERN, locale=self.locale)

    def signed_hours(self, value: Decimal) -> str:
        """Hours with a plus sign when positive, for adjustments."""
        text = self.hours(value)
        return f"+{text}" if value > 0 else text

    def percent(self, value: Decimal) -> str:
        """A percentage figure with one place, without the sign (the text adds it)."""
        return format_decimal(value, _PERCENT_PATTERN, locale=self.locale)

    def number(self, value: int) -> str:
        """A whole number ("30", "1,000")."""
        return format_decimal(value, locale=self.locale)

    def date(self, value: date) -> str:
        """A date in the locale's medium style ("Nov 21, 2026", "21 Nov 2026", "21.11.2026")."""
        return format_date(value, "medium", locale=self.locale)

    def short_date(self, value: date) -> str:
        """Day and month only ("Nov 21", "21. Nov."), for the chart's axis."""
        return format_skeleton("MMMd", value, locale=self.locale)

    def moment(self, value: datetime) -> str:
        """A UTC instant as the client's local date and time with the zone's abbreviation."""
        local = as_utc(value).astimezone(self.timezone)
        # Babel's own zone names vary by locale (an offset in one, a long name in another);
        # the zone's abbreviation ("CST") reads the same on every page.
        date_part = get_date_format("medium", locale=self.locale).pattern
        time_part = get_time_format("short", locale=self.locale).pattern
        pattern = get_datetime_format("medium", locale=self.locale).replace("{1}", date_part).replace("{0}", time_part)
        return f"{format_datetime(local, pattern, locale=self.locale)} {local.tzname()}"

    def local_date(self, value: datetime) -> date:
        """The client's calendar date at a UTC instant."""
        return as_utc(value).astimezone(self.timezone).date()


def as_utc(value: datetime) -> datetime:
    """Model datetimes are UTC; a naive one is taken as UTC rather than as server-local time."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_iso(value: datetime) -> str:
    """An instant as ISO 8601 in UTC to the second, with a Z ("2026-11-21T20:05:00Z")."""
    return as_utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")
