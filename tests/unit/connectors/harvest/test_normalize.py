"""Harvest payload → TimeEntry, as a table."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.harvest.normalize import normalize, parse_clock, split_notes
from syncd.errors import PayloadError

NY = ZoneInfo("America/New_York")


def raw(**changes: Any) -> dict[str, Any]:
    entry = {
        "id": 636709355, "spent_date": "2026-11-02", "hours": 1.5, "rounded_hours": 1.5,
        "notes": "Reset MFA for the front desk", "started_time": "3:00pm", "ended_time": "4:30pm",
        "is_running": False, "billable": True, "approval_status": "approved",
        "updated_at": "2026-11-02T21:40:00Z", "created_at": "2026-11-02T21:40:00Z",
        "user": {"id": 9001, "name": "Priya Raman"},
        "client": {"id": 5001, "name": "Acme Dental", "currency": "USD"},
        "project": {"id": 7001, "name": "Managed services retainer", "code": "MSR"},
        "task": {"id": 3001, "name": "Remote support"},
    }
    entry.update(changes)
    return entry


def test_a_full_entry_maps_every_field_the_rules_need() -> None:
    e = normalize(raw(), account="h", client_key="acme", tz=NY)
    assert (e.account, e.vendor_id, e.client_key) == ("h", "636709355", "acme")
    assert e.work_date == date(2026, 11, 2)
    assert e.duration_seconds == 5400
    assert e.started_at == datetime(2026, 11, 2, 20, 0, tzinfo=timezone.utc)  # 3pm EST
    assert e.updated_at == datetime(2026, 11, 2, 21, 40, tzinfo=timezone.utc)
    assert (e.worker_id, e.worker_name) == ("9001", "Priya Raman")
    assert (e.work_type, e.task, e.project) == ("Remote support", "Remote support", "Managed services retainer")
    assert (e.notes, e.internal_notes, e.billable, e.approval) == ("Reset MFA for the front desk", None, True, "approved")


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({"hours": 0.17}, "duration_seconds", 612, id="odd-hours"),
        pytest.param({"hours": 0}, "duration_seconds", 0, id="zero-hours"),
        pytest.param({"hours": 24}, "duration_seconds", 86400, id="a-whole-day-is-the-most"),
        pytest.param({"started_time": None}, "started_at", None, id="no-start-time"),
        pytest.param({"started_time": "09:15"}, "started_at", datetime(2026, 11, 2, 14, 15, tzinfo=timezone.utc), id="24h-clock"),
        pytest.param({"started_time": "12:05am"}, "started_at", datetime(2026, 11, 2, 5, 5, tzinfo=timezone.utc), id="midnight"),
        pytest.param({"spent_date": "2026-07-02", "started_time": "3:00pm"}, "started_at",
                     datetime(2026, 7, 2, 19, 0, tzinfo=timezone.utc), id="summer-time-offset"),
        pytest.param({"billable": False}, "billable", False, id="non-billable"),
        pytest.param({"notes": None}, "notes", None, id="no-notes"),
        pytest.param({"user": None}, "worker_name", None, id="no-user"),
        pytest.param({"task": {"id": 3004, "name": "Travel"}}, "work_type", "Travel", id="travel-task"),
    ],
)
def test_field_mapping(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(normalize(raw(**changes), account="h", client_key=None, tz=NY), field) == expected


@pytest.mark.parametrize(
    ("notes", "public", "internal"),
    [
        ("Patched the server", "Patched the server", None),
        ("Patched the server\nInternal: password on a sticky note", "Patched the server",
         "Internal: password on a sticky note"),
        ("internal: all of it is internal", None, "internal: all of it is internal"),
        ("Line one\n  INTERNAL: shouting\nstill internal", "Line one", "INTERNAL: shouting\nstill internal"),
        ("Mentions internal: mid-line stays public", "Mentions internal: mid-line stays public", None),
        ("", None, None),
    ],
)
def test_internal_notes_split_from_the_first_marked_line_on(notes: str, public: str | None, internal: str | None) -> None:
    assert split_notes(notes, "Internal:") == (public, internal)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": None, "spent_date": "2026-13-01"}, r"^Harvest time entry None: spent_date: not a date"),
        ({"spent_date": "2026-02-30"}, "spent_date: not a date: '2026-02-30'"),
        ({"spent_date": "0001-01-01"}, "spent_date: 0001-01-01 is outside 1970..2999"),
        ({"spent_date": "9999-12-31"}, "spent_date: 9999-12-31 is outside"),
        ({"hours": "lots"}, "hours: not a number"),
        ({"hours": -1}, "hours: -1 is negative"),
        ({"hours": 25}, "hours: 25 is more than 24 hours in one entry"),
        ({"hours": "NaN"}, "hours: 'NaN' is not a finite number"),
        ({"hours": "inf"}, "hours: 'inf' is not a finite number"),
        ({"hours": None}, "hours: missing"),
        ({"updated_at": "yesterday"}, "updated_at: not a timestamp"),
        ({"started_time": "25:00"}, "started_time: unreadable time of day '25:00'"),
        ({"started_time": "12:60"}, "started_time: unreadable time of day '12:60'"),
        ({"started_time": "13:00pm"}, "started_time: unreadable"),
        ({"started_time": True}, "started_time: expected a time of day"),
        ({"notes": ["a"]}, "notes: expected text"),
        ({"user": "Priya"}, "user: expected an object"),
        ({"user": {"id": 9001, "name": 42}}, "user.name: expected text"),
        ({"billable": "false"}, "billable: expected true or false"),
        ({"id": {"x": 1}}, "id: not an id"),
    ],
)
def test_unreadable_payloads_are_payload_errors_naming_the_entry_and_the_field(
        changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        normalize(raw(**changes), account="h", client_key=None, tz=NY)
    assert str(caught.value).startswith("Harvest time entry ")


def test_missing_required_key_is_a_payload_error() -> None:
    entry = raw()
    del entry["spent_date"]
    with pytest.raises(PayloadError, match="636709355"):
        normalize(entry, account="h", client_key=None, tz=NY)


@pytest.mark.parametrize(("text", "expected"), [("3:00pm", time(15)), ("12:00pm", time(12)),
                                                 ("12:30am", time(0, 30)), ("7:05 AM", time(7, 5)),
                                                 ("23:59", time(23, 59)), ("", None), (None, None)])
def test_parse_clock(text: str | None, expected: time | None) -> None:
    assert parse_clock(text) == expected
