"""Autotask TimeEntries payload + looked-up references → TimeEntry, as tables."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

import pytest

from connectors.autotask.normalize import (
    References,
    after_hours_codes,
    company_of,
    folded,
    normalize,
    parse_instant,
    parse_work_date,
)
from connectors.fields import shown
from syncd.errors import PayloadError

UTC = timezone.utc
CODES = {
    29682801: {"id": 29682801, "name": "Remote Support", "afterHoursWorkType": 29682806},
    29682802: {"id": 29682802, "name": "On-site Support", "afterHoursWorkType": 29682807},
    29682804: {"id": 29682804, "name": "Travel", "afterHoursWorkType": None},
    29682806: {"id": 29682806, "name": "Remote Support - After Hours", "afterHoursWorkType": None},
    29682807: {"id": 29682807, "name": "On-site Support - After Hours", "afterHoursWorkType": None},
    29682808: {"id": 29682808, "name": "Project Work"},
}
REFS = References(
    tickets={7401: {"id": 7401, "ticketNumber": "T20261102.0004", "title": "Reception printer offline",
                    "companyID": 174, "ticketType": 2},
             7402: {"id": 7402, "ticketNumber": "T20261102.0005", "title": "Own ticket", "companyID": 0}},
    tasks={41011: {"id": 41011, "title": "Migrate patient records", "projectID": 4101}},
    projects={4101: {"id": 4101, "projectName": "Practice system upgrade", "companyID": 176}},
    resources={29682885: {"id": 29682885, "firstName": "Ingrid", "lastName": "Halvorsen"}},
    roles={29683356: {"id": 29683356, "name": "Senior Engineer"}},
    billing_codes=CODES,
    after_hours=after_hours_codes(CODES),
    ticket_types={1: "Service Request", 2: "Incident"},
    travel_work_types=folded(["Travel", "Drive Time"]),
    onsite_work_types=folded(["On-site Support"]),
    remote_work_types=folded(["Remote Support"]),
)


def raw(**changes: Any) -> dict[str, Any]:
    """A TimeEntries item in the recorded shape (contractika's sample, AT-swagger field names)."""
    entry = {
        "id": 54012, "billingApprovalDateTime": None, "billingApprovalLevelMostRecent": 0,
        "billingApprovalResourceID": None, "billingCodeID": 29682801, "contractID": 29683474,
        "contractServiceBundleID": None, "contractServiceID": None,
        "createDateTime": "2026-11-02T16:19:07.613Z", "creatorUserID": 29682885,
        "dateWorked": "2026-11-02T00:00:00Z", "endDateTime": "2026-11-02T16:30:00Z",
        "hoursToBill": 1.5, "hoursWorked": 1.5, "impersonatorCreatorResourceID": None,
        "impersonatorUpdaterResourceID": None, "internalBillingCodeID": 29682801,
        "internalNotes": "Password on a sticky note", "isInternalNotesVisibleToComanaged": False,
        "isNonBillable": False, "lastModifiedDateTime": "2026-11-02T16:40:00.250Z",
        "lastModifiedUserID": 29682885, "offsetHours": 0.0, "resourceID": 29682885, "roleID": 29683356,
        "showOnInvoice": True, "startDateTime": "2026-11-02T15:00:00Z",
        "summaryNotes": "Reserved the printer's IP and rebuilt the queue", "taskID": None,
        "ticketID": 7401, "timeEntryType": 2,
    }
    entry.update(changes)
    return entry


def test_a_ticket_entry_maps_every_field_the_rules_need() -> None:
    e = normalize(raw(), account="at", client_key="acme", refs=REFS)
    assert (e.account, e.vendor_id, e.client_key) == ("at", "54012", "acme")
    assert e.work_date == date(2026, 11, 2)
    assert e.duration_seconds == 5400
    assert e.started_at == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert e.updated_at == datetime(2026, 11, 2, 16, 40, 0, 250000, tzinfo=UTC)
    assert (e.worker_id, e.worker_name, e.role) == ("29682885", "Ingrid Halvorsen", "Senior Engineer")
    assert (e.ticket_id, e.ticket_number, e.ticket_title, e.ticket_type) == (
        "7401", "T20261102.0004", "Reception printer offline", "Incident")
    assert (e.work_type, e.location, e.travel, e.tags) == ("Remote Support", "remote", False, ())
    assert e.notes == "Reserved the printer's IP and rebuilt the queue"
    assert e.internal_notes == "Password on a sticky note"
    assert (e.billable, e.approval, e.project, e.task) == (True, None, None, None)


def test_a_task_entry_takes_its_task_title_and_project_name() -> None:
    e = normalize(raw(ticketID=None, taskID=41011, timeEntryType=6, billingCodeID=29682808),
                  account="at", client_key=None, refs=REFS)
    assert (e.task, e.project, e.ticket_id, e.ticket_type, e.work_type) == (
        "Migrate patient records", "Practice system upgrade", None, None, "Project Work")


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        pytest.param({"hoursWorked": 0.17}, "duration_seconds", 612, id="odd-hours"),
        pytest.param({"hoursWorked": "2.2500"}, "duration_seconds", 8100, id="hours-as-decimal-string"),
        pytest.param({"hoursWorked": 24}, "duration_seconds", 86400, id="a-whole-day-is-the-most"),
        pytest.param({"startDateTime": None}, "started_at", None, id="regular-time-without-start"),
        pytest.param({"isNonBillable": True}, "billable", False, id="non-billable"),
        pytest.param({"isNonBillable": None}, "billable", True, id="billable-when-unset"),
        pytest.param({"billingApprovalDateTime": "2026-11-09T10:00:00Z"}, "approval", "approved", id="approved"),
        pytest.param({"summaryNotes": "   "}, "notes", None, id="blank-notes"),
        pytest.param({"internalNotes": None}, "internal_notes", None, id="no-internal-notes"),
        pytest.param({"resourceID": 999}, "worker_name", None, id="resource-not-looked-up"),
        pytest.param({"resourceID": None}, "worker_id", None, id="no-resource"),
        pytest.param({"roleID": None}, "role", None, id="no-role"),
        pytest.param({"ticketID": 9999}, "ticket_number", None, id="ticket-not-looked-up"),
        pytest.param({"ticketID": 7402}, "ticket_type", None, id="ticket-without-type"),
        pytest.param({"ticketID": "7401"}, "ticket_title", "Reception printer offline", id="id-as-digit-string"),
        pytest.param({"billingCodeID": 29682806}, "tags", ("after-hours",), id="after-hours-work-type"),
        pytest.param({"billingCodeID": 29682806}, "location", "remote", id="after-hours-keeps-regular-location"),
        pytest.param({"billingCodeID": 29682807}, "location", "onsite", id="after-hours-on-site"),
        pytest.param({"billingCodeID": 29682802}, "location", "onsite", id="on-site"),
        pytest.param({"billingCodeID": 29682808}, "location", "unknown", id="location-unknown"),
        pytest.param({"billingCodeID": 29682804}, "travel", True, id="travel-work-type"),
        pytest.param({"billingCodeID": 29682804}, "work_type", "Travel", id="travel-name-kept"),
        pytest.param({"billingCodeID": None}, "work_type", None, id="no-billing-code"),
        pytest.param({"lastModifiedDateTime": None}, "updated_at",
                     datetime(2026, 11, 2, 16, 19, 7, 613000, tzinfo=UTC), id="never-modified-uses-created"),
        pytest.param({"lastModifiedDateTime": "2026-11-02T16:40:00.1234567Z"}, "updated_at",
                     datetime(2026, 11, 2, 16, 40, 0, 123456, tzinfo=UTC), id="seven-fraction-digits"),
        pytest.param({"lastModifiedDateTime": "2026-11-02T16:40:00"}, "updated_at",
                     datetime(2026, 11, 2, 16, 40, tzinfo=UTC), id="no-offset-is-utc"),
        pytest.param({"dateWorked": "2026-11-02T05:00:00Z"}, "work_date", date(2026, 11, 2), id="us-local-midnight"),
        pytest.param({"dateWorked": "2026-11-01T23:00:00Z"}, "work_date", date(2026, 11, 2), id="eu-local-midnight"),
        pytest.param({"dateWorked": "2026-11-01T13:00:00Z"}, "work_date", date(2026, 11, 2), id="au-local-midnight"),
    ],
)
def test_field_mapping(changes: dict[str, Any], field: str, expected: Any) -> None:
    assert getattr(normalize(raw(**changes), account="at", client_key=None, refs=REFS), field) == expected


