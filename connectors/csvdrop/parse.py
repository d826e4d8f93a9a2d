"""Pure readers for CSV exports: bytes to a table, and the cell values the tools write."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Literal

from connectors.fields import FIRST_DAY, LAST_DAY, MAX_ENTRY_SECONDS

DateOrder = Literal["ymd", "mdy", "dmy"]

_DELIMITERS = (",", ";", "\t")
_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")  # .xlsx (zip) and legacy .xls


class CsvError(ValueError):
    """A file that cannot be imported; ``line`` is the file's 1-based line of the problem."""

    def __init__(self, problem: str, *, line: int | None = None, column: str | None = None) -> None:
        self.problem = problem
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.column:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.problem}" if where else self.problem

    def at(self, line: int, column: str | None = None) -> CsvError:
        """The same problem, placed at a line (and column) of the file."""
        return CsvError(self.problem, line=line, column=column or self.column)


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV file's header and data rows; each row keeps the file line it starts on."""

    header: tuple[str, ...]
    header_line: int
    rows: tuple[tuple[int, tuple[str, ...]], ...]


def decode(data: bytes) -> str:
    """The file's text: UTF-16 with a BOM, UTF-8 with or without a BOM, else Windows-1252."""
    if data.startswith(_SPREADSHEET_MAGIC):
        raise CsvError("this is a spreadsheet workbook, not CSV: export or save it as CSV")
    utf16 = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else _bomless_utf16(data)
    if utf16:
        try:
            return data.decode(utf16)
        except UnicodeDecodeError as err:
            raise CsvError(f"unreadable UTF-16 text at byte {err.start}",
                           line=_line_of(data[: err.start].decode(utf16, "replace"))) from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on Windows saves "CSV" in the system code page, Windows-1252 in the West.
        return data.decode("cp1252")
    except UnicodeDecodeError as err:
        raise CsvError(f"neither UTF-8 nor Windows-1252 text (byte {err.start})",
                       line=_line_of(data[: err.start].decode("cp1252", "replace"))) from err


