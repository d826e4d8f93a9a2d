"""The export formats a drop folder recognizes by header, and each one's column map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from connectors.csvdrop.parse import CsvError, DateOrder, normalize_header

# The fields a row can give. ``hours`` is decimal hours or h:mm(:ss); ``minutes`` decimal
# minutes; ``start``/``end`` a time of day (or a date and time); ``worker_first`` and
# ``worker_last`` are joined; ``non_billable`` is the inverse of ``billable``.
Field = Literal[
    "id", "date", "start", "end", "hours", "minutes", "client", "notes", "internal_notes", "worker",
    "worker_first", "worker_last", "work_type", "role", "billable", "non_billable", "ticket",
    "ticket_title", "project", "task", "tags",
]


@dataclass(frozen=True)
class Format:
    """One tool's export: the headers that identify it and where each field is read from.

    ``identify`` lists groups of header spellings; every group must be present for the
    format to match. ``columns`` gives, per field, the spellings to look for, first found
    wins. ``date_order`` is what an ambiguous numeric date means in this tool's exports
    (None: refuse to guess).
    """

    key: str
    name: str
    identify: tuple[tuple[str, ...], ...]
    columns: Mapping[Field, tuple[str, ...]]
    date_order: DateOrder | None
    billable_default: bool = True
    fallback: bool = False  # only considered when no tool's own format matches

    def resolve(self, header: Sequence[str]) -> dict[Field, int]:
        """Column index per field found in ``header`` (normalized spellings)."""
        names = [normalize_header(h) for h in header]
        found: dict[Field, int] = {}
        for name, spellings in self.columns.items():
            for spelling in spellings:
                if spelling in names:
                    found[name] = names.index(spelling)
                    break
        return found

    def matches(self, header: Sequence[str]) -> bool:
        names = {normalize_header(h) for h in header}
        return all(any(s in names for s in group) for group in self.identify)


@dataclass(frozen=True)
class Recognized:
    """A file's format and the column index of each field it carries."""

    format: Format
    columns: dict[Field, int] = field(default_factory=dict)


# Column names below come from each tool's documented export or API where the search
# found them; where it did not, the comment says so and the map takes several spellings
# (and the identifying headers are few), so a variant export is still recognized.

# ConnectWise PSA: no published list of the Time Entry / Time Activity export columns was
# found. The spellings follow the time entry's documented fields (member, company,
# chargeToId/Type, workType, workRole, timeStart, timeEnd, actualHours, billableOption,
# notes, internalNotes) as the Manage UI labels them.
CONNECTWISE = Format(
    key="connectwise",
    name="ConnectWise PSA time entries (Time Activity / time entry export)",
    identify=(("member", "member name", "member id"), ("work type",),
              ("actual hours", "hours actual", "hours", "hours worked")),
    columns={
        "id": ("time entry id", "time entry #", "time id", "entry id", "id"),
        "date": ("date", "date start", "time start date", "work date"),
        "start": ("time start", "start time", "start"),
        "end": ("time end", "end time", "end"),
        "hours": ("actual hours", "hours actual", "hours", "hours worked"),
        "client": ("company", "company name"),
        "notes": ("notes", "description"),
        "internal_notes": ("internal notes", "internal analysis"),
        "worker": ("member name", "member", "member id"),
        "work_type": ("work type",),
        "role": ("work role",),
        "billable": ("billable option", "billable"),
        "ticket": ("ticket #", "ticket number", "ticket", "charge to id", "charge to"),
        "ticket_title": ("summary", "ticket summary", "summary description"),
        "project": ("project", "project name"),
    },
    date_order="mdy",  # a US product: ambiguous numeric dates are month-first
)

# Autotask: the Time Entries report's columns were not found in Autotask's help (which
# documents the export mechanism only: selected columns, first 5,000 records, dates in the
# user's format). The spellings follow the TimeEntries entity (dateWorked, resourceID,
# hoursWorked, hoursToBill, summaryNotes, internalNotes, billingCodeID, roleID, isNonBillable)
# and the UI's "Organization" (formerly "Account").
AUTOTASK = Format(
    key="autotask",
    name="Autotask time entries report",
    identify=(("resource", "resource name"), ("hours worked",), ("date worked", "date")),
    columns={
        "id": ("time entry id", "id"),
        "date": ("date worked", "date"),
        "start": ("start date/time", "start time", "start"),
        "end": ("end date/time", "end time", "end"),
        "hours": ("hours worked",),
        "client": ("organization", "organization name", "account", "account name", "company"),
        "notes": ("summary notes", "description", "notes"),
        "internal_notes": ("internal notes",),
        "worker": ("resource", "resource name"),
        "work_type": ("work type", "billing code"),
        "role": ("role",),
        "billable": ("billable",),
        "non_billable": ("non-billable", "non billable", "is non-billable"),
        "ticket": ("ticket number", "ticket #", "ticket"),
        "ticket_title": ("ticket title",),
        "project": ("project name", "project"),
        "task": ("task title", "task name", "task"),
    },
    date_order="mdy",
)

