"""One sample export per recognized format imports to the expected entries (table test)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.base import ClientRoute, ReplacingPage
from connectors.csvdrop.client import CsvDropConnector, CsvDropSelector, CsvDropSettings
from connectors.http import Funnel

SAMPLES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "csv"
CHICAGO = ZoneInfo("America/Chicago")


def connector(tmp_path: Path) -> CsvDropConnector:
    settings = CsvDropSettings(vendor="csvdrop", inbox=tmp_path, timezone="America/Chicago")
    routes = [ClientRoute("acme", CsvDropSelector(account="drop", client=["Acme Dental"])),
              ClientRoute("birch", CsvDropSelector(account="drop", client="birchwood legal"))]
    return CsvDropConnector("drop", settings, routes, Funnel(vendor="CSV", base_url="http://csvdrop.invalid"))


# (client, date, minutes, billable, worker, work type, notes start, internal notes)
Line = tuple[str | None, date, float, bool, str, str | None, str, str | None]

CASES: list[tuple[str, str, tuple[date, date], list[Line]]] = [
    ("connectwise_time_entries.csv", "connectwise", (date(2026, 11, 3), date(2026, 11, 5)), [
        ("acme", date(2026, 11, 3), 90, True, "Priya Raman", "Remote Support", "Reset MFA",
         "Called Priya's cell; user kept old phone"),
        ("birch", date(2026, 11, 4), 45, True, "Tomasz Kowalczyk", "Remote Support", "Document add-in failing", None),
        ("acme", date(2026, 11, 5), 60, False, "Tomasz Kowalczyk", "Travel", "Drive to the surgery", None),
    ]),
    ("autotask_time_entries.csv", "autotask", (date(2026, 11, 13), date(2026, 11, 14)), [
        ("acme", date(2026, 11, 13), 30, True, "Aoife Brennan", "Remote Support", "Patient check-in kiosk", None),
        ("birch", date(2026, 11, 14), 75, True, "Aoife Brennan", "Remote Support", "Set up a secure external share",
         "Partner asked for no expiry - declined"),
        ("acme", date(2026, 11, 14), 15, False, "Marcus Oyelaran", "Admin", "Updated the asset register", None),
    ]),
    ("syncro_labor.csv", "syncro", (date(2026, 11, 16), date(2026, 11, 17)), [
        ("acme", date(2026, 11, 16), 75, True, "Sven Lindqvist", "Remote Labor", "Printer in reception", None),
        ("birch", date(2026, 11, 17), 45, True, "Sven Lindqvist", "Onsite Labor",
         "Replaced the expired certificate on the Café guest Wi-Fi", None),
    ]),
    ("toggl_detailed.csv", "toggl", (date(2026, 11, 9), date(2026, 11, 10)), [
        ("acme", date(2026, 11, 9), 80, True, "Priya Raman", None, "Rebuilt the office manager's Outlook", None),
        ("birch", date(2026, 11, 10), 30, False, "Priya Raman", None, "Helped the practice manager", None),
    ]),
    ("harvest_detailed_time.csv", "harvest", (date(2026, 11, 2), date(2026, 11, 3)), [
        ("acme", date(2026, 11, 2), 24, True, "Priya Raman", "Remote support", "Unlocked the reception account", None),
        ("acme", date(2026, 11, 2), 30, True, "Tomasz Kowalczyk", "Travel", "Drive to the surgery", None),
        (None, date(2026, 11, 3), 60, True, "Aoife Brennan", "Remote support", "Label printer on dock 3", None),
    ]),
    ("clockify_detailed.csv", "clockify", (date(2026, 11, 5), date(2026, 11, 18)), [
        ("acme", date(2026, 11, 18), 75, True, "Marcus Oyelaran", None, "Slow logons on two workstations", None),
        ("birch", date(2026, 11, 5), 30, True, "Marcus Oyelaran", None, "Teams calls dropping audio", None),
    ]),
    ("generic.csv", "generic", (date(2026, 11, 6), date(2026, 11, 7)), [
        ("acme", date(2026, 11, 6), 90, True, "Priya Raman", "Remote support", "New starter set up",
         "Licence taken from the leaver pool"),
        ("birch", date(2026, 11, 6), 45, True, "Tomasz Kowalczyk", "Remote support", "Restored a deleted folder", None),
        ("acme", date(2026, 11, 7), 120, False, "Priya Raman", "After hours", "Overnight backup job failed", None),
    ]),
]


def summary(page: ReplacingPage) -> list[Line]:
    out: list[Line] = []
    for e in page:
        out.append((e.client_key, e.work_date, e.duration_seconds / 60, e.billable, e.worker_name or "", e.work_type,
                    e.notes or "", e.internal_notes))
    return out


@pytest.mark.parametrize(("name", "format_key", "period", "expected"), CASES, ids=[c[1] for c in CASES])
def test_each_sample_export_imports_to_the_expected_entries(
        tmp_path: Path, name: str, format_key: str, period: tuple[date, date], expected: list[Line]) -> None:
    result = connector(tmp_path).read_file((SAMPLES / name).read_bytes(), name=name, folder=None)
    got = summary(result.page)
    assert len(got) == len(expected)
    for line, want in zip(got, expected, strict=True):
        assert line[:6] == want[:6]
        assert line[6].startswith(want[6]), line[6]
        assert line[7] == want[7]
    replaces = result.page.replaces
    assert (replaces.scope, replaces.start, replaces.end) == (f"/{format_key}/", *period)
    assert all(e.vendor_id.startswith(f"/{format_key}/") for e in result.page)
    assert len({e.vendor_id for e in result.page}) == len(result.page)


def test_a_tools_own_entry_id_becomes_the_vendor_id(tmp_path: Path) -> None:
    name = "connectwise_time_entries.csv"
    page = connector(tmp_path).read_file((SAMPLES / name).read_bytes(), name=name, folder=None).page
    assert [e.vendor_id for e in page] == ["/connectwise/884201", "/connectwise/884202", "/connectwise/884203"]


def test_start_times_are_read_in_the_accounts_timezone_and_stored_in_utc(tmp_path: Path) -> None:
    name = "syncro_labor.csv"
    page = connector(tmp_path).read_file((SAMPLES / name).read_bytes(), name=name, folder=None).page
    assert page[0].started_at == datetime(2026, 11, 16, 9, 30, tzinfo=CHICAGO).astimezone(timezone.utc)
    assert page[0].updated_at == page[0].started_at  # no edit times in an export: stable across reads


def test_rows_of_clients_no_selector_claims_are_counted_by_their_client_value(tmp_path: Path) -> None:
    name = "harvest_detailed_time.csv"
    result = connector(tmp_path).read_file((SAMPLES / name).read_bytes(), name=name, folder=None)
    assert dict(result.unclaimed) == {"Cobalt Logistics": 1}


def test_a_client_folder_claims_every_row_whatever_its_client_column_says(tmp_path: Path) -> None:
    name = "harvest_detailed_time.csv"
    result = connector(tmp_path).read_file((SAMPLES / name).read_bytes(), name=name, folder="birch")
    assert {e.client_key for e in result.page} == {"birch"}
    assert result.page.replaces.scope == "birch/harvest/"
    assert not result.unclaimed


def test_reading_the_same_bytes_twice_gives_the_same_entries(tmp_path: Path) -> None:
    name = "toggl_detailed.csv"
    data = (SAMPLES / name).read_bytes()
    first = connector(tmp_path).read_file(data, name=name, folder=None).page
    again = connector(tmp_path).read_file(data, name=name, folder=None).page
    assert list(first) == list(again)


def test_identical_rows_are_two_entries(tmp_path: Path) -> None:
    data = b"Date,Client,Hours,Description\n2026-11-03,Acme Dental,0.25,Phone call\n2026-11-03,Acme Dental,0.25,Phone call\n"
    page = connector(tmp_path).read_file(data, name="calls.csv", folder=None).page
    ids = [e.vendor_id for e in page]
    assert len(set(ids)) == 2 and ids[0].endswith("-1") and ids[1].endswith("-2")


def test_normalize_rebuilds_an_entry_from_its_record(tmp_path: Path) -> None:
    c = connector(tmp_path)
    name = "generic.csv"
    page = c.read_file((SAMPLES / name).read_bytes(), name=name, folder=None).page
    from connectors.csvdrop.records import read_export

    record = read_export((SAMPLES / name).read_bytes(), name=name, tz=CHICAGO).records[0]
    raw: dict[str, Any] = {"record": {f: getattr(record, f) for f in record.__slots__}, "vendor_id": page[0].vendor_id}
    assert c.normalize(raw) == page[0]