def test_names_are_matched_without_case_or_spaces() -> None:
    refs = References(billing_codes={1: {"id": 1, "name": " drive time "}}, travel_work_types=folded(["Drive Time"]))
    assert normalize(raw(billingCodeID=1), account="at", client_key=None, refs=refs).travel is True


@pytest.mark.parametrize(
    ("changes", "company"),
    [
        pytest.param({}, 174, id="ticket-company"),
        pytest.param({"ticketID": 7402}, 0, id="own-company-ticket"),
        pytest.param({"ticketID": None, "taskID": 41011}, 176, id="task-project-company"),
        pytest.param({"ticketID": None, "taskID": None}, None, id="regular-time-has-no-company"),
        pytest.param({"ticketID": 9999}, None, id="ticket-unknown"),
        pytest.param({"ticketID": None, "taskID": 99}, None, id="task-unknown"),
    ],
)
def test_an_entry_belongs_to_its_tickets_or_its_projects_company(changes: dict[str, Any], company: int | None) -> None:
    assert company_of(raw(**changes), REFS) == company


def test_after_hours_codes_are_those_another_code_names() -> None:
    assert after_hours_codes(CODES) == {29682806: 29682801, 29682807: 29682802}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"id": None}, "id: missing", id="no-id"),
        pytest.param({"id": "abc"}, "id: not an id", id="id-not-a-number"),
        pytest.param({"id": "²"}, "id: not an id", id="id-a-superscript-digit"),
        pytest.param({"dateWorked": None}, "dateWorked: missing", id="no-date-worked"),
        pytest.param({"dateWorked": "yesterday"}, "dateWorked: not a timestamp", id="unreadable-date"),
        pytest.param({"dateWorked": "9999-12-31T23:59:59Z"}, "dateWorked: .* is outside 1970..2999",
                     id="far-future-date"),
        pytest.param({"dateWorked": "1753-01-01T00:00:00Z"}, "dateWorked: .* outside 1970..2999", id="far-past-date"),
        pytest.param({"hoursWorked": None}, "hoursWorked: missing", id="no-hours"),
        pytest.param({"hoursWorked": "1,5"}, "hoursWorked: not a number", id="unreadable-hours"),
        pytest.param({"hoursWorked": -1}, "hoursWorked: -1 is negative", id="negative-hours"),
        pytest.param({"hoursWorked": 1e12}, "hoursWorked: 1000000000000.0 is more than 24 hours", id="absurd-hours"),
        pytest.param({"hoursWorked": "NaN"}, "hoursWorked: 'NaN' is not a finite number", id="nan-hours"),
        pytest.param({"lastModifiedDateTime": None, "createDateTime": None},
                     "lastModifiedDateTime: missing \\(and no createDateTime\\)", id="no-timestamps"),
        pytest.param({"startDateTime": 1730559600}, "startDateTime: expected a timestamp", id="start-not-a-string"),
        pytest.param({"isNonBillable": "false"}, "isNonBillable: expected true or false", id="billable-flag-as-text"),
    ],
)
def test_unreadable_entries_are_payload_errors_naming_the_entry_and_the_field(
        changes: dict[str, Any], message: str) -> None:
    payload = raw(**changes)
    with pytest.raises(PayloadError, match=rf"^Autotask time entry {re.escape(shown(payload['id']))}: {message}"):
        normalize(payload, account="at", client_key=None, refs=REFS)


def test_a_non_object_item_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="expected an object"):
        normalize(["not", "an", "entry"], account="at", client_key=None, refs=REFS)


def test_parse_instant_reads_autotask_stamps_as_utc() -> None:
    assert parse_instant("2020-01-29T16:19:07.613Z") == datetime(2020, 1, 29, 16, 19, 7, 613000, tzinfo=UTC)
    assert parse_instant("2020-01-29T17:19:07+01:00") == datetime(2020, 1, 29, 16, 19, 7, tzinfo=UTC)


def test_parse_work_date_keeps_a_plain_utc_midnight() -> None:
    assert parse_work_date("2020-01-29T00:00:00Z") == date(2020, 1, 29)