# Syncro: no published column list for the labor / work-order export was found. Syncro's
# docs name the Labor Log's "Actual Time" (logged) and "Billable Time" (after minimums and
# rounding); we count Actual Time, as the retainer rules do their own rounding.
SYNCRO = Format(
    key="syncro",
    name="Syncro labor / work-order export",
    identify=(("customer", "customer name", "customer business name", "business name"),
              ("technician", "tech", "user"),
              ("actual time", "labor type", "duration (minutes)", "minutes")),
    columns={
        "id": ("timer id", "labor id", "line item id", "entry id", "id"),
        "date": ("date", "start date", "created"),
        "start": ("start time", "start", "started at"),
        "end": ("end time", "end", "ended at"),
        "hours": ("actual time", "actual hours", "hours", "duration"),
        "minutes": ("duration (minutes)", "actual minutes", "minutes"),
        "client": ("customer", "customer name", "customer business name", "business name"),
        "notes": ("notes", "description", "comment"),
        "worker": ("technician", "tech", "user"),
        "work_type": ("labor type", "product", "rate"),
        "billable": ("billable",),
        "ticket": ("ticket number", "ticket #", "ticket", "work order", "work order #"),
        "ticket_title": ("ticket subject", "subject"),
    },
    date_order="mdy",
)

# Toggl Track detailed report CSV: User, Email, Client, Project, Task, Description,
# Billable, Start date, Start time, End date, End time, Duration (hh:mm:ss), Tags, Amount.
# Newer exports say "Member" and "Stop"; both are taken.
TOGGL = Format(
    key="toggl",
    name="Toggl Track detailed report",
    identify=(("start date",), ("duration",), ("description",), ("user", "member", "email")),
    columns={
        "id": ("id", "time entry id"),
        "date": ("start date",),
        "start": ("start time",),
        "end": ("end time", "stop time"),
        "hours": ("duration",),
        "client": ("client",),
        "notes": ("description",),
        "worker": ("user", "member", "email"),
        "billable": ("billable",),
        "project": ("project",),
        "task": ("task",),
        "tags": ("tags",),
    },
    date_order="mdy",  # Toggl writes ISO dates; month-first only if a sheet re-saved them
)

# Harvest detailed time report: Date, Client, Project, Project Code, Task, Notes, Hours,
# Hours Rounded, Billable?, Invoiced?, Approved?, First Name, Last Name, Roles, Employee?,
# rates and amounts, Currency, External Reference URL. No published column list was found:
# these are the report's column labels as the export writes them, so recognition asks only
# for the few that identify it and every other column is optional. Harvest dates are
# YYYY-MM-DD or M/D/YYYY. "Hours" is logged time.
HARVEST = Format(
    key="harvest",
    name="Harvest detailed time report",
    identify=(("date",), ("hours",), ("first name",), ("last name",), ("task",)),
    columns={
        "date": ("date",),
        "hours": ("hours",),
        "client": ("client",),
        "project": ("project",),
        "task": ("task",),
        "work_type": ("task",),
        "notes": ("notes",),
        "worker_first": ("first name",),
        "worker_last": ("last name",),
        "role": ("roles",),
        "billable": ("billable?", "billable"),
        "ticket": ("external reference url",),
    },
    date_order="mdy",
)

# Clockify detailed report CSV: Project, Client, Description, Task, User, Email, Tags,
# Billable, Start Date, Start Time, End Date, End Time, Duration (h) (hh:mm:ss),
# Duration (decimal), Billable Rate, Billable Amount. Dates follow the user's format
# setting (MM/DD/YYYY by default).
CLOCKIFY = Format(
    key="clockify",
    name="Clockify detailed report",
    identify=(("start date",), ("duration (h)", "duration (decimal)"), ("user",), ("description",)),
    columns={
        "id": ("id", "time entry id"),
        "date": ("start date",),
        "start": ("start time",),
        "end": ("end time",),
        "hours": ("duration (decimal)", "duration (h)"),
        "client": ("client",),
        "project": ("project",),
        "task": ("task",),
        "notes": ("description",),
        "worker": ("user",),
        "tags": ("tags",),
        "billable": ("billable",),
    },
    date_order="mdy",
)

# syncd's own generic format (README, "CSV drop folder"): date, client, hours,
# description, worker, internal note, work type, billable; optional id, start, ticket,
# project, tags. Numeric dates that could be either order are refused: write YYYY-MM-DD.
GENERIC = Format(
    key="generic",
    name="syncd generic CSV",
    identify=(("date",), ("hours",), ("description",)),
    columns={
        "id": ("id", "entry id"),
        "date": ("date",),
        "start": ("start", "start time"),
        "hours": ("hours",),
        "client": ("client",),
        "notes": ("description",),
        "worker": ("worker", "technician"),
        "internal_notes": ("internal note", "internal notes"),
        "work_type": ("work type",),
        "billable": ("billable",),
        "ticket": ("ticket",),
        "project": ("project",),
        "tags": ("tags",),
    },
    date_order=None,
    fallback=True,
)

FORMATS: tuple[Format, ...] = (CONNECTWISE, AUTOTASK, SYNCRO, TOGGL, HARVEST, CLOCKIFY, GENERIC)


def recognize(header: Sequence[str], *, line: int = 1) -> Recognized:
    """The format whose identifying headers ``header`` carries (the most specific one wins)."""
    tools = [f for f in FORMATS if not f.fallback and f.matches(header)]
    candidates = tools or [f for f in FORMATS if f.fallback and f.matches(header)]
    if not candidates:
        known = "; ".join(f.name for f in FORMATS)
        raise CsvError(f"unrecognised header ({', '.join(header)[:200]}); known formats: {known}", line=line)
    best = max(candidates, key=lambda f: len(f.identify))
    if sum(1 for f in candidates if len(f.identify) == len(best.identify)) > 1:
        names = ", ".join(f.name for f in candidates)
        raise CsvError(f"the header fits several formats ({names}); cannot tell which", line=line)
    columns = best.resolve(header)
    if "date" not in columns and "start" not in columns:
        raise CsvError(f"{best.name}: no date column", line=line)
    if "hours" not in columns and "minutes" not in columns:
        raise CsvError(f"{best.name}: no hours or duration column", line=line)
    return Recognized(best, columns)
