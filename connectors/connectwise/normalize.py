"""ConnectWise PSA time-entry payloads (REST 3.0 ``/time/entries``) → TimeEntry (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from syncd.errors import PayloadError
from syncd.models import TimeEntry

# billableOption on a time entry (pyconnectwise TimeEntry Literal; CW spec 2025.x):
# Billable | DoNotBill | NoCharge | NoDefault. "No charge" lines still appear on the invoice
# at zero, "do not bill" ones do not; for a retainer neither draws billable hours.
NOT_BILLABLE = frozenset({"donotbill", "nocharge"})
TICKET_CHARGES = frozenset({"ServiceTicket", "ProjectTicket"})


def parse_instant(text: str) -> datetime:
    """A ConnectWise timestamp ("2026-11-20T15:04:05Z") as an aware UTC datetime.

    CW sends UTC with a ``Z``; a value without an offset is taken to be UTC as well.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a timestamp string, got {type(text).__name__}")
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


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
    """Seconds worked: ``actualHours`` when present, else timeEnd − timeStart − hoursDeduct."""
    actual = raw.get("actualHours")
    if actual is not None:
        hours = Decimal(str(actual))
    elif raw.get("timeEnd"):
        span = Decimal(str((parse_instant(raw["timeEnd"]) - started_at).total_seconds())) / 3600
        hours = span - Decimal(str(raw.get("hoursDeduct") or 0))
    else:
        raise ValueError("neither actualHours nor timeEnd is given")
    return max(int((hours * 3600).to_integral_value()), 0)


def updated_instant(raw: dict[str, Any]) -> datetime:
    """The vendor's last-modified time: ``_info.lastUpdated`` (``dateEntered`` if CW left it out)."""
    info = raw.get("_info")
    stamp = info.get("lastUpdated") if isinstance(info, dict) else None
    stamp = stamp or raw.get("dateEntered")
    if not stamp:
        raise ValueError("no _info.lastUpdated (nor dateEntered)")
    return parse_instant(stamp)


def _ref(raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"{key} is not an object")
    return value


def _text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key} is not a string")
    return value.strip() or None


def _id(obj: dict[str, Any], key: str = "id") -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{key} is not an id")
    return str(value)


def ticket_fields(raw: dict[str, Any]) -> dict[str, str | None]:
    """Ticket id, number, title and type for time charged to a service or project ticket.

    CW shows a ticket's number as its id ("#12345"); the type is the entry's own
    ``ticketType`` string (2025 spec), which the ticket reference does not carry.
    """
    charge_type = raw.get("chargeToType")
    ticket = _ref(raw, "ticket")
    if charge_type not in TICKET_CHARGES and not ticket:
        return {"ticket_id": None, "ticket_number": None, "ticket_title": None, "ticket_type": None}
    ticket_id = _id(ticket) or _id(raw, "chargeToId")
    return {
        "ticket_id": ticket_id,
        "ticket_number": ticket_id,
        "ticket_title": _text(ticket, "summary"),
        "ticket_type": _text(raw, "ticketType"),
    }


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
        vendor_id = _id(raw)
        if vendor_id is None:
            raise KeyError("id")
        started_at = parse_instant(raw["timeStart"])
        seconds = duration_seconds(raw, started_at)
        updated_at = updated_instant(raw)
        member, work_type, work_role = _ref(raw, "member"), _ref(raw, "workType"), _ref(raw, "workRole")
        project, phase, activity = _ref(raw, "project"), _ref(raw, "phase"), _ref(raw, "activity")
        ticket = ticket_fields(raw)
        type_name, role_name = _text(work_type, "name"), _text(work_role, "name")
        notes, internal = _text(raw, "notes"), _text(raw, "internalNotes")
        status = _text(raw, "status")
    except (KeyError, TypeError, ValueError, InvalidOperation, AttributeError) as err:
        # The message names the entry and the fault, never a note or a technician's name.
        raise PayloadError(f"ConnectWise time entry {raw.get('id')!r}: {type(err).__name__}: {err}") from err
    return TimeEntry(
        account=account,
        vendor_id=vendor_id,
        client_key=client_key,
        work_date=started_at.astimezone(tz).date(),
        duration_seconds=seconds,
        updated_at=updated_at,
        started_at=started_at,
        billable=is_billable(raw.get("billableOption")),
        worker_id=_id(member),
        worker_name=_text(member, "name"),
        work_type=type_name,
        role=role_name,
        project=_text(project, "name"),
        task=_text(phase, "name") or _text(activity, "name"),
        notes=notes,
        internal_notes=internal,
        # No on-site/remote field on a time entry (locationId is the member's office).
        location="unknown",
        travel=is_travel((type_name, role_name), travel_names),
        approval=status,
        **ticket,
    )
