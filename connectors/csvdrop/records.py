"""A whole export file read into checked records (pure): any bad row rejects the file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from connectors.csvdrop.formats import Field, Format, Recognized, recognize
from connectors.csvdrop.parse import (
    CsvError,
    DateOrder,
    date_order_of,
    decode,
    parse_bool,
    parse_date,
    parse_duration,
    parse_time,
    period_in_name,
    read_table,
    split_date_time,
)
from connectors.fields import MAX_NAME


@dataclass(frozen=True, slots=True)
class Record:
    """One row of an export, read and checked; ``client`` is the file's own client value."""

    line: int
    work_date: date
    seconds: int
    started_at: datetime | None = None
    own_id: str | None = None
    client: str | None = None
    notes: str | None = None
    internal_notes: str | None = None
    worker: str | None = None
    work_type: str | None = None
    role: str | None = None
    billable: bool = True
    ticket: str | None = None
    ticket_title: str | None = None
    project: str | None = None
    task: str | None = None
    tags: tuple[str, ...] = ()

    def content(self) -> tuple[object, ...]:
        """Everything the row says, without its line: what a content hash is taken of."""
        return (self.work_date.isoformat(), self.seconds, self.started_at.isoformat() if self.started_at else None,
                self.client, self.notes, self.internal_notes, self.worker, self.work_type, self.role,
                self.billable, self.ticket, self.ticket_title, self.project, self.task, self.tags)


@dataclass(frozen=True, slots=True)
class Export:
    """A file's format, its records, and the period it speaks for (first and last day)."""

    format: Format
    records: tuple[Record, ...]
    period: tuple[date, date]
    has_client_column: bool = True


def read_export(data: bytes, *, name: str, tz: ZoneInfo, date_order: DateOrder | None = None) -> Export:
    """Read a whole export; raise CsvError naming the line of the first problem.

    ``date_order`` (the account's setting) overrides the file's own evidence and the
    tool's default for numeric dates. A file with no rows is refused: an empty export
    is far likelier a mistake than a period in which nothing was worked, and it would
    otherwise clear that period.
    """
    table = read_table(decode(data))
    recognized = recognize(table.header, line=table.header_line)
    if not table.rows:
        raise CsvError("the export has a header but no rows; an empty file never clears a period",
                       line=table.header_line)
    cols = recognized.columns
    date_col = cols.get("date", cols.get("start"))
    assert date_col is not None  # recognize() insists on one
    order = date_order or date_order_of((cells[date_col] for _, cells in table.rows), recognized.format.date_order)
    records = tuple(_record(recognized, table.header, line, cells, tz, order) for line, cells in table.rows)
    _check_ids(records)
    days = [r.work_date for r in records]
    start, end = min(days), max(days)
    named = period_in_name(name)
    if named is not None:
        # The report period in the file's name covers days with no rows too (an entry
        # deleted on the last day must still go); rows outside it widen it.
        start, end = min(start, named[0]), max(end, named[1])
    return Export(recognized.format, records, (start, end), "client" in cols)


def _check_ids(records: tuple[Record, ...]) -> None:
    seen: dict[str, int] = {}
    for record in records:
        if record.own_id is None:
            continue
        if record.own_id in seen:
            raise CsvError(f"entry id {record.own_id!r} already appears on line {seen[record.own_id]}",
                           line=record.line)
        seen[record.own_id] = record.line


def _record(recognized: Recognized, header: tuple[str, ...], line: int, cells: tuple[str, ...], tz: ZoneInfo,
            order: DateOrder | None) -> Record:
    cols = recognized.columns

    def text(name: Field) -> str | None:
        index = cols.get(name)
        return (cells[index] or None) if index is not None else None

    # A tool with no date column (or a blank date) dates the row by its start.
    current: Field = "start" if not text("date") and ("date" not in cols or text("start")) else "date"
    try:
        day_text = text("date") or text("start")
        if day_text is None:
            raise CsvError("no date")
        work_date = parse_date(day_text, order)
        current = "start"
        started_at = _start(text("start"), work_date, order, tz)
        current = "hours" if "hours" in cols else "minutes"
        amount = text(current)
        if amount is None:
            raise CsvError("no hours")
        seconds = parse_duration(amount, "hours" if current == "hours" else "minutes")
        current = "billable" if "billable" in cols else "non_billable"
        billable = _billable(text("billable"), text("non_billable"), recognized.format.billable_default)
    except CsvError as err:
        index = cols.get(current)
        raise err.at(line, header[index] if index is not None else None) from err
    worker = text("worker")
    if worker is None and (text("worker_first") or text("worker_last")):
        worker = " ".join(p for p in (text("worker_first"), text("worker_last")) if p)
    if worker is not None and len(worker) > MAX_NAME:
        index = cols.get("worker", cols.get("worker_first", cols.get("worker_last")))
        raise CsvError(f"a technician's name of {len(worker)} characters (at most {MAX_NAME})",
                       line=line, column=header[index] if index is not None else None)
    tags = tuple(t.strip() for t in (text("tags") or "").split(",") if t.strip())
    return Record(
        line=line, work_date=work_date, seconds=seconds, started_at=started_at, own_id=text("id"),
        client=text("client"), notes=text("notes"), internal_notes=text("internal_notes"), worker=worker,
        work_type=text("work_type"), role=text("role"), billable=billable, ticket=text("ticket"),
        ticket_title=text("ticket_title"), project=text("project"), task=text("task"), tags=tags,
    )


def _start(cell: str | None, work_date: date, order: DateOrder | None, tz: ZoneInfo) -> datetime | None:
    """The entry's start in UTC from a time of day (or a date and time) in the tool's timezone."""
    if cell is None:
        return None
    day_part, time_part = split_date_time(cell)
    if time_part is None:
        clock: time = parse_time(day_part)
        day = work_date
    else:
        clock, day = parse_time(time_part), parse_date(day_part, order)
    return datetime.combine(day, clock, tzinfo=tz).astimezone(timezone.utc)


def _billable(billable: str | None, non_billable: str | None, default: bool) -> bool:
    if billable is not None:
        value = parse_bool(billable)
        if value is not None:
            return value
    if non_billable is not None:
        value = parse_bool(non_billable)
        if value is not None:
            return not value
    return default
