"""HaloPSA actions → TimeEntry: every mapped field, travel split, tombstones, HTML notes, bad input."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.halopsa.normalize import (
    AFTER_HOURS,
    PART_NON_BILLABLE,
    TM_CHARGE,
    flag,
    hours,
    html_to_text,
    normalize_action,
    optional_instant,
    parse_instant,
    to_seconds,
    work_type_name,
)
from syncd.errors import PayloadError
from syncd.models import TimeEntry

UTC = timezone.utc
RATES = {1: "Remote Support", 2: "On-site Support"}


def row(**changes: Any) -> dict[str, Any]:
    """A report row (the API action flattened with its ticket) for an hour of remote work."""
    base: dict[str, Any] = {
        "ticket_id": 4107, "id": 3, "who": "Farah Haddad", "who_agentid": 21,
        "datetime": "2026-11-20T11:00:00.000", "actionarrivaldate": "2026-11-20T10:00:00.000",
        "timetaken": 1.0, "nonbilltime": 0.0, "actionchargehours": 0.0, "traveltime": 0.0,
        "actionoohtime": 0.0, "hiddenfromuser": False, "note": "Rebuilt the print queue", "chargerate": 1,
        "last_updated": "2026-11-20T11:04:05.120", "client_id": 12, "ticket_summary": "Printer offline",
        "tickettype_id": 1, "tickettype_name": "Incident",
    }
    return base | changes


def parts(raw: dict[str, Any], tz: str = "UTC", client_key: str | None = "acme") -> tuple[TimeEntry, TimeEntry]:
    return normalize_action(raw, account="halo", client_key=client_key, tz=ZoneInfo(tz), charge_rates=RATES)


def work(raw: dict[str, Any], **kwargs: Any) -> TimeEntry:
    return parts(raw, **kwargs)[0]


def test_an_hour_of_remote_work_maps_every_field() -> None:
    entry, travel = parts(row())
    assert entry == TimeEntry(
        account="halo", vendor_id="4107:3", client_key="acme", work_date=date(2026, 11, 20),
        duration_seconds=3600, updated_at=datetime(2026, 11, 20, 11, 4, 5, 120000, tzinfo=UTC),
        started_at=datetime(2026, 11, 20, 10, 0, tzinfo=UTC), billable=True, worker_id="21",
        worker_name="Farah Haddad", work_type="Remote Support", ticket_id="4107", ticket_number="4107",
        ticket_title="Printer offline", ticket_type="Incident", notes="Rebuilt the print queue",
        internal_notes=None, location="unknown", travel=False, tags=(), deleted=False,
    )
    assert travel.vendor_id == "4107:3:travel" and travel.deleted and travel.duration_seconds == 0


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"timetaken": 0.25}, "duration_seconds", 900),
    ({"timetaken": "1.33"}, "duration_seconds", 4788),
    ({"timetaken": 0.0166667}, "duration_seconds", 60),
    ({"actionarrivaldate": "1900-01-01T00:00:00"}, "started_at", datetime(2026, 11, 20, 11, 0, tzinfo=UTC)),
    ({"actionarrivaldate": None}, "started_at", datetime(2026, 11, 20, 11, 0, tzinfo=UTC)),
    ({"actionarrivaldate": "2026-11-20T10:00:00Z"}, "started_at", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ({"actionarrivaldate": "2026-11-20T12:00:00+02:00"}, "started_at", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ({"last_updated": "2026-11-20T11:04:05Z"}, "updated_at", datetime(2026, 11, 20, 11, 4, 5, tzinfo=UTC)),
    ({"chargerate": 2}, "work_type", "On-site Support"),
    ({"chargerate": 9}, "work_type", "9"),
    ({"chargerate": -1}, "work_type", None),
    ({"chargerate": None}, "work_type", None),
    ({"who": "  "}, "worker_name", None),
    ({"who_agentid": None}, "worker_id", None),
    ({"tickettype_name": None}, "ticket_type", "1"),
    ({"tickettype_name": None, "tickettype_id": None}, "ticket_type", None),
    ({"ticket_summary": ""}, "ticket_title", None),
    ({"nonbilltime": 1.0}, "billable", False),
    ({"nonbilltime": 1.5}, "billable", False),
    ({"nonbilltime": 0.5}, "billable", True),
    ({"nonbilltime": None}, "billable", True),
    ({"nonbilltime": 0.5}, "tags", (PART_NON_BILLABLE,)),
    ({"actionoohtime": 1.0}, "tags", (AFTER_HOURS,)),
    ({"actionchargehours": 1.0}, "tags", (TM_CHARGE,)),
    ({"actionoohtime": 1.0, "nonbilltime": 0.25, "actionchargehours": 0.75},
     "tags", (AFTER_HOURS, PART_NON_BILLABLE, TM_CHARGE)),
    ({"traveltime": 0.5}, "location", "onsite"),
    ({"hiddenfromuser": True}, "notes", None),
    ({"hiddenfromuser": True}, "internal_notes", "Rebuilt the print queue"),
    ({"hiddenfromuser": 1}, "internal_notes", "Rebuilt the print queue"),
    ({"hiddenfromuser": "False"}, "notes", "Rebuilt the print queue"),
    ({"private_note": True}, "notes", None),
    ({"private_note": "Password is on a sticky note"}, "internal_notes", "Password is on a sticky note"),
    ({"private_note": "Password is on a sticky note"}, "notes", "Rebuilt the print queue"),
    ({"hiddenfromuser": True, "private_note": "And more"}, "internal_notes", "Rebuilt the print queue\nAnd more"),
    ({"note": "<p>Reset the <b>MFA</b> token.</p><p>User &amp; manager told.</p>"},
     "notes", "Reset the MFA token.\nUser & manager told."),
    ({"note": "Line one<br>Line two<br/><br/>  Line   three"}, "notes", "Line one\nLine two\nLine three"),
    ({"note": "<style>p{color:red}</style><div>Only this</div>"}, "notes", "Only this"),
    ({"note": "Checked 2 < 3 and 5 > 4"}, "notes", "Checked 2 < 3 and 5 > 4"),
    ({"note": "   "}, "notes", None),
    ({"note": None}, "notes", None),
])
def test_each_mapped_field(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(work(row(**changes)), field) == expected


@pytest.mark.parametrize(("tz", "arrival", "expected"), [
    ("UTC", "2026-11-20T23:30:00", date(2026, 11, 20)),
    ("Australia/Sydney", "2026-11-20T23:30:00", date(2026, 11, 21)),
    ("America/Chicago", "2026-11-20T03:30:00", date(2026, 11, 19)),
])
def test_the_work_date_is_the_start_in_the_accounts_timezone(tz: str, arrival: str, expected: date) -> None:
    assert work(row(actionarrivaldate=arrival), tz=tz).work_date == expected


def test_work_and_travel_become_two_entries_and_travel_is_flagged() -> None:
    entry, travel = parts(row(timetaken=2.0, traveltime=0.75, actionoohtime=2.0, nonbilltime=2.0,
                              actiontravelstartdate="2026-11-20T09:15:00"))
    assert (entry.vendor_id, entry.duration_seconds, entry.travel, entry.deleted) == ("4107:3", 7200, False, False)
    assert (travel.vendor_id, travel.duration_seconds, travel.travel, travel.deleted) == (
        "4107:3:travel", 2700, True, False)
    assert travel.work_type == "Travel" and travel.billable is True
    assert travel.started_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    assert travel.tags == (AFTER_HOURS,)  # the non-billable write-off is the work's, not the travel's
    assert travel.location == entry.location == "onsite"
    assert (travel.ticket_id, travel.worker_name, travel.client_key) == ("4107", "Farah Haddad", "acme")


def test_travel_without_a_recorded_travel_start_has_no_start_time() -> None:
    _, travel = parts(row(traveltime=0.5))
    assert travel.started_at is None and travel.work_date == date(2026, 11, 20)


def test_an_action_with_travel_only_has_a_work_tombstone_and_a_live_travel_entry() -> None:
    entry, travel = parts(row(timetaken=0, traveltime=1.0))
    assert entry.deleted and entry.duration_seconds == 0
    assert not travel.deleted and travel.duration_seconds == 3600


def test_the_client_key_comes_from_the_caller_and_may_be_none() -> None:
    assert work(row(), client_key=None).client_key is None


@pytest.mark.parametrize(("changes", "message"), [
    ({"last_updated": None}, "4107:3: last_updated: missing"),
    ({"last_updated": "yesterday"}, "4107:3: last_updated: not a timestamp: 'yesterday'"),
    ({"id": None}, "4107:None: id: missing"),
    ({"id": 3.7}, "4107:3.7: id: not an id"),
    ({"ticket_id": "abc"}, "'abc':3: ticket_id: not an id"),
    ({"datetime": None, "actionarrivaldate": None}, "4107:3: actionarrivaldate: missing, and so is datetime"),
    ({"actionarrivaldate": "9999-12-31T23:00:00-05:00"}, "4107:3: actionarrivaldate: .* is outside 1970..2999"),
    ({"timetaken": -1}, "4107:3: timetaken: -1 is negative"),
    ({"timetaken": "lots"}, "4107:3: timetaken: not a number: 'lots'"),
    ({"timetaken": 25}, "4107:3: timetaken: 25 is more than 24 hours in one entry"),
    ({"traveltime": True}, "4107:3: traveltime: expected a number, got bool"),
    ({"timetaken": "NaN"}, "4107:3: timetaken: 'NaN' is not a finite number"),
    ({"actionoohtime": float("inf")}, "4107:3: actionoohtime: inf is not a finite number"),
    ({"hiddenfromuser": "maybe"}, "4107:3: hiddenfromuser: not a boolean"),
    ({"chargerate": "x"}, "4107:3: chargerate: invalid literal"),
    ({"who": "x" * 300}, "4107:3: who: a name of 300 characters"),
])
def test_an_unreadable_action_is_a_payload_error_naming_it_and_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=f"^HaloPSA action {message}"):
        parts(row(**changes))


def test_a_missing_required_key_is_a_payload_error() -> None:
    raw = row()
    del raw["last_updated"]
    with pytest.raises(PayloadError, match="last_updated: missing"):
        parts(raw)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ("2026-11-20T10:00:00.5", datetime(2026, 11, 20, 10, 0, 0, 500000, tzinfo=UTC)),
    ("2026-11-20T10:00:00z", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ("2026-11-20T05:00:00-05:00", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
])
def test_halo_timestamps_are_utc_unless_they_say_otherwise(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize("value", [None, "", "  ", "1900-01-01T00:00:00", "1753-01-01T00:00:00"])
def test_unset_dates_are_none(value: Any) -> None:
    assert optional_instant(value) is None


@pytest.mark.parametrize(("value", "expected"), [
    (None, Decimal(0)), ("", Decimal(0)), (0, Decimal(0)), (1.25, Decimal("1.25")), ("0.1", Decimal("0.1")),
])
def test_hours_read_decimal_hours(value: Any, expected: Decimal) -> None:
    assert hours(value) == expected


def test_seconds_round_to_the_nearest_second() -> None:
    assert to_seconds(Decimal("0.3333333")) == 1200
    assert to_seconds(Decimal("0.00013")) == 0


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (1, True), (0, False), (None, False), ("true", True), ("0", False), ("", False),
])
def test_flags_read_json_and_sql_booleans(value: Any, expected: bool) -> None:
    assert flag(value) is expected


@pytest.mark.parametrize(("rate", "expected"), [(1, "Remote Support"), ("2", "On-site Support"), (0, "0"),
                                                 (-1, None), ("", None), (True, None)])
def test_work_type_is_the_configured_name_else_the_id(rate: Any, expected: str | None) -> None:
    assert work_type_name(rate, RATES) == expected


def test_plain_text_with_angle_brackets_is_not_treated_as_html() -> None:
    assert html_to_text("Ping <gateway> failed") == "Ping <gateway> failed"
    assert html_to_text("Ping <b>gateway</b> failed") == "Ping gateway failed"
