"""Autotask PSA time-entry payloads (REST ``TimeEntries/query``) and their lookups → TimeEntry (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from connectors import fields
from connectors.fields import FieldError, read
from syncd.errors import PayloadError
from syncd.models import Location, TimeEntry

# Sources: shared/research/vendor-apis.md §2 (Autotask): AT-swagger TimeEntryModel, BillingCodeModel;
# contractika (contractika-org/contractika data/at/timeentries.php) for a recorded TimeEntries item
# ("dateWorked": "2020-01-29T00:00:00Z", "lastModifiedDateTime": "2020-01-29T16:19:07.613Z").

AFTER_HOURS_TAG = "after-hours"
_FRACTION = re.compile(r"(\.\d{6})\d+")
_ID = re.compile(r"-?[0-9]{1,19}")

Record = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class References:
    """What a time entry points at, as the connector has looked it up (by id), plus the
    account's work-type naming conventions. Everything ``normalize`` needs besides the entry.

    ``after_hours`` maps an after-hours billing code to the regular code whose
    ``afterHoursWorkType`` names it (see :func:`after_hours_codes`).
    """

    tickets: Mapping[int, Record] = field(default_factory=dict)
    tasks: Mapping[int, Record] = field(default_factory=dict)
    projects: Mapping[int, Record] = field(default_factory=dict)
    resources: Mapping[int, Record] = field(default_factory=dict)
    roles: Mapping[int, Record] = field(default_factory=dict)
    billing_codes: Mapping[int, Record] = field(default_factory=dict)
    after_hours: Mapping[int, int] = field(default_factory=dict)
    ticket_types: Mapping[int, str] = field(default_factory=dict)
    travel_work_types: frozenset[str] = frozenset()
    onsite_work_types: frozenset[str] = frozenset()
    remote_work_types: frozenset[str] = frozenset()


def folded(names: Iterable[str]) -> frozenset[str]:
    """Work-type names as compared: trimmed and case-folded, blanks dropped."""
    return frozenset(n.strip().casefold() for n in names if n and n.strip())


def parse_instant(text: Any) -> datetime:
    """An Autotask timestamp ("2026-11-20T15:04:05.613Z") as an aware UTC datetime.

    The API "measures date-time values in UTC" (AT-docs TimeEntriesEntity); a value without
    an offset is taken as UTC, and .NET's seven fractional digits are cut to Python's six.
    """
    if isinstance(text, str):
        text = _FRACTION.sub(r"\1", text.strip())
    return fields.instant(text)


def parse_work_date(text: Any) -> date:
    """``dateWorked`` as a date.

    Autotask sends it as a date-time at 00:00Z. Should a tenant's value be a local midnight
    converted to UTC instead (not seen in the stored samples, but cheap to survive), the
    nearest UTC midnight is the local date: 05:00Z (US) stays on the day, 23:00Z (Europe)
    and 13:00Z (Australia) are the following day's midnight.
    """
    moment = parse_instant(text)
    work_date = (moment + timedelta(hours=12)).date() if moment.hour >= 12 else moment.date()
    if work_date > fields.LAST_DAY:
        raise ValueError(f"{work_date.isoformat()} is outside {fields.FIRST_DAY.year}..{fields.LAST_DAY.year}")
    return work_date


def hours_to_seconds(value: Any) -> int:
    """``hoursWorked`` (a decimal number of hours) as whole seconds (see fields.duration)."""
    return fields.seconds(value)


def as_id(value: Any) -> int | None:
    """An Autotask reference id (an int, sometimes sent as a digit string), or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _ID.fullmatch(value.strip()):
        return int(value)
    return None


def after_hours_codes(billing_codes: Mapping[int, Record]) -> dict[int, int]:
    """After-hours billing code → the regular code that names it in ``afterHoursWorkType``.

    Autotask switches an entry logged outside business hours to its work type's after-hours
    work type ("will respect any After Hours work type conditions enforced in the Autotask
    GUI", SOAP TimeEntryEntity.htm), so an entry on such a code is after-hours work.
    """
    out: dict[int, int] = {}
    for code_id in sorted(billing_codes):
        target = as_id(billing_codes[code_id].get("afterHoursWorkType"))
        if target is not None and target != code_id:
            out.setdefault(target, code_id)
    return out


def lookup(records: Mapping[int, Record], value: Any) -> Record | None:
    """The record a reference field points at, or None (no reference, or not looked up)."""
    key = as_id(value)
    return records.get(key) if key is not None else None


