"""ConnectWise time-entry payload → TimeEntry, as tables."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.connectwise.normalize import is_billable, is_travel, normalize, parse_instant
from syncd.errors import PayloadError

CHICAGO = ZoneInfo("America/Chicago")
TRAVEL = ("Travel", "Drive Time")


def raw(**changes: Any) -> dict[str, Any]:
    """A time entry shaped like the CW 2025 model and djcw's recorded fixture."""
    entry: dict[str, Any] = {
        "id": 1502231,
        "company": {"id": 250, "identifier": "AcmeDental", "name": "Acme Dental"},
        "companyType": "Client",
        "chargeToId": 48112, "chargeToType": "ServiceTicket",
        "member": {"id": 176, "identifier": "ISolberg", "name": "Ingrid Solberg"},
        "workType": {"id": 1, "name": "Remote Support"},
        "workRole": {"id": 11, "name": "Help Desk Technician"},
        "agreement": {"id": 9250, "name": "Managed Services Retainer"},
        "timeStart": "2026-11-20T15:00:00Z", "timeEnd": "2026-11-20T16:30:00Z",
        "hoursDeduct": 0.0, "actualHours": 1.5, "billableOption": "Billable",
        "notes": "Rebuilt the Outlook profile", "internalNotes": "Password on a sticky note",
        "status": "Open",
        "ticket": {"id": 48112, "summary": "Outlook keeps asking for a password"},
        "ticketBoard": "Help Desk", "ticketType": "Incident",
        "dateEntered": "2026-11-20T16:40:00Z",
        "_info": {"lastUpdated": "2026-11-20T16:41:07Z", "updatedBy": "ISolberg"},
    }
    entry.update(changes)
    return entry


def entry(**changes: Any) -> Any:
    return normalize(raw(**changes), account="cw", client_key="acme", tz=CHICAGO, travel_names=TRAVEL)


