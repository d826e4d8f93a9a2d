"""Toggl Track time entries (Reports API v3 rows and API v9 payloads) → TimeEntry (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from connectors import fields
from connectors.base import ClientRoute
from connectors.fields import FieldError, read
from syncd.errors import PayloadError
from syncd.models import Location, TimeEntry

VENDOR = "Toggl Track"


@dataclass(frozen=True, slots=True)
class ProjectRef:
    """A project as routing and normalization need it: its name and its client."""

    name: str | None
    client_id: int | None


@dataclass(frozen=True, slots=True)
class Lookups:
    """Names that Toggl's time-entry payloads carry only as ids (filled from API v9 listings)."""

    projects: Mapping[int, ProjectRef] = field(default_factory=dict)
    tags: Mapping[int, str] = field(default_factory=dict)
    users: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Conventions:
    """How a team marks what Toggl has no field for: internal remarks, travel, on-site and remote work.

    Toggl has one ``description`` and no travel or location field, so tags (matched
    case-insensitively) and a description prefix are the only vehicles.
    """

    internal_prefix: str = "Internal:"
    travel_tags: frozenset[str] = frozenset({"travel", "drive time"})
    onsite_tags: frozenset[str] = frozenset({"on-site", "onsite"})
    remote_tags: frozenset[str] = frozenset({"remote"})
    use_billable_flag: bool = True

    @classmethod
    def of(
        cls,
        *,
        internal_prefix: str = "Internal:",
        travel_tags: Iterable[str] = ("Travel", "Drive Time"),
        onsite_tags: Iterable[str] = ("On-site", "Onsite"),
        remote_tags: Iterable[str] = ("Remote",),
        use_billable_flag: bool = True,
    ) -> Conventions:
        """Conventions from an account's settings (tag names folded for comparison)."""
        return cls(internal_prefix, _folded(travel_tags), _folded(onsite_tags), _folded(remote_tags),
                   use_billable_flag)


def _folded(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.strip().casefold() for n in names if n.strip())


def parse_instant(text: Any) -> datetime:
    """An RFC 3339 timestamp ("2024-07-30T11:13:46+03:00", "…Z") as an aware UTC datetime.

    Toggl always sends an offset; a bare value is read as UTC rather than guessed local.
    """
    return fields.instant(text)


def split_description(text: str | None, prefix: str) -> tuple[str | None, str | None]:
    """Client-facing text and internal remark of a Toggl description.

    Toggl's description is one line in its apps, so a team's internal remark is marked
    inline: from the first ``prefix`` that starts a word ("… done. Internal: do not bill")
    on, the text is internal. An empty prefix turns the convention off.
    """
    if not text or not text.strip():
        return None, None
    if not prefix.strip():
        return text.strip(), None
    match = re.search(r"(?<!\S)" + re.escape(prefix.strip()), text, flags=re.IGNORECASE)
    if match is None:
        return text.strip(), None
    public = text[: match.start()].strip().rstrip("-–—|;,").strip()
    return public or None, text[match.start():].strip() or None


def is_running(raw: Mapping[str, Any]) -> bool:
    """A timer still running: no stop yet, or Toggl's negative running duration."""
    seconds = raw.get("seconds", raw.get("duration"))
    return raw.get("stop") is None or (isinstance(seconds, (int, float)) and seconds < 0)


