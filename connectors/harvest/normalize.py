"""Harvest API v2 time-entry payloads → TimeEntry (pure)."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

from connectors import fields
from connectors.fields import FieldError, read
from syncd.errors import PayloadError
from syncd.models import TimeEntry

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)?\s*$", re.IGNORECASE)


def parse_clock(text: Any) -> time | None:
    """Harvest's started_time: "3:00pm" (12-hour accounts) or "15:00" (24-hour); None if absent."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise TypeError(f"expected a time of day, got {type(text).__name__}")
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(f"unreadable time of day {fields.shown(text)}")
    hour, minute, half = int(match[1]), int(match[2]), (match[3] or "").lower()
    if half:
        if not 1 <= hour <= 12:
            raise ValueError(f"unreadable time of day {fields.shown(text)}")
        hour = hour % 12 + (12 if half == "pm" else 0)
    try:
        return time(hour, minute)
    except ValueError as err:
        raise ValueError(f"unreadable time of day {fields.shown(text)}") from err


def parse_instant(text: Any) -> datetime:
    """An ISO 8601 timestamp ("2026-11-20T15:04:05Z") as an aware UTC datetime."""
    return fields.instant(text)


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
    if not isinstance(raw, dict):
        raise PayloadError(f"Harvest time entry: expected an object, got {type(raw).__name__}")
    try:
        work_date = read(raw, "spent_date", fields.day)
        start = read(raw, "started_time", parse_clock)
        notes, internal = split_notes(read(raw, "notes", fields.text), internal_prefix)
        task = read(raw, "task.name", fields.text)
        billable = read(raw, "billable", fields.flag)
        return TimeEntry(
            account=account,
            vendor_id=read(raw, "id", fields.record_id),
            client_key=client_key,
            work_date=work_date,
            duration_seconds=read(raw, "hours", fields.seconds),
            updated_at=read(raw, "updated_at", fields.instant),
            started_at=datetime.combine(work_date, start, tzinfo=tz).astimezone(timezone.utc) if start else None,
            billable=True if billable is None else billable,
            worker_id=read(raw, "user.id", fields.optional(fields.record_id)),
            worker_name=read(raw, "user.name", fields.name),
            work_type=task,
            task=task,
            project=read(raw, "project.name", fields.text),
            notes=notes,
            internal_notes=internal,
            approval=read(raw, "approval_status", fields.text),
        )
    except FieldError as err:
        raise PayloadError(f"Harvest time entry {fields.shown(raw.get('id'))}: {err}") from err