def test_a_full_entry_maps_every_field_the_rules_need() -> None:
    e = entry()
    assert (e.account, e.vendor_id, e.client_key) == ("cw", "1502231", "acme")
    assert e.started_at == datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
    assert e.work_date == date(2026, 11, 20)
    assert e.duration_seconds == 5400
    assert e.updated_at == datetime(2026, 11, 20, 16, 41, 7, tzinfo=timezone.utc)
    assert (e.worker_id, e.worker_name) == ("176", "Ingrid Solberg")
    assert (e.work_type, e.role) == ("Remote Support", "Help Desk Technician")
    assert (e.ticket_id, e.ticket_number, e.ticket_title, e.ticket_type) == (
        "48112", "48112", "Outlook keeps asking for a password", "Incident")
    assert (e.notes, e.internal_notes) == ("Rebuilt the Outlook profile", "Password on a sticky note")
    assert (e.billable, e.approval, e.travel, e.location) == (True, "Open", False, "unknown")
    assert (e.project, e.task) == (None, None)


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({"timeStart": "2026-11-21T01:30:00Z"}, "work_date", date(2026, 11, 20),
                     id="evening-in-chicago-is-the-local-date"),
        pytest.param({"timeStart": "2026-07-02T04:59:00Z"}, "work_date", date(2026, 7, 1), id="summer-offset"),
        pytest.param({"actualHours": 0.17}, "duration_seconds", 612, id="odd-hours"),
        pytest.param({"actualHours": 0}, "duration_seconds", 0, id="zero-hours"),
        pytest.param({"actualHours": 24}, "duration_seconds", 86400, id="a-whole-day-is-the-most"),
        pytest.param({"actualHours": None}, "duration_seconds", 5400, id="no-actual-hours-uses-start-end"),
        pytest.param({"actualHours": None, "hoursDeduct": 0.5}, "duration_seconds", 3600,
                     id="start-end-minus-deducted-break"),
        pytest.param({"billableOption": "DoNotBill"}, "billable", False, id="do-not-bill"),
        pytest.param({"billableOption": "NoCharge"}, "billable", False, id="no-charge"),
        pytest.param({"billableOption": "NoDefault"}, "billable", True, id="no-default-counts"),
        pytest.param({"billableOption": None}, "billable", True, id="missing-counts"),
        pytest.param({"status": "PendingApproval"}, "approval", "PendingApproval", id="status-is-approval"),
        pytest.param({"status": None}, "approval", None, id="no-status"),
        pytest.param({"notes": None}, "notes", None, id="no-notes"),
        pytest.param({"notes": "   "}, "notes", None, id="blank-notes"),
        pytest.param({"internalNotes": ""}, "internal_notes", None, id="empty-internal-notes"),
        pytest.param({"member": None}, "worker_name", None, id="no-member"),
        pytest.param({"workType": {"id": 4, "name": "Travel"}}, "travel", True, id="travel-work-type"),
        pytest.param({"workType": {"id": 9, "name": "drive time"}}, "travel", True, id="travel-any-case"),
        pytest.param({"workRole": {"id": 13, "name": "Travel"}}, "travel", True, id="travel-work-role"),
        pytest.param({"ticketType": None}, "ticket_type", None, id="no-ticket-type"),
        pytest.param({"ticket": None}, "ticket_id", "48112", id="ticket-id-from-charge-to-id"),
        pytest.param({"ticket": None}, "ticket_title", None, id="no-ticket-ref-no-title"),
        pytest.param({"_info": {"updatedBy": "x"}}, "updated_at", datetime(2026, 11, 20, 16, 40, tzinfo=timezone.utc),
                     id="no-last-updated-falls-back-to-date-entered"),
        pytest.param({"timeStart": "2026-11-20T15:00:00"}, "started_at",
                     datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc), id="offsetless-start-is-utc"),
    ],
)
def test_field_mapping(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(entry(**changes), field) == expected


def test_project_ticket_time_maps_project_and_phase() -> None:
    e = entry(chargeToType="ProjectTicket", chargeToId=48200, ticketType="Project Task",
              ticket={"id": 48200, "summary": "Mailbox cutover"},
              project={"id": 3100, "name": "Microsoft 365 migration"}, phase={"id": 5200, "name": "Mailbox cutover"})
    assert (e.project, e.task, e.ticket_number, e.ticket_type) == (
        "Microsoft 365 migration", "Mailbox cutover", "48200", "Project Task")


def test_charge_code_time_has_no_ticket() -> None:
    e = entry(chargeToType="ChargeCode", chargeToId=5, ticket=None, ticketType=None, ticketBoard=None)
    assert (e.ticket_id, e.ticket_number, e.ticket_title, e.ticket_type) == (None, None, None, None)


def test_activity_time_names_the_activity_as_task() -> None:
    e = entry(chargeToType="Activity", chargeToId=77, ticket=None, activity={"id": 77, "name": "Quarterly review"})
    assert (e.task, e.ticket_id) == ("Quarterly review", None)


def test_travel_needs_a_configured_name() -> None:
    travel = raw(workType={"id": 4, "name": "Travel"})
    assert normalize(travel, account="cw", client_key=None, tz=CHICAGO, travel_names=()).travel is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"id": None}, "id: missing", id="no-id"),
        pytest.param({"id": 1.5}, "id: not an id", id="float-id"),
        pytest.param({"timeStart": None}, "timeStart: missing", id="no-start"),
        pytest.param({"timeStart": "yesterday"}, "timeStart: not a timestamp", id="unreadable-start"),
        pytest.param({"actualHours": "lots"}, "actualHours: not a number", id="unreadable-hours"),
        pytest.param({"actualHours": None, "timeEnd": None}, "actualHours: missing", id="no-duration-at-all"),
        pytest.param({"_info": {}, "dateEntered": None}, "_info.lastUpdated: missing", id="no-updated-time"),
        pytest.param({"_info": {"lastUpdated": "soon"}}, "_info.lastUpdated: not a timestamp",
                     id="unreadable-updated-time"),
        pytest.param({"member": "Ingrid Solberg"}, "member: expected an object", id="member-not-an-object"),
        pytest.param({"notes": 42}, "notes: expected text", id="notes-not-text"),
        pytest.param({"ticket": {"id": {"nested": 1}}}, "ticket.id: expected an id", id="ticket-id-not-an-id"),
        pytest.param({"actualHours": -0.5}, "actualHours: -0.5 is negative", id="negative-hours"),
        pytest.param({"actualHours": 24.01}, "actualHours: 24.01 is more than 24 hours", id="more-than-a-day"),
        pytest.param({"actualHours": "NaN"}, "actualHours: 'NaN' is not a finite number", id="nan-hours"),
        pytest.param({"actualHours": float("inf")}, "actualHours: inf is not a finite number", id="infinite-hours"),
        pytest.param({"actualHours": None, "timeEnd": "2026-11-20T14:00:00Z"}, "timeEnd: .* negative",
                     id="ends-before-it-starts"),
        pytest.param({"actualHours": None, "timeEnd": "2026-11-22T15:00:00Z"}, "timeEnd: .* more than 24 hours",
                     id="spans-two-days"),
        pytest.param({"timeStart": "0001-01-01T00:00:00Z"}, "timeStart: .* outside 1970..2999", id="year-one"),
        pytest.param({"_info": {"lastUpdated": "0001-01-01T00:30:00+01:00"}}, "_info.lastUpdated: .* outside",
                     id="before-year-one-in-utc"),
        pytest.param({"timeStart": "9999-12-31T23:00:00-05:00"}, "timeStart: .* outside", id="after-year-9999-in-utc"),
        pytest.param({"member": {"id": 176, "name": "x" * 257}}, "member.name: a name of 257 characters",
                     id="name-too-long-for-the-store"),
    ],
)
def test_unreadable_payloads_are_payload_errors_naming_the_entry_and_the_field(
        changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PayloadError, match=rf"^ConnectWise time entry [^:]*: {message}"):
        entry(**changes)


