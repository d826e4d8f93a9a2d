"""The CSV drop-folder connector: each ready file in an account's inbox becomes one replacing page."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import structlog
from pydantic import BeforeValidator, Field

from connectors.base import AccountSettings, Budget, Connector, Replacement, ReplacingPage, SourceSelector
from connectors.csvdrop.inbox import READABLE_SUFFIXES, Dropped, Inbox
from connectors.csvdrop.normalize import entry, scope_of, to_entries
from connectors.csvdrop.formats import recognize
from connectors.csvdrop.parse import CsvError, decode, read_table
from connectors.csvdrop.records import Record, read_export
from syncd.errors import AuthError, PayloadError, TransientError
from syncd.models import TimeEntry

log = structlog.get_logger("syncd")

StrList = Annotated[list[str], BeforeValidator(lambda v: [v] if isinstance(v, str) else v)]


class CsvDropSettings(AccountSettings):
    """A drop folder: the inbox path, and how to read what the tools write there."""

    vendor: Literal["csvdrop"]
    inbox: Path = Field(description="The folder exports are dropped into; <inbox>/<client-key>/ for one client's files.")
    date_order: Literal["auto", "ymd", "mdy", "dmy"] = Field(
        default="auto",
        description="What numeric dates such as 03/04/2026 mean; auto: a day above 12 in the file "
                    "decides, else the tool's usual order (the generic format refuses to guess).",
    )
    settle_seconds: float = Field(
        default=60.0, ge=0,
        description="A file untouched this long is complete; a newer one is read once it is unchanged "
                    "between two looks.",
    )


class CsvDropSelector(SourceSelector):
    """A client's rows: the values of the file's client column that are this client's.

    Files in ``<inbox>/<client-key>/`` are the client's whatever their client column says.
    """

    client: StrList = Field(default_factory=list, description="Client column value(s), compared case-blind.")


def _fold(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip().casefold()


@dataclass(frozen=True)
class FileImport:
    """One file read into a page, with what the admin should hear about it."""

    page: ReplacingPage
    format_name: str
    unclaimed: Counter[str]


class CsvDropConnector(Connector):
    """Exports dropped into a folder: recognized by header, imported whole or rejected whole.

    A file is one page that replaces its source's period (its folder and format, from its
    first to its last day, or the period its name states). It moves to ``archive/`` once
    committed; a file that cannot be read moves to ``rejected/`` with a report.
    """

    vendor: ClassVar[str] = "csvdrop"
    display_name: ClassVar[str] = "CSV drop folder"
    settings_model = CsvDropSettings
    selector_model = CsvDropSelector
    max_page_size: ClassVar[int] = 1_000_000  # a file is one page, whatever its size
    budget: ClassVar[Budget] = Budget(requests=1000, per_seconds=1.0)  # no HTTP is ever sent
    default_base_url: ClassVar[str] = "http://csvdrop.invalid"
    transport: ClassVar[Literal["http", "files"]] = "files"
    lists_window: ClassVar[bool] = False

    settings: CsvDropSettings

    @classmethod
    def http_options(cls, settings: Any) -> dict[str, Any]:
        return {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tz = ZoneInfo(self.settings.timezone or self.default_timezone)
        self._by_value: dict[str, str] = {}
        for route in self.routes:
            for value in route.selector.client:
                self._by_value.setdefault(_fold(value), route.client_key)
        self.inbox = Inbox(self.settings.inbox, {r.client_key for r in self.routes},
                           settle_seconds=self.settings.settle_seconds)
        # scope → (modified, first day, last day) of each export committed in this connector's life.
        self._committed: dict[str, list[tuple[int, date, date]]] = {}

    def route(self, folder: str | None) -> Callable[[str | None], str | None]:
        """Client value → client key for a file in ``folder`` (a client's own folder claims every row)."""
        if folder is not None:
            return lambda _value: folder
        return lambda value: self._by_value.get(_fold(value)) if value else None

    def read_file(self, data: bytes, *, name: str, folder: str | None,
                  on_commit: Callable[[], None] = lambda: None) -> FileImport:
        """A file's bytes as one replacing page; CsvError names the line when it cannot be."""
        order = None if self.settings.date_order == "auto" else self.settings.date_order
        if not name.lower().endswith(READABLE_SUFFIXES):
            raise CsvError(f"only {', '.join(READABLE_SUFFIXES)} files are read; export the report as CSV")
        export = read_export(data, name=name, tz=self._tz, date_order=order)
        if folder is None and not export.has_client_column:
            raise CsvError(f"{export.format.name} without a client column: put the file in "
                           "<inbox>/<client-key>/ so every row is that client's")
        scope = scope_of(folder, export.format.key)
        routed = to_entries(export, account=self.name, scope=scope, route=self.route(folder))
        page = ReplacingPage(routed.entries, Replacement(scope, *export.period), on_commit)
        return FileImport(page, export.format.name, routed.unclaimed)

    async def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        """Every ready file, oldest first (the inbox is the queue: cursor and backfill do not apply)."""
        try:
            scan = await asyncio.to_thread(self.inbox.scan)
        except PermissionError as err:
            raise AuthError(f"{self.display_name} {self.name}: cannot read {self.settings.inbox}: {err}") from err
        except OSError as err:
            raise TransientError(f"{self.display_name} {self.name}: cannot read {self.settings.inbox}: {err}") from err
        for stray in scan.strays:
            await asyncio.to_thread(self._reject, stray, CsvError(
                f"no client reads {stray.folder!r} from account {self.name}: move the file to the inbox root "
                "or to the folder named after a client's key"), None)
        for dropped in scan.ready:
            try:
                data = await asyncio.to_thread(self.inbox.read, dropped)
                result = self.read_file(data, name=dropped.path.name, folder=dropped.folder)
            except OSError as err:
                # Taken away or locked between the look and the read: nothing of it was
                # stored, and a file still there is read on the next look.
                log.warning("csv_unreadable", account=self.name, file=dropped.label, error=str(err))
                continue
            except CsvError as err:
                await asyncio.to_thread(self._reject, dropped, err, _format_hint(data))
                continue
            replaces = result.page.replaces
            if self._superseded(dropped, replaces):
                # A file that vanished and came back, or an old copy dropped again, after a newer
                # export of its period was applied: replacing the period with it would undo that.
                log.warning("csv_superseded", account=self.name, file=dropped.label,
                            period=f"{replaces.start.isoformat()}..{replaces.end.isoformat()}")
                await asyncio.to_thread(self._archive, dropped)
                continue
            self._report(dropped, result)
            result.page.on_commit = partial(self._committed_file, dropped, replaces)
            yield result.page

    def _superseded(self, dropped: Dropped, replaces: Replacement) -> bool:
        """Whether an export of the same source modified later, covering this one's whole
        period, was already committed."""
        return any(modified > dropped.mtime_ns and start <= replaces.start and replaces.end <= end
                   for modified, start, end in self._committed.get(replaces.scope, ()))

    def _committed_file(self, dropped: Dropped, replaces: Replacement) -> None:
        """A file's page is committed: remember what it replaced, and archive it."""
        self._committed.setdefault(replaces.scope, []).append((dropped.mtime_ns, replaces.start, replaces.end))
        self._archive(dropped)

    def _report(self, dropped: Dropped, result: FileImport) -> None:
        r = result.page.replaces
        log.info("csv_read", account=self.name, file=dropped.label, format=result.format_name,
                 rows=len(result.page), period=f"{r.start.isoformat()}..{r.end.isoformat()}")
        if result.unclaimed:
            # Rows of clients no selector claims are left out, as any vendor's other
            # clients are; they are named here so a typo in a selector is seen, not silent.
            log.warning("csv_rows_unclaimed", account=self.name, file=dropped.label,
                        rows=sum(result.unclaimed.values()), clients=dict(result.unclaimed))

    def _archive(self, dropped: Dropped) -> None:
        try:
            target = self.inbox.archive(dropped)
        except OSError as err:
            # Left in the inbox it is read again next time, which changes nothing.
            log.warning("csv_archive_failed", account=self.name, file=dropped.label, error=str(err))
            return
        log.info("csv_archived", account=self.name, file=dropped.label, to=str(target))

    def _reject(self, dropped: Dropped, err: CsvError, format_name: str | None) -> None:
        report = rejection_report(dropped.label, err, format_name)
        try:
            target = self.inbox.reject(dropped, report)
        except OSError as move_err:
            log.error("csv_reject_failed", account=self.name, file=dropped.label, error=str(move_err))
            return
        log.warning("csv_rejected", account=self.name, file=dropped.label, to=str(target), error=str(err))

    async def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        """A folder cannot re-list a period (``lists_window`` is False); deletions arrive with each export."""
        return
        yield  # pragma: no cover - makes this an async generator

    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        """``{"record": Record fields, "vendor_id": …, "folder": …}`` as a TimeEntry."""
        try:
            record = Record(**raw["record"])
            return entry(record, account=self.name, vendor_id=str(raw["vendor_id"]),
                         client_key=self.route(raw.get("folder"))(record.client))
        except (KeyError, TypeError) as err:
            raise PayloadError(f"{self.display_name}: unreadable record: {err}") from err


def _format_hint(data: bytes) -> str | None:
    """The format a rejected file was taken for, when its header was recognized."""
    try:
        table = read_table(decode(data))
        return recognize(table.header, line=table.header_line).format.name
    except CsvError:
        return None


def rejection_report(label: str, err: CsvError, format_name: str | None) -> str:
    """The text of ``<name>.error.txt``: what was wrong, where, and what to do."""
    lines = [f"{label} was not imported: nothing from it reached the ledger.", "",
             f"Problem: {err}"]
    if format_name:
        lines.append(f"Read as: {format_name}")
    lines += ["", "Fix the file (or export it again) and drop it into the inbox again; it is read whole."]
    return "\n".join(lines) + "\n"