def _bomless_utf16(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" for UTF-16 saved without a byte-order mark (some tools' "Unicode
    text"): mostly Latin text then has a NUL in nearly every other byte, which UTF-8 never has."""
    sample = data[:4096]
    if len(sample) < 4 or b"\x00" not in sample:
        return None
    odd, even = sample[1::2], sample[0::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _line_of(text_before: str) -> int:
    """The 1-based file line a position falls on, given the text before it (lines as read_table counts them)."""
    ended = not text_before or text_before.endswith(("\n", "\r"))
    return sum(1 for _ in io.StringIO(text_before, newline="")) + (1 if ended else 0)


def _delimiter(first_line: str) -> str:
    """The delimiter the header uses most: ";" where the decimal mark is a comma, tabs from some tools."""
    counts = {d: first_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_table(text: str) -> Table:
    """Rows of ``text`` under its first non-blank line (the header).

    Blank rows are skipped; a row with more values than the header (other than empty
    trailing ones) or fewer is an error naming its line, since a short last row is what a
    cut-off file looks like.
    """
    if "\x00" in text:
        raise CsvError("the file holds NUL bytes: not a CSV export", line=_line_of(text[: text.index("\x00")]))
    first = next((line for line in text.splitlines() if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first), strict=True)
    header: tuple[str, ...] | None = None
    header_line = 0
    rows: list[tuple[int, tuple[str, ...]]] = []
    line = 1
    try:
        for record in reader:
            start, line = line, reader.line_num + 1
            cells = tuple(cell.strip() for cell in record)
            if not any(cells):
                continue
            if header is None:
                header, header_line = cells, start
                continue
            if len(cells) > len(header) and not any(cells[len(header):]):
                cells = cells[: len(header)]
            if len(cells) != len(header):
                raise CsvError(f"{len(cells)} values where the header has {len(header)} columns", line=start)
            rows.append((start, cells))
    except csv.Error as err:
        raise CsvError(f"unreadable CSV: {err}", line=line) from err
    if header is None:
        raise CsvError("the file is empty")
    return Table(header, header_line, tuple(rows))


def normalize_header(name: str) -> str:
    """A header cell compared loosely: case, spacing and stray quotes ignored."""
    return re.sub(r"\s+", " ", name.replace("\ufeff", "").strip().strip('"').strip()).casefold()


_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_CLOCK_DURATION = re.compile(r"(\d+):([0-5]\d)(?::([0-5]\d))?")


def parse_decimal(text: str) -> Decimal:
    """A non-negative number written with a decimal point or a decimal comma ("1.5", "1,5", "1.234,5")."""
    s = text.strip().replace("\u00a0", "").replace(" ", "").replace("'", "")
    if "," in s and "." in s:
        # Whichever mark comes last is the decimal one; the other groups thousands.
        s = s.replace(".", "").replace(",", ".") if s.rfind(",") > s.rfind(".") else s.replace(",", "")
    elif s.count(",") == 1:
        s = s.replace(",", ".")
    if not _NUMBER.fullmatch(s):
        raise CsvError(f"not a number: {text!r}")
    try:
        return Decimal(s)
    except InvalidOperation as err:  # pragma: no cover - the pattern admits only valid decimals
        raise CsvError(f"not a number: {text!r}") from err


def parse_duration(text: str, unit: Literal["hours", "minutes"] = "hours") -> int:
    """Seconds of work from "1.5" / "1,5" (decimal ``unit``), "1:30" (h:mm) or "01:30:00" (h:mm:ss)."""
    s = text.strip()
    if not s:
        raise CsvError("no duration")
    clock = _CLOCK_DURATION.fullmatch(s)
    if clock:
        seconds = int(clock[1]) * 3600 + int(clock[2]) * 60 + int(clock[3] or 0)
    else:
        amount = parse_decimal(s) * (3600 if unit == "hours" else 60)
        seconds = int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if seconds > MAX_ENTRY_SECONDS:
        raise CsvError(f"{s} is more than 24 hours in one entry")
    return seconds


_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_NUMERIC_DATE = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{2}|\d{4})")
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_NAMED_DATE = re.compile(r"(?:(\d{1,2})[ -]([a-z]{3})[a-z]*\.?[ -,]*(\d{4}))|(?:([a-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4}))")
_TIME_TAIL = re.compile(r"[ T](\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?\s*(?:[ap]\.?m\.?)?)\s*$", re.IGNORECASE)


def split_date_time(text: str) -> tuple[str, str | None]:
    """A cell such as "11/18/2026 9:30 AM" as its date part and its time part (None if none)."""
    s = text.strip()
    match = _TIME_TAIL.search(s)
    if match and match.start() > 0:
        return s[: match.start()].strip(), match[1]
    return s, None


def date_order_of(values: Iterable[str], default: DateOrder | None) -> DateOrder | None:
    """Day-first or month-first for a file's numeric dates: a day above 12 decides; else ``default``."""
    seen: set[DateOrder] = set()
    for value in values:
        match = _NUMERIC_DATE.fullmatch(split_date_time(value)[0])
        if match:
            first, second = int(match[1]), int(match[2])
            if first > 12 >= second:
                seen.add("dmy")
            elif second > 12 >= first:
                seen.add("mdy")
    if len(seen) == 1:
        return seen.pop()
    return default


def parse_date(text: str, order: DateOrder | None) -> date:
    """A work date: ISO, numeric in ``order`` (two-digit years are 20xx), or with a month name;
    within the years work can be dated (see connectors.fields)."""
    found = _parse_date(text, order)
    if not FIRST_DAY <= found <= LAST_DAY:
        raise CsvError(f"{found.isoformat()} is outside {FIRST_DAY.year}..{LAST_DAY.year}: not a work date")
    return found


def _parse_date(text: str, order: DateOrder | None) -> date:
    s = split_date_time(text)[0].casefold()
    try:
        iso = _ISO_DATE.fullmatch(s)
        if iso:
            return date(int(iso[1]), int(iso[2]), int(iso[3]))
        numeric = _NUMERIC_DATE.fullmatch(s)
        if numeric:
            a, b, year = int(numeric[1]), int(numeric[2]), int(numeric[3])
            year += 2000 if year < 100 else 0
            if order is None and a <= 12 and b <= 12 and a != b:
                raise CsvError(f"ambiguous date {text!r}: write it as YYYY-MM-DD or set the account's date_order")
            day, month = (b, a) if order == "mdy" else (a, b)
            return date(year, month, day)
        named = _NAMED_DATE.fullmatch(s)
        if named and (named[2] or named[4])[:3] in _MONTHS:
            if named[1]:
                return date(int(named[3]), _MONTHS[named[2][:3]], int(named[1]))
            return date(int(named[6]), _MONTHS[named[4][:3]], int(named[5]))
    except CsvError:
        raise
    except ValueError as err:
        raise CsvError(f"impossible date {text!r}") from err
    raise CsvError(f"unreadable date {text!r}")


_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*(?:([ap])\.?m\.?)?", re.IGNORECASE)


def parse_time(text: str) -> time:
    """A time of day: "09:30", "9:30:15", "9:30 AM", "09:30:00 PM"."""
    match = _TIME.fullmatch(text.strip())
    if not match:
        raise CsvError(f"unreadable time of day {text!r}")
    hour, minute, second, half = int(match[1]), int(match[2]), int(match[3] or 0), (match[4] or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise CsvError(f"unreadable time of day {text!r}")
        hour = hour % 12 + (12 if half == "p" else 0)
    try:
        return time(hour, minute, second)
    except ValueError as err:
        raise CsvError(f"impossible time of day {text!r}") from err


_TRUE = {"yes", "y", "true", "t", "1", "billable", "x", "ja", "oui", "sí", "si"}
_FALSE = {"no", "n", "false", "f", "0", "non-billable", "nonbillable", "not billable", "donotbill",
          "do not bill", "nocharge", "no charge", "nein", "non"}


def parse_bool(text: str) -> bool | None:
    """A yes/no cell in the tools' spellings; None when blank."""
    s = text.strip().casefold()
    if not s:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise CsvError(f"not yes or no: {text!r}")


_NAME_DATE = re.compile(r"(?<!\d)(\d{4})[-_.](\d{2})[-_.](\d{2})(?!\d)")


def period_in_name(name: str) -> tuple[date, date] | None:
    """The report period a file name states ("…_2026-11-01_to_2026-11-30.csv"): exactly two ISO dates."""
    found = []
    for match in _NAME_DATE.finditer(name):
        try:
            found.append(date(int(match[1]), int(match[2]), int(match[3])))
        except ValueError:
            return None
    if len(found) != 2 or not all(FIRST_DAY <= day <= LAST_DAY for day in found):
        return None
    return min(found), max(found)
