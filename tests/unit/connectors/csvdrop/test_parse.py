"""The cell readers: encodings, delimiters, decimal commas, h:mm, dates; only CsvError ever escapes."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.csvdrop.parse import (
    CsvError,
    date_order_of,
    decode,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_duration,
    parse_time,
    period_in_name,
    read_table,
)
from connectors.csvdrop.records import read_export

TEXT = "Date;Client;Hours\n2026-11-03;Café Nord;1,5\n"


@pytest.mark.parametrize(("data", "expected"), [
    (TEXT.encode("utf-8"), TEXT),
    (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), TEXT),
    (TEXT.encode("cp1252"), TEXT),
    (TEXT.encode("utf-16"), TEXT),
    (TEXT.encode("utf-16-le"), TEXT),
    (TEXT.encode("utf-16-be"), TEXT),
], ids=["utf-8", "utf-8-bom", "windows-1252", "utf-16-bom", "utf-16-le-without-bom", "utf-16-be-without-bom"])
def test_every_encoding_the_tools_write_decodes_to_the_same_text(data: bytes, expected: str) -> None:
    assert decode(data) == expected


@pytest.mark.parametrize(("data", "problem", "line"), [
    (b"PK\x03\x04rest-of-a-zip", "spreadsheet workbook", None),
    (b"Date,Hours\n\x81\x8d\x8f\x90\x9d\n", "neither UTF-8 nor Windows-1252", 2),
    (b"\xff\xfeD\x00a\x00\n\x00\x00\xd8", "unreadable UTF-16 text", 2),
])
def test_what_is_not_csv_text_is_refused_with_a_reason(data: bytes, problem: str, line: int | None) -> None:
    with pytest.raises(CsvError, match=problem) as caught:
        decode(data)
    assert caught.value.line == line


def test_a_nul_byte_is_refused_naming_its_line() -> None:
    with pytest.raises(CsvError, match="line 3: the file holds NUL bytes") as caught:
        read_table("Date,Hours\r\n2026-11-03,1\r\n2026-11-04,\x002\r\n")
    assert caught.value.line == 3


@pytest.mark.parametrize(("text", "delimiter_cells"), [
    ("a,b,c\n1,2,3\n", ("1", "2", "3")),
    ("a;b;c\n1;\"2,5\";3\n", ("1", "2,5", "3")),
    ("a\tb\tc\n1\t2\t3\n", ("1", "2", "3")),
])
def test_the_delimiter_is_the_one_the_header_uses(text: str, delimiter_cells: tuple[str, ...]) -> None:
    assert read_table(text).rows == ((2, delimiter_cells),)


def test_rows_keep_their_file_line_across_blank_lines_and_quoted_newlines() -> None:
    table = read_table('\n\nDate,Notes\n2026-11-03,"two\nlines"\n\n2026-11-04,one\n')
    assert table.header_line == 3
    assert [line for line, _ in table.rows] == [4, 7]


@pytest.mark.parametrize(("text", "line", "problem"), [
    ("a,b,c\n1,2\n", 2, "2 values where the header has 3 columns"),
    ("a,b\n1,2\n1,2,3\n", 3, "3 values where the header has 2 columns"),
    ("", None, "the file is empty"),
])
def test_a_row_that_does_not_fit_the_header_is_named_by_line(text: str, line: int | None, problem: str) -> None:
    with pytest.raises(CsvError) as caught:
        read_table(text)
    assert caught.value.line == line and caught.value.problem == problem


def test_empty_trailing_cells_beyond_the_header_are_ignored() -> None:
    assert read_table("a,b\n1,2,,\n").rows == ((2, ("1", "2")),)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1.5", 5400), ("1,5", 5400), ("0,25", 900), (" 2 ", 7200), (".75", 2700),
    ("1:30", 5400), ("0:05", 300), ("01:20:00", 4800), ("00:00:30", 30), ("24", 86400),
])
def test_durations_in_decimal_hours_decimal_commas_and_clock_form(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_minutes_column_counts_minutes() -> None:
    assert parse_duration("45", "minutes") == 2700 and parse_duration("7,5", "minutes") == 450


@pytest.mark.parametrize(("text", "problem"), [
    ("", "no duration"), ("abc", "not a number"), ("-1", "not a number"), ("1:75", "not a number"),
    ("75", "more than 24 hours"), ("1,2,3", "not a number"),
])
def test_a_duration_that_cannot_be_right_is_refused(text: str, problem: str) -> None:
    with pytest.raises(CsvError, match=problem):
        parse_duration(text)


@pytest.mark.parametrize(("text", "value"), [("1.234,5", "1234.5"), ("1,234.5", "1234.5"), ("1 234,5", "1234.5")])
def test_thousands_marks_are_told_from_the_decimal_mark(text: str, value: str) -> None:
    assert str(parse_decimal(text)) == value


@pytest.mark.parametrize(("text", "order", "expected"), [
    ("2026-11-03", None, date(2026, 11, 3)),
    ("2026-11-03T09:30:00", None, date(2026, 11, 3)),
    ("11/03/2026", "mdy", date(2026, 11, 3)),
    ("03/11/2026", "dmy", date(2026, 11, 3)),
    ("03.11.2026", "dmy", date(2026, 11, 3)),
    ("11/3/26", "mdy", date(2026, 11, 3)),
    ("11/18/2026 9:30 AM", "mdy", date(2026, 11, 18)),
    ("18/11/2026", None, date(2026, 11, 18)),
    ("3 Nov 2026", None, date(2026, 11, 3)),
    ("Nov 3, 2026", None, date(2026, 11, 3)),
    ("05/05/2026", None, date(2026, 5, 5)),
])
def test_dates_in_the_tools_usual_forms(text: str, order: str | None, expected: date) -> None:
    assert parse_date(text, order) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "order", "problem"), [
    ("03/04/2026", None, "ambiguous date"),
    ("2026-02-30", None, "impossible date"),
    ("18/11/2026", "mdy", "impossible date"),
    ("yesterday", "mdy", "unreadable date"),
    ("0001-01-01", None, "0001-01-01 is outside 1970..2999: not a work date"),
    ("9999-12-31", None, "9999-12-31 is outside 1970..2999"),
    ("12/31/1969", "mdy", "1969-12-31 is outside"),
])
def test_a_date_that_cannot_be_read_for_sure_is_refused(text: str, order: str | None, problem: str) -> None:
    with pytest.raises(CsvError, match=problem):
        parse_date(text, order)  # type: ignore[arg-type]


@pytest.mark.parametrize(("values", "default", "expected"), [
    (["03/04/2026", "18/04/2026"], "mdy", "dmy"),
    (["03/04/2026", "04/18/2026"], "dmy", "mdy"),
    (["03/04/2026"], "mdy", "mdy"),
    (["03/04/2026"], None, None),
    (["18/04/2026", "04/18/2026"], "mdy", "mdy"),  # contradictory: the tool's order, and the bad row fails
])
def test_a_day_above_twelve_decides_the_files_date_order(values: list[str], default: str | None,
                                                         expected: str | None) -> None:
    assert date_order_of(values, default) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("09:30", time(9, 30)), ("9:30:15", time(9, 30, 15)), ("9:30 AM", time(9, 30)), ("12:05 am", time(0, 5)),
    ("01:15:00 PM", time(13, 15)), ("21:45", time(21, 45)),
])
def test_times_of_day(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Yes", True), ("no", False), ("TRUE", True), ("0", False), ("Billable", True), ("DoNotBill", False),
    ("NoCharge", False), ("", None),
])
def test_yes_no_cells_in_the_tools_spellings(text: str, expected: bool | None) -> None:
    assert parse_bool(text) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("Toggl_time_entries_2026-11-01_to_2026-11-30.csv", (date(2026, 11, 1), date(2026, 11, 30))),
    ("export_2026_11_30-2026_11_01.csv", (date(2026, 11, 1), date(2026, 11, 30))),
    ("labor-2026-11-05.csv", None),
    ("everything_0001-01-01_to_9999-12-31.csv", None),
    ("report.csv", None),
])
def test_a_report_period_stated_in_the_file_name(name: str, expected: tuple[date, date] | None) -> None:
    assert period_in_name(name) == expected


HEADERS = ["Date", "Client", "Hours", "Description", "Worker", "Start", "Billable", "Start date", "Duration",
           "User", "Member", "Work Type", "Actual Hours", "Hours Worked", "Resource", "Customer", "Technician",
           "First Name", "Last Name", "Task", "Entry ID", ""]
CELL = st.one_of(st.sampled_from(["2026-11-03", "11/18/2026", "1:30", "1,5", "yes", "", "9:30 AM", "x", "-"]),
                 st.text(max_size=12))


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_raise_nothing_but_csv_error(data: bytes) -> None:
    try:
        read_export(data, name="any.csv", tz=ZoneInfo("UTC"))
    except CsvError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8, unique=True),
       st.lists(st.lists(CELL, min_size=0, max_size=9), max_size=5),
       st.sampled_from([",", ";", "\t"]))
def test_arbitrary_rows_under_plausible_headers_raise_nothing_but_csv_error(
        header: list[str], rows: list[list[str]], delimiter: str) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    try:
        read_export(out.getvalue().encode("utf-8"), name="any.csv", tz=ZoneInfo("UTC"), date_order=None)
    except CsvError:
        pass
