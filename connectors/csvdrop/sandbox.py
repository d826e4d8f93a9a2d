"""A drop-folder sandbox: a time tracker that writes a fresh export into an inbox after each change."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import time as wallclock
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from connectors.csvdrop.normalize import scope_of

GENERIC_HEADER = ("Entry ID", "Date", "Start", "Client", "Hours", "Description", "Worker", "Internal note",
                  "Work type", "Billable")
CLIENTS = ("Acme Dental", "Birchwood Legal")
WORKERS = ["Priya Raman", "Tomasz Kowalczyk"]
_SEED_NOTES = ("Reset MFA for the front desk account", "Rebuilt the reception print queue",
               "Renewed the guest Wi-Fi certificate", "Restored a deleted folder from last night's snapshot")


@dataclass(frozen=True)
class _Row:
    entry_id: str
    client: int
    hours: float
    notes: str
    day: date
    start: time | None
    worker: int
    internal_notes: str | None


class CsvDropDriver:
    """The contract suite's handle: entries live here; every change drops a complete export of
    the period (generic format, with entry ids) into the inbox, as an admin re-exporting would.

    Files are written complete and dated an hour back, so they count as settled at once.
    HTTP faults do not exist for a folder: those methods say so.
    """

    vendor = "csvdrop"
    app = Starlette()  # nothing is ever asked over HTTP; the rig only needs something to mount
    faults = None  # a folder's faults are the folder's own (see tests/contract/test_folder_faults.py)
    auth_renews = False
    max_page_size = 1_000_000
    idle_poll_requests = 0
    max_lookup_requests = 0
    workers = WORKERS

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.inbox = Path(tempfile.mkdtemp(prefix="syncd-csvdrop-"))
        weakref.finalize(self, shutil.rmtree, self.inbox, True)
        today = clock().date()
        # Each export covers the previous and the current month, as a "last two months" report.
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        last = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        self.period = (first, last)
        self._rows: dict[str, _Row] = {}
        self._seq = 0
        self._files = 0
        self._written_at = wallclock.time() - 3600
        self._empty = False
        for i, notes in enumerate(_SEED_NOTES):
            self._put(i % len(CLIENTS), 0.5 + i * 0.25, notes, today - timedelta(days=3 + i), time(9 + i), i % 2, None)
        self._export()

    def requests(self) -> int:
        """A folder answers no requests."""
        return 0

    def account(self, base_url: str) -> dict[str, Any]:
        return {"vendor": "csvdrop", "inbox": str(self.inbox)}

    def selectors(self) -> list[dict[str, Any]]:
        return [{"client": name} for name in CLIENTS]

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        entry_id = self._put(client, hours, notes, day, start, worker, internal_notes)
        self._export()
        return scope_of(None, "generic") + entry_id

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        row = self._rows[self._own(vendor_id)]
        self._rows[row.entry_id] = replace(
            row, hours=row.hours if hours is None else hours, client=row.client if client is None else client,
            notes=row.notes if notes is None else notes)
        self._export()

    def delete_entry(self, vendor_id: str) -> None:
        del self._rows[self._own(vendor_id)]
        self._export()

    def fail_auth(self, on: bool = True) -> None:
        raise NotImplementedError("a drop folder has no credentials to refuse")

    def throttle_next(self, n: int, retry_after: int | None) -> None:
        raise NotImplementedError("a drop folder answers no requests to throttle")

    def fail_next(self, n: int, kind: str) -> None:
        raise NotImplementedError("a drop folder answers no requests to fail")

    def expire_auth(self) -> None:
        raise NotImplementedError("a drop folder has no credentials to expire")

    def answer_empty(self, on: bool = True) -> None:
        """While on, exports come out with a header and no rows (an export made by mistake)."""
        self._empty = on
        if on:
            self._export()

    def _own(self, vendor_id: str) -> str:
        return vendor_id.removeprefix(scope_of(None, "generic"))

    def _put(self, client: int, hours: float, notes: str, day: date, start: time | None, worker: int,
             internal_notes: str | None) -> str:
        self._seq += 1
        entry_id = f"E{self._seq:05d}"
        self._rows[entry_id] = _Row(entry_id, client, hours, notes, day, start, worker, internal_notes)
        return entry_id

    def export(self) -> Path:
        """Drop a fresh export of everything, as an admin exporting again would; returns its path."""
        return self._export()

    def _export(self) -> Path:
        """Write the whole period as one export, named with its period, into the inbox."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(GENERIC_HEADER)
        rows = [] if self._empty else sorted(self._rows.values(), key=lambda r: (r.day, r.entry_id))
        for r in rows:
            writer.writerow([r.entry_id, r.day.isoformat(), r.start.strftime("%H:%M") if r.start else "",
                             CLIENTS[r.client], f"{r.hours:g}", r.notes, WORKERS[r.worker], r.internal_notes or "",
                             "Remote support", "Yes"])
        start, end = self.period
        self._files += 1
        path = self.inbox / f"export-{self._files:04d}_{start}_to_{end}.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        # Dated an hour back (settled), a second apart so the inbox reads them in order.
        settled = self._written_at + self._files
        os.utime(path, (settled, settled))
        return path


def make_driver(clock: Callable[[], datetime]) -> CsvDropDriver:
    """The contract suite's entry point."""
    return CsvDropDriver(clock)
