"""ConnectWise PSA time-entry payloads (REST 3.0 ``/time/entries``) → TimeEntry (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from connectors import fields
from connectors.fields import FieldError, read
from syncd.errors import PayloadError
from syncd.models import TimeEntry

# billableOption on a time entry (pyconnectwise TimeEntry Literal; CW spec 2025.x):
# Billable | DoNotBill | NoCharge | NoDefault. "No charge" lines still appear on the invoice
# at zero, "do not bill" ones do not; for a retainer neither draws billable hours.
NOT_BILLABLE = frozenset({"donotbill", "nocharge"})
TICKET_CHARGES = frozenset({"ServiceTicket", "ProjectTicket"})


def parse_instant(text: Any) -> datetime:
    """A ConnectWise timestamp ("2026-11-20T15:04:05Z") as an aware UTC datetime.

    CW sends UTC with a ``Z``; a value without an offset is taken to be UTC as well.
    """
    return fields.instant(text)


def is_billable(option: Any) -> bool:
    """``billableOption`` as a flag: DoNotBill and NoCharge are not billable.

    NoDefault, a missing value and any value CW may add later count as billable: hours then
    show on the client's page (where a rule can drop them) instead of silently vanishing.
    """
    return not (isinstance(option, str) and option.replace(" ", "").casefold() in NOT_BILLABLE)


def is_travel(names: Iterable[str | None], travel_names: Iterable[str]) -> bool:
    """Whether any of the entry's work type / work role names is one of ``travel_names``.

    ConnectWise has no travel field (none in the 2025 model set); MSPs log travel under a
    work type or role named for it, so the account says which names mean travel.
    """
    wanted = {n.strip().casefold() for n in travel_names if n and n.strip()}
    return any(name is not None and name.strip().casefold() in wanted for name in names)


def duration_seconds(raw: dict[str, Any], started_at: datetime) -> int:
    """Seconds worked: ``actualHours`` when present, else timeEnd − timeStart − hoursDeduct.

    Either way a duration that is negative or longer than a day is refused (see fields).
    """
    if raw.get("actualHours") is not None:
        return read(raw, "actualHours", fields.seconds)
    ended = read(raw, "timeEnd", fields.optional(fields.instant))
    if ended is None:
        raise FieldError("actualHours", "missing, and no timeEnd to count from")
    deduct = read(raw, "hoursDeduct", fields.optional(fields.duration)) or Decimal(0)
    span = Decimal(str((ended - started_at).total_seconds())) - deduct * 3600
    try:
        return fields.checked_seconds(span)
    except ValueError as err:
        raise FieldError("timeEnd", f"timeEnd − timeStart − hoursDeduct {err}") from err


def updated_instant(raw: dict[str, Any]) -> datetime:
    """The vendor's last-modified time: ``_info.lastUpdated`` (``dateEntered`` if CW left it out)."""
    if read(raw, "_info.lastUpdated", lambda stamp: stamp) not in (None, ""):
        return read(raw, "_info.lastUpdated", fields.instant)
    if raw.get("dateEntered") in (None, ""):
        raise FieldError("_info.lastUpdated", "missing (and no dateEntered)")
    return read(raw, "dateEntered", fields.instant)


def _reference_id(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"expected an id, got {type(value).__name__}")
    return fields.clean(str(value))


def ticket_fields(raw: dict[str, Any]) -> dict[str, str | None]:
    """Ticket id, number, title and type for time charged to a service or project ticket.

    CW shows a ticket's number as its id ("#12345"); the type is the entry's own
    ``ticketType`` string (2025 spec), which the ticket reference does not carry.
    """
    charge_type = read(raw, "chargeToType", fields.text)
    ticket = read(raw, "ticket", _object)
    if charge_type not in TICKET_CHARGES and not ticket:
        return {"ticket_id": None, "ticket_number": None, "ticket_title": None, "ticket_type": None}
    ticket_id = read(raw, "ticket.id", _reference_id) or read(raw, "chargeToId", _reference_id)
    return {
        "ticket_id": ticket_id,
        "ticket_number": ticket_id,
        "ticket_title": read(raw, "ticket.summary", fields.text),
        "ticket_type": read(raw, "ticketType", fields.text),
    }


def _object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def normalize(
    raw: dict[str, Any],
    *,
    account: str,
    client_key: str | None,
    tz: ZoneInfo,
    travel_names: Iterable[str] = (),
) -> TimeEntry:
    """One ConnectWise time entry as a TimeEntry; a payload we cannot read is a PayloadError.

    ``timeStart`` is a UTC instant; ``tz`` (the account's timezone) decides its work date,
    so the date matches what the MSP's own staff see in ConnectWise.
    """
    if not isinstance(raw, dict):
        raise PayloadError(f"ConnectWise time entry: expected an object, got {type(raw).__name__}")
    try:
        vendor_id = read(raw, "id", fields.record_id)
        started_at = read(raw, "timeStart", fields.instant)
        seconds = duration_seconds(raw, started_at)
        updated_at = updated_instant(raw)
        type_name, role_name = read(raw, "workType.name", fields.text), read(raw, "workRole.name", fields.text)
        return TimeEntry(
            account=account,
            vendor_id=vendor_id,
            client_key=client_key,
            work_date=started_at.astimezone(tz).date(),
            duration_seconds=seconds,
            updated_at=updated_at,
            started_at=started_at,
            billable=is_billable(raw.get("billableOption")),
            worker_id=read(raw, "member.id", _reference_id),
            worker_name=read(raw, "member.name", fields.name),
            work_type=type_name,
            role=role_name,
            project=read(raw, "project.name", fields.text),
            task=read(raw, "phase.name", fields.text) or read(raw, "activity.name", fields.text),
            notes=read(raw, "notes", fields.text),
            internal_notes=read(raw, "internalNotes", fields.text),
            # No on-site/remote field on a time entry (locationId is the member's office).
            location="unknown",
            travel=is_travel((type_name, role_name), travel_names),
            approval=read(raw, "status", fields.text),
            **ticket_fields(raw),
        )
    except FieldError as err:
        # The message names the entry and the field, never a note or a technician's name.
        raise PayloadError(f"ConnectWise time entry {fields.shown(raw.get('id'))}: {err}") from err
