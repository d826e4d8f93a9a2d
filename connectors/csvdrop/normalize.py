"""Export records → TimeEntry with stable vendor ids (pure)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any

from connectors.csvdrop.records import Export, Record
from syncd.models import TimeEntry

# Longest tool id kept as it is; longer ones are hashed so a vendor id fits the store's column
# (a scope, the client folder and format, comes first: the whole id never passes MAX_VENDOR_ID).
_MAX_OWN_ID = 60
MAX_VENDOR_ID = 128


def scope_of(folder: str | None, format_key: str) -> str:
    """The vendor-id prefix of one file source: its client folder ("" for the inbox root) and format.

    An updated export replaces what the same source said of its period; other tools'
    exports and other folders are other sources, so one never clears another's entries.
    """
    return f"{folder or ''}/{format_key}/"


def vendor_id(scope: str, record: Record, occurrence: int) -> str:
    """The tool's own entry id where the export has one, else a hash of the row's content
    plus its occurrence among identical rows (two identical 15-minute calls are two entries)."""
    own = record.own_id
    if own is not None:
        kept = len(own) <= _MAX_OWN_ID and len(scope) + len(own) <= MAX_VENDOR_ID
        return scope + (own if kept else "h" + _digest(own))
    return f"{scope}c{_digest(json.dumps(record.content()))}-{occurrence}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Routed:
    """A file's entries, and the rows no client claimed, counted by their client value."""

    entries: list[TimeEntry] = field(default_factory=list)
    unclaimed: Counter[str] = field(default_factory=Counter)


def to_entries(export: Export, *, account: str, scope: str, route: Callable[[str | None], str | None]) -> Routed:
    """Each record as a TimeEntry of ``account``; ``route`` maps its client value to a client key.

    An export carries no edit times, so ``updated_at`` is the work's own start (or its day):
    the same file read twice gives the same entries, and the store sees no change.
    """
    out = Routed()
    seen: Counter[tuple[object, ...]] = Counter()
    for record in export.records:
        key = record.content()
        seen[key] += 1
        client_key = route(record.client)
        if client_key is None:
            out.unclaimed[record.client or "(blank)"] += 1
        out.entries.append(entry(record, account=account, vendor_id=vendor_id(scope, record, seen[key]),
                                 client_key=client_key))
    return out


def entry(record: Record, *, account: str, vendor_id: str, client_key: str | None) -> TimeEntry:
    """One record as a TimeEntry."""
    updated = record.started_at or datetime.combine(record.work_date, time(0), tzinfo=timezone.utc)
    return TimeEntry(
        account=account, vendor_id=vendor_id, client_key=client_key, work_date=record.work_date,
        duration_seconds=record.seconds, updated_at=updated, started_at=record.started_at,
        billable=record.billable, worker_id=record.worker, worker_name=record.worker,
        work_type=record.work_type, role=record.role, ticket_id=record.ticket, ticket_number=record.ticket,
        ticket_title=record.ticket_title, project=record.project, task=record.task, notes=record.notes,
        internal_notes=record.internal_notes, tags=record.tags,
    )


def raw_record(record: Record) -> dict[str, Any]:
    """A record as the plain dict :meth:`CsvDropConnector.normalize` takes."""
    return {f: getattr(record, f) for f in Record.__slots__}
