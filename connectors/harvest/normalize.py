"""Harvest API v2 time-entry payloads → TimeEntry (pure)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from syncd.errors import PayloadError
from syncd.models import TimeEntry

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)?\s*$", re.IGNORECASE)


def parse_clock(text: str | None) -> time | None:
    """Harvest's started_time: "3:00pm" (12-hour accounts) or "15:00" (24-hour); None if absent."""
    if not text:
        return None
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(f"unreadable time of day {text!r}")
    hour, minute, half = int(match[1]), int(match[2]), (match[3] or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(f"unreadable time of day {text!r}")
        hour = hour % 12 + (12 if half == "pm" else 0)
    return time(hour, minute)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 timestamp ("2026-11-20T15:04:05Z") as an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def split_notes(notes: str | None, internal_prefix: str) -> tuple[str | None, str | None]:
    """Client-facing notes and internal notes: from the first line starting with the prefix on,
    the text is internal (Harvest has one notes field; teams mark internal remarks by convention).
    """
    if not notes:
        return None, None
    lines = notes.splitlines()
    prefix = internal_prefix.casefold()
    for i, line in enumerate(lines):
        if prefix and line.strip().casefold().startswith(prefix):
            public = "\n".join(lines[:i]).strip() or None
            return public, "\n".join(lines[i:]).strip() or None
    return notes.strip() or None, None


def _name(obj: Any, key: str = "name") -> str | None:
    return obj.get(key) if isinstance(obj, dict) and obj.get(key) not in (None, "") else None


def normalize(
    raw: dict[str, Any],
    *,
    account: str,
    client_key: str | None,
    tz: ZoneInfo,
    internal_prefix: str = "Internal:",
) -> TimeEntry:
    """One Harvest time entry as a TimeEntry; a payload we cannot read is a PayloadError.

    Harvest reports ``started_time`` as a wall-clock time in the account's timezone, so
    ``tz`` is the account's timezone, not the client's.
    """
    try:
        vendor_id = str(raw["id"])
        work_date = date.fromisoformat(raw["spent_date"])
        seconds = int((Decimal(str(raw["hours"])) * 3600).to_integral_value())
        updated_at = parse_instant(raw["updated_at"])
        start = parse_clock(raw.get("started_time"))
        task, project, user = raw.get("task"), raw.get("project"), raw.get("user")
        notes, internal = split_notes(raw.get("notes"), internal_prefix)
    except (KeyError, TypeError, ValueError, InvalidOperation) as err:
        raise PayloadError(f"Harvest time entry {raw.get('id')!r}: {type(err).__name__}: {err}") from err
    started_at = (
        datetime.combine(work_date, start, tzinfo=tz).astimezone(timezone.utc) if start else None
    )
    return TimeEntry(
        account=account,
        vendor_id=vendor_id,
        client_key=client_key,
        work_date=work_date,
        duration_seconds=max(seconds, 0),
        updated_at=updated_at,
        started_at=started_at,
        billable=bool(raw.get("billable", True)),
        worker_id=str(user["id"]) if isinstance(user, dict) and "id" in user else None,
        worker_name=_name(user),
        work_type=_name(task),
        task=_name(task),
        project=_name(project),
        notes=notes,
        internal_notes=internal,
        approval=raw.get("approval_status"),
    )