def company_of(raw: Record, refs: References) -> int | None:
    """The company an entry's work belongs to: its ticket's, or its task's project's.

    Time entries carry no company of their own (AT-swagger TimeEntryModel); regular time
    (no ticket, no task) belongs to no client.
    """
    ticket = lookup(refs.tickets, raw.get("ticketID"))
    if ticket is not None:
        return as_id(ticket.get("companyID"))
    task = lookup(refs.tasks, raw.get("taskID"))
    project = lookup(refs.projects, task.get("projectID")) if task else None
    return as_id(project.get("companyID")) if project else None


def _text(value: Any) -> str | None:
    return fields.clean(value).strip() or None if isinstance(value, str) else None


def _name(record: Record | None, key: str) -> str | None:
    return _text(record.get(key)) if record else None


def resource_name(resource: Record | None) -> str | None:
    """A resource's display name, "First Last" (the scrubber matches either part)."""
    if not resource:
        return None
    parts = [_text(resource.get(k)) for k in ("firstName", "lastName")]
    return " ".join(p for p in parts if p) or None


def location_of(names: frozenset[str], refs: References) -> Location:
    """On-site or remote when a (folded) work-type name says so; Autotask has no location field."""
    if names & refs.onsite_work_types:
        return "onsite"
    if names & refs.remote_work_types:
        return "remote"
    return "unknown"


def normalize(raw: Any, *, account: str, client_key: str | None, refs: References) -> TimeEntry:
    """One Autotask time entry as a TimeEntry; a payload we cannot read is a PayloadError."""
    if not isinstance(raw, Mapping):
        raise PayloadError(f"Autotask time entry: expected an object, got {type(raw).__name__}")
    try:
        vendor_id = read(raw, "id", fields.record_id)
        work_date = read(raw, "dateWorked", parse_work_date)
        seconds = read(raw, "hoursWorked", hours_to_seconds)
        # lastModifiedDateTime is the cursor's clock; an entry never edited may lack it.
        if raw.get("lastModifiedDateTime"):
            updated_at = read(raw, "lastModifiedDateTime", parse_instant)
        elif raw.get("createDateTime"):
            updated_at = read(raw, "createDateTime", parse_instant)
        else:
            raise FieldError("lastModifiedDateTime", "missing (and no createDateTime)")
        started_at = read(raw, "startDateTime", fields.optional(parse_instant))
        non_billable = read(raw, "isNonBillable", fields.flag)
        notes, internal = read(raw, "summaryNotes", fields.text), read(raw, "internalNotes", fields.text)
        resource_id = as_id(raw.get("resourceID"))
        worker_name = read(raw, "resourceID", lambda _: fields.name(resource_name(lookup(refs.resources, resource_id))))
    except FieldError as err:
        raise PayloadError(f"Autotask time entry {fields.shown(raw.get('id'))}: {err}") from err

    ticket_id = as_id(raw.get("ticketID"))
    ticket = lookup(refs.tickets, ticket_id)
    task = lookup(refs.tasks, raw.get("taskID"))
    project = lookup(refs.projects, task.get("projectID")) if task else None
    code_id = as_id(raw.get("billingCodeID"))
    work_type = _name(lookup(refs.billing_codes, code_id), "name")
    # An after-hours code is also judged by its regular code's name ("On-site Support").
    regular = lookup(refs.billing_codes, refs.after_hours.get(code_id)) if code_id is not None else None
    names = folded(n for n in (work_type, _name(regular, "name")) if n)
    ticket_type = as_id(ticket.get("ticketType")) if ticket else None  # a picklist value
    return TimeEntry(
        account=account,
        vendor_id=vendor_id,
        client_key=client_key,
        work_date=work_date,
        duration_seconds=seconds,
        updated_at=updated_at,
        started_at=started_at,
        billable=not non_billable,
        worker_id=str(resource_id) if resource_id is not None else None,
        worker_name=worker_name,
        work_type=work_type,
        role=_name(lookup(refs.roles, raw.get("roleID")), "name"),
        ticket_id=str(ticket_id) if ticket_id is not None else None,
        ticket_number=_name(ticket, "ticketNumber"),
        ticket_title=_name(ticket, "title"),
        ticket_type=refs.ticket_types.get(ticket_type) if ticket_type is not None else None,
        project=_name(project, "projectName"),
        task=_name(task, "title"),
        notes=notes,
        internal_notes=internal,
        location=location_of(names, refs),
        travel=bool(names & refs.travel_work_types),
        tags=(AFTER_HOURS_TAG,) if code_id in refs.after_hours else (),
        # Autotask stamps billingApprovalDateTime when the entry is approved and posted.
        approval="approved" if raw.get("billingApprovalDateTime") else None,
    )
