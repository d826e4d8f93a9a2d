"""Reading fields of vendor payloads: errors that name the field, and one rule for every
source's ids, timestamps, dates, durations and text."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from syncd.models import FIRST_DAY, LAST_DAY

T = TypeVar("T")

# One entry of more than a day is almost always a typo ("75" for "0.75") or a timer left
# running, and a wrong figure on a client's page is worse than a refused entry the admin
# can fix upstream: every source refuses it, naming the entry.
MAX_ENTRY_SECONDS = 24 * 3600
# The store's columns: a vendor id of up to 128 characters, a technician name of up to 256.
MAX_NAME = 256
# What reading a malformed payload can raise; `read` turns each into a FieldError.
READ_ERRORS = (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, IndexError)

_DIGITS = re.compile(r"\s*[0-9]{1,19}\s*")


class FieldError(ValueError):
    """A payload field that cannot be read; the message starts with the field's name."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def shown(value: Any, limit: int = 60) -> str:
    """A value as an error message quotes it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def read(raw: Mapping[str, Any], path: str, parse: Callable[[Any], T]) -> T:
    """``parse`` of the value at ``path`` ("notes", or "member.name" into nested objects; None
    where absent); any failure is a FieldError naming the path."""
    value: Any = raw
    walked: list[str] = []
    for key in path.split("."):
        if value is None:
            break
        if not isinstance(value, Mapping):
            raise FieldError(".".join(walked), f"expected an object, got {type(value).__name__}")
        value = value.get(key)
        walked.append(key)
    try:
        return parse(value)
    except FieldError as err:
        raise FieldError(f"{path}.{err.field}", err.problem) from err
    except READ_ERRORS as err:
        raise FieldError(path, _problem(err)) from err


def _problem(err: BaseException) -> str:
    if isinstance(err, KeyError):
        return f"missing {err.args[0]!r}" if err.args else "missing"
    return str(err) or type(err).__name__


def required(parse: Callable[[Any], T]) -> Callable[[Any], T]:
    """``parse``, refusing an absent (None) value as missing."""
    def strict(value: Any) -> T:
        if value is None:
            raise ValueError("missing")
        return parse(value)
    return strict


def optional(parse: Callable[[Any], T]) -> Callable[[Any], T | None]:
    """``parse``, taking an absent (None) or blank value as None."""
    def lenient(value: Any) -> T | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return parse(value)
    return lenient


def record_id(value: Any) -> str:
    """A vendor's record id: a non-negative integer (or one written in digits) that fits in 64 bits."""
    if value is None:
        raise ValueError("missing")
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        raise ValueError(f"not an id: {shown(value)}")
    if not 0 <= number < 2**63:
        raise ValueError(f"not an id: {shown(value)}")
    return str(number)


def parse_iso(value: Any) -> datetime:
    """An ISO 8601 timestamp as an aware datetime (no offset: UTC), not yet checked for range."""
    if value is None:
        raise ValueError("missing")
    if not isinstance(value, str):
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as err:
        raise ValueError(f"not a timestamp: {shown(value)}") from err
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def in_years(moment: datetime) -> datetime:
    """``moment`` in UTC, if its day lies within the days work can be dated."""
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError as err:
        raise ValueError(f"{moment.isoformat()} is outside {FIRST_DAY.year}..{LAST_DAY.year}") from err
    if not FIRST_DAY <= utc.date() <= LAST_DAY:
        raise ValueError(f"{utc.isoformat()} is outside {FIRST_DAY.year}..{LAST_DAY.year}")
    return utc


def instant(value: Any) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime within the years work can be dated."""
    return in_years(parse_iso(value))


def day(value: Any) -> date:
    """An ISO date ("2026-11-20") within the years work can be dated."""
    if value is None:
        raise ValueError("missing")
    if not isinstance(value, str):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError as err:
        raise ValueError(f"not a date: {shown(value)}") from err
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise ValueError(f"{parsed.isoformat()} is outside {FIRST_DAY.year}..{LAST_DAY.year}")
    return parsed


def duration(value: Any, *, unit: int = 3600) -> Decimal:
    """A duration in ``unit`` seconds (hours by default), a number or a number written as text:
    refused when missing, not a number, not finite, negative or more than a day."""
    if value is None:
        raise ValueError("missing")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as err:
        raise ValueError(f"not a number: {shown(value)}") from err
    if not amount.is_finite():
        raise ValueError(f"{shown(value)} is not a finite number")
    if amount < 0:
        raise ValueError(f"{shown(value)} is negative")
    if amount > Decimal(MAX_ENTRY_SECONDS) / unit:
        raise ValueError(f"{shown(value)} is more than 24 hours in one entry")
    return amount


def to_seconds(amount: Decimal, *, unit: int = 3600) -> int:
    """A checked duration (see :func:`duration`) as whole seconds, rounded half-even."""
    return int((amount * unit).to_integral_value())


def seconds(value: Any, *, unit: int = 3600) -> int:
    """:func:`duration` as whole seconds."""
    return to_seconds(duration(value, unit=unit), unit=unit)


def checked_seconds(value: float | Decimal) -> int:
    """A number of seconds worked out from other fields (an end minus a start), checked as
    :func:`duration` checks a given one."""
    amount = Decimal(str(value))
    if amount < 0:
        raise ValueError(f"is {amount} seconds, a negative duration")
    if amount > MAX_ENTRY_SECONDS:
        raise ValueError(f"is {amount} seconds, more than 24 hours in one entry")
    return int(amount.to_integral_value())


def clean(text: str) -> str:
    """``text`` as the store and the page can hold it: NUL characters dropped, and unpaired
    surrogates (a vendor's UTF-16 text cut mid-character) replaced."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def text(value: Any) -> str | None:
    """A text field, cleaned and trimmed; None when absent or blank; refused when not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return clean(value).strip() or None


def name(value: Any) -> str | None:
    """A technician's name: text of at most :data:`MAX_NAME` characters."""
    found = text(value)
    if found is not None and len(found) > MAX_NAME:
        raise ValueError(f"a name of {len(found)} characters (at most {MAX_NAME})")
    return found


def flag(value: Any) -> bool | None:
    """A JSON true or false; None when absent; refused otherwise (the text "false" is not false)."""
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"expected true or false, got {shown(value)}")