def test_a_missing_required_key_names_the_entry_id() -> None:
    payload = raw()
    del payload["timeStart"]
    with pytest.raises(PayloadError, match="1502231"):
        normalize(payload, account="cw", client_key=None, tz=CHICAGO)


def test_payload_errors_never_quote_notes_or_the_technician() -> None:
    with pytest.raises(PayloadError) as caught:
        entry(actualHours="lots")
    message = str(caught.value)
    assert "Ingrid" not in message and "sticky" not in message and "Outlook" not in message


def test_a_payload_that_is_not_an_object_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="expected an object"):
        normalize(["not", "an", "entry"], account="cw", client_key=None, tz=CHICAGO)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-20T15:04:05Z", datetime(2026, 11, 20, 15, 4, 5, tzinfo=timezone.utc)),
    ("2026-11-20T09:04:05-06:00", datetime(2026, 11, 20, 15, 4, 5, tzinfo=timezone.utc)),
    ("2026-11-20T15:04:05", datetime(2026, 11, 20, 15, 4, 5, tzinfo=timezone.utc)),
])
def test_parse_instant_gives_aware_utc(text: str, expected: datetime) -> None:
    assert parse_instant(text) == expected


@pytest.mark.parametrize(("option", "expected"), [
    ("Billable", True), ("DoNotBill", False), ("NoCharge", False), ("No Charge", False), ("donotbill", False),
    ("NoDefault", True), (None, True), ("SomethingNew", True),
])
def test_is_billable(option: str | None, expected: bool) -> None:
    assert is_billable(option) is expected


@pytest.mark.parametrize(("names", "expected"), [
    (("Travel", None), True), ((None, " travel "), True), (("Remote Support", "Help Desk"), False),
    ((None, None), False), (("Travel time", None), False),
])
def test_is_travel_matches_whole_names(names: tuple[str | None, str | None], expected: bool) -> None:
    assert is_travel(names, TRAVEL) is expected