def flatten_rows(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Reports API rows → one dict per time entry, each carrying its row's shared fields.

    A row holds ``time_entries`` (one, or several when ``grouped``) and the fields they share
    (user, project, task, description, billable, tags).
    """
    flat: list[dict[str, Any]] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("time_entries"), list):
            raise PayloadError(f"{VENDOR}: a report row without a time_entries list")
        shared = {k: v for k, v in row.items() if k != "time_entries"}
        for item in row["time_entries"]:
            if not isinstance(item, dict):
                raise PayloadError(
                    f"{VENDOR}: report row {row.get('row_number')!r} holds a time entry that is not an object")
            flat.append({**shared, **item})
    return flat


def route_order(routes: Iterable[ClientRoute]) -> tuple[ClientRoute, ...]:
    """Most specific selectors first: a project match beats a whole-client match."""
    return tuple(sorted(routes, key=lambda r: (not r.selector.project_ids, r.selector.client_id is None, r.client_key)))


def route(routes: Sequence[ClientRoute], project_id: int | None, client_id: int | None) -> str | None:
    """The client key whose selector claims work on this project (of this client), or None.

    ``routes`` must already be in :func:`route_order`.
    """
    for candidate in routes:
        sel = candidate.selector
        if sel.client_id is not None and client_id != sel.client_id:
            continue
        if sel.project_ids and project_id not in sel.project_ids:
            continue
        return candidate.client_key
    return None


def normalize_report_entry(
    raw: Mapping[str, Any],
    *,
    account: str,
    client_key: str | None,
    tz: ZoneInfo,
    lookups: Lookups = Lookups(),
    conventions: Conventions = Conventions(),
) -> TimeEntry:
    """One flattened Reports API v3 time entry (see :func:`flatten_rows`) as a TimeEntry.

    Reports rows carry ``username`` but only ids for project and tags; names come from
    ``lookups`` unless the row was enriched (``project_name``, ``tag_names``, ``task_name``).
    """
    return _entry(raw, _report_fields, account=account, client_key=client_key, tz=tz, lookups=lookups,
                  conventions=conventions)


def _report_fields(raw: Mapping[str, Any]) -> _Fields:
    return _Fields(
        vendor_id=read(raw, "id", fields.record_id),
        started_at=read(raw, "start", parse_instant),
        seconds=read(raw, "seconds", _seconds),
        updated_at=read(raw, "at", parse_instant),
        deleted=False,
        user_id=read(raw, "user_id", _opt_id),
        user_name=read(raw, "username", fields.name),
        project_id=read(raw, "project_id", _opt_id),
        project_name=read(raw, "project_name", _opt_str),
        task_name=read(raw, "task_name", _opt_str),
        description=read(raw, "description", _opt_str),
        billable=read(raw, "billable", _bool),
        tag_ids=read(raw, "tag_ids", _ids),
        tag_names=read(raw, "tag_names", _names),
    )


def normalize_api_entry(
    raw: Mapping[str, Any],
    *,
    account: str,
    client_key: str | None,
    tz: ZoneInfo,
    lookups: Lookups = Lookups(),
    conventions: Conventions = Conventions(),
) -> TimeEntry:
    """One API v9 time entry (the payload of a webhook event) as a TimeEntry.

    v9 carries tag names (``tags``) but no user or project names; those come from
    ``lookups``. A non-null ``server_deleted_at`` marks a deletion.
    """
    return _entry(raw, _api_fields, account=account, client_key=client_key, tz=tz, lookups=lookups,
                  conventions=conventions)


def _api_fields(raw: Mapping[str, Any]) -> _Fields:
    return _Fields(
        vendor_id=read(raw, "id", fields.record_id),
        started_at=read(raw, "start", parse_instant),
        seconds=read(raw, "duration", _seconds),
        updated_at=read(raw, "at", parse_instant),
        deleted=raw.get("server_deleted_at") is not None,
        user_id=read(raw, _either(raw, "user_id", "uid"), _opt_id),
        user_name=None,
        project_id=read(raw, _either(raw, "project_id", "pid"), _opt_id),
        project_name=None,
        task_name=None,
        description=read(raw, "description", _opt_str),
        billable=read(raw, "billable", _bool),
        tag_ids=read(raw, "tag_ids", _ids),
        tag_names=read(raw, "tags", _names),
    )


def _entry(raw: Any, fields_of: Callable[[Mapping[str, Any]], _Fields], **context: Any) -> TimeEntry:
    """An entry read by ``fields_of`` and built; a payload we cannot read is a PayloadError naming it."""
    if not isinstance(raw, Mapping):
        raise PayloadError(f"{VENDOR}: a time entry that is not an object")
    try:
        return _build(fields_of(raw), **context)
    except FieldError as err:
        raise PayloadError(f"{VENDOR} time entry {fields.shown(raw.get('id'))}: {err}") from err


@dataclass(frozen=True, slots=True)
class _Fields:
    vendor_id: str
    started_at: datetime
    seconds: int
    updated_at: datetime
    deleted: bool
    user_id: int | None
    user_name: str | None
    project_id: int | None
    project_name: str | None
    task_name: str | None
    description: str | None
    billable: bool
    tag_ids: tuple[int, ...]
    tag_names: tuple[str, ...] | None


def _build(f: _Fields, *, account: str, client_key: str | None, tz: ZoneInfo, lookups: Lookups,
           conventions: Conventions) -> TimeEntry:
    project = lookups.projects.get(f.project_id) if f.project_id is not None else None
    if f.tag_names is not None:
        tags = f.tag_names
    else:
        # An id we cannot name (a tag deleted since) is left out rather than shown as a number.
        tags = tuple(lookups.tags[t] for t in f.tag_ids if t in lookups.tags)
    tags = tuple(dict.fromkeys(tags))
    notes, internal = split_description(f.description, conventions.internal_prefix)
    worker_name = f.user_name or (lookups.users.get(f.user_id) if f.user_id is not None else None)
    folded = {t.casefold() for t in tags}
    return TimeEntry(
        account=account,
        vendor_id=f.vendor_id,
        client_key=client_key,
        work_date=f.started_at.astimezone(tz).date(),
        duration_seconds=f.seconds,
        updated_at=f.updated_at,
        started_at=f.started_at,
        billable=f.billable if conventions.use_billable_flag else True,
        worker_id=str(f.user_id) if f.user_id is not None else None,
        worker_name=worker_name,
        work_type=f.task_name,
        task=f.task_name,
        project=f.project_name or (project.name if project else None),
        notes=notes,
        internal_notes=internal,
        location=_location(folded, conventions),
        travel=bool(folded & conventions.travel_tags),
        tags=tags,
        deleted=f.deleted,
    )


def _location(tags: set[str], conventions: Conventions) -> Location:
    if tags & conventions.onsite_tags:
        return "onsite"
    if tags & conventions.remote_tags:
        return "remote"
    return "unknown"


def _either(raw: Mapping[str, Any], name: str, legacy: str) -> str:
    # API v9 still sends the legacy names (pid, uid) beside the current ones: the key to read.
    return legacy if raw.get(name) is None else name


def _opt_id(value: Any) -> int | None:
    return None if value is None else int(fields.record_id(value))


def _ids(value: Any) -> tuple[int, ...]:
    # The Reports API sends [] and API v9 sends null when an entry has no tags.
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"expected a list of ids, got {type(value).__name__}")
    return tuple(int(fields.record_id(v)) for v in value)


def _names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a list of tag names")
    return tuple(fields.clean(v) for v in value if v.strip())


def _seconds(value: Any) -> int:
    """Seconds worked; a negative number is Toggl's mark of a running timer (its start as a
    negative Unix time), counted as nothing until it stops. Otherwise see fields.duration."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number of seconds, got {fields.shown(value)}")
    if value < 0 and value != float("-inf"):
        return 0
    return fields.seconds(value, unit=1)


def _bool(value: Any) -> bool:
    # Reports rows always carry billable; an entry without it is not billable.
    return fields.flag(value) or False


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return fields.clean(value) or None
