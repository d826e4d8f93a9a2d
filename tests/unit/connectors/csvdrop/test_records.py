"""A whole export read into records: what a rejected row names, and ids that fit the store."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from connectors.csvdrop.normalize import MAX_VENDOR_ID, scope_of, vendor_id
from connectors.csvdrop.parse import CsvError
from connectors.csvdrop.records import Record, read_export

UTC = ZoneInfo("UTC")
SYNCRO = "Ticket Number,Customer,Technician,Labor Type,Start Time,Actual Time,Notes\n"


@pytest.mark.parametrize(("text", "line", "column", "problem"), [
    (SYNCRO + "4410,Acme Dental,Sven,Remote,0,1:15,Printer\n", 2, "Start Time", "unreadable date '0'"),
    (SYNCRO + "4410,Acme Dental,Sven,Remote,,1:15,Printer\n", 2, "Start Time", "no date"),
    ("Date,Hours,Description\n,1,Printer\n", 2, "Date", "no date"),
    ("Date,Hours,Description,Worker\n2026-11-03,1,Printer," + "x" * 257 + "\n", 2, "Worker",
     "a technician's name of 257 characters"),
    ("Date,Hours,Description\n2026-11-03,1,ok\n9999-12-31,1,Printer\n", 3, "Date", "9999-12-31 is outside 1970..2999"),
    ("Date,Hours,Description,Start\n2026-11-03,1,ok,0001-01-01 09:00\n", 2, "Start", "0001-01-01 is outside"),
])
def test_a_bad_row_is_refused_naming_its_line_and_column(text: str, line: int, column: str, problem: str) -> None:
    with pytest.raises(CsvError, match=problem) as caught:
        read_export(text.encode(), name="x.csv", tz=UTC, date_order="mdy")
    assert (caught.value.line, caught.value.column) == (line, column)


def test_a_technician_name_as_long_as_the_store_holds_is_read() -> None:
    export = read_export(("Date,Hours,Description,Worker\n2026-11-03,1,ok," + "x" * 256 + "\n").encode(),
                         name="x.csv", tz=UTC)
    assert export.records[0].worker == "x" * 256


@pytest.mark.parametrize("own", ["E00001", "x" * 60, "y" * 61])
def test_a_vendor_id_fits_the_store_whatever_the_client_folder(own: str) -> None:
    record = Record(line=2, work_date=date(2026, 11, 3), seconds=60, own_id=own)
    for folder in (None, "acme", "a" * 64):
        made = vendor_id(scope_of(folder, "connectwise"), record, 1)
        assert len(made) <= MAX_VENDOR_ID and made.startswith(scope_of(folder, "connectwise"))
    short = vendor_id(scope_of("acme", "generic"), record, 1)
    assert short == "acme/generic/" + own if len(own) <= 60 else short.startswith("acme/generic/h")
