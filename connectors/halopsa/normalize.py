"""HaloPSA ticket actions (API objects or report rows) → TimeEntry (pure)."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

from connectors import fields
from connectors.fields import FieldError, read
from syncd.errors import PayloadError
from syncd.models import Location, TimeEntry

AFTER_HOURS = "after-hours"
PART_NON_BILLABLE = "part-non-billable"  # some, not all, of the time is non-billable
TM_CHARGE = "t&m-charge"  # Halo charges hours as time-and-materials, outside any agreement or prepay
TRAVEL_WORK_TYPE = "Travel"
TRAVEL_SUFFIX = ":travel"

# The keys normalize reads. Report rows are aliased to these names and the ticket route
# flattens its ticket into them, so both routes share one mapping:
#   action: id, ticket_id, who, who_agentid, datetime, actionarrivaldate, timetaken,
#           nonbilltime, actionchargehours, traveltime, actiontravelstartdate, actionoohtime,
#           hiddenfromuser, private_note, note, chargerate, last_updated
#   ticket: client_id, ticket_summary, tickettype_id, tickettype_name
_BLOCK_TAGS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote"})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
# Markup is recognised by the tags Halo's editor writes (or an entity), so plain text such
# as "ping <gateway> failed" is left alone.
_LOOKS_HTML = re.compile(
    r"<\s*/?\s*(?:p|br|div|span|b|i|u|em|strong|font|a|img|ul|ol|li|table|thead|tbody|tr|td|th|"
    r"h[1-6]|blockquote|pre|code|hr|html|head|body|style|script|title)\b[^>]*>|&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);",
    re.IGNORECASE,
)


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment, one line per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(value: str | None) -> str | None:
    """A Halo note as plain text: tags stripped, entities decoded, whitespace tidied; None if empty.

    Halo keeps notes as HTML (the agent's editor); plain text passes through unchanged
    apart from whitespace, so a note is never mangled for looking a little like markup.
    """
    if value is None:
        return None
    text = str(value)
    if _LOOKS_HTML.search(text):
        parser = _TextOnly()
        parser.feed(text)
        parser.close()
        text = html.unescape("".join(parser.parts))
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    tidy = "\n".join(line for line in lines if line)
    return tidy or None


def parse_instant(value: Any) -> datetime:
    """A Halo timestamp as aware UTC. Halo stores UTC and often omits the offset; a
    trailing Z or an explicit offset is honoured."""
    return fields.instant(value)


def optional_instant(value: Any) -> datetime | None:
    """Like :func:`parse_instant`, but absent values and Halo's "no date" placeholders are None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    moment = fields.parse_iso(value)
    # Halo fills unset dates with SQL Server's minimum (1753-01-01) or 1900-01-01.
    return None if moment.year <= 1900 else fields.in_years(moment)


def hours(value: Any) -> Decimal:
    """A decimal-hours field (timetaken, traveltime, ...); absent or null is zero; negative, not
    finite or more than a day is an error (see fields.duration)."""
    if value is None or value == "":
        return Decimal(0)
    return fields.duration(value)


def to_seconds(amount: Decimal) -> int:
    """Decimal hours as whole seconds, rounded half-even (Decimal's default)."""
    return fields.to_seconds(amount)


def flag(value: Any) -> bool:
    """A Halo boolean: JSON true/false, a SQL bit (0/1) or its text form."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        folded = value.strip().casefold()
        if folded in ("true", "1", "yes"):
            return True
        if folded in ("false", "0", "no", ""):
            return False
    raise ValueError(f"not a boolean: {value!r}")


def action_id(row: Mapping[str, Any]) -> str:
    """The vendor id syncd stores for an action's work: ``<ticket id>:<action id>``.

    Halo numbers actions per ticket (``GET /Actions/{id}`` takes ``ticket_id``), so the
    action id alone is not unique across the account.
    """
    return f"{read(row, 'ticket_id', fields.record_id)}:{read(row, 'id', fields.record_id)}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = fields.clean(str(value)).strip()
    return text or None


def _id(value: Any) -> str | None:
    return fields.optional(fields.record_id)(value)


def work_type_name(charge_rate: Any, names: Mapping[int, str]) -> str | None:
    """The work type for a charge rate id: its configured name, else the id itself.

    Halo marks "no charge rate" with -1 (ActionCode); the report route returns only the id
    (no public source names the charge-rate lookup table), so names come from settings.
    """
    if charge_rate is None or isinstance(charge_rate, bool) or charge_rate == "":
        return None
    if isinstance(charge_rate, float) and not charge_rate.is_integer():
        raise ValueError(f"not a charge rate id: {fields.shown(charge_rate)}")
    rate = int(charge_rate)
    if rate < 0:
        return None
    return names.get(rate, str(rate))


def _notes(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Client-facing notes and internal notes.

    A hidden action (``hiddenfromuser``, Halo's private note) is internal as a whole. The
    spec's ``private_note`` is read defensively: true marks the action internal, text is
    internal-note text (its type is not documented).
    """
    note = html_to_text(_text(row.get("note")))
    private = row.get("private_note")
    private_text = html_to_text(fields.clean(private)) if isinstance(private, str) else None
    hidden = read(row, "hiddenfromuser", flag) or (isinstance(private, bool) and private)
    if hidden:
        internal = "\n".join(t for t in (note, private_text) if t) or None
        return None, internal
    return note, private_text


def _location(travel: Decimal) -> Location:
    # Travel time means somebody went to the client; Halo has no other on-site marker we read.
    return "onsite" if travel > 0 else "unknown"


def normalize_action(
    row: Mapping[str, Any],
    *,
    account: str,
    client_key: str | None,
    tz: ZoneInfo,
    charge_rates: Mapping[int, str] | None = None,
) -> tuple[TimeEntry, TimeEntry]:
    """One Halo action as its two time entries: the work and the travel.

    Halo logs travel as separate time on the same action (``traveltime``), so the travel
    becomes its own entry (vendor id ``<ticket>:<action>:travel``, ``travel=True``) that rules
    can drop or charge. A part with no time comes back as a tombstone (``deleted=True``):
    the store ignores tombstones of entries it never held, and one it held (time moved from
    work to travel, say) is retired at the next poll instead of the next reconcile.
    """
    try:
        vendor_id = action_id(row)
        updated_at = read(row, "last_updated", parse_instant)
        logged = read(row, "datetime", optional_instant)
        arrival = read(row, "actionarrivaldate", optional_instant)
        started_at = arrival or logged
        if started_at is None:
            raise FieldError("actionarrivaldate", "missing, and so is datetime")
        work = read(row, "timetaken", hours)
        travel = read(row, "traveltime", hours)
        non_billable = read(row, "nonbilltime", hours)
        charged = read(row, "actionchargehours", hours)
        out_of_hours = read(row, "actionoohtime", hours)
        travel_start = read(row, "actiontravelstartdate", optional_instant)
        notes, internal = _notes(row)
        worker_id = read(row, "who_agentid", _id)
        worker_name = read(row, "who", lambda value: fields.name(_text(value)))
        ticket_id = read(row, "ticket_id", _id)
        ticket_type = _text(row.get("tickettype_name")) or read(row, "tickettype_id", _id)
        work_type = read(row, "chargerate", lambda value: work_type_name(value, charge_rates or {}))
    except FieldError as err:
        raise PayloadError(
            f"HaloPSA action {fields.shown(row.get('ticket_id'))}:{fields.shown(row.get('id'))}: {err}"
        ) from err
    work_date: date = started_at.astimezone(tz).date()
    tags = []
    if out_of_hours > 0:
        tags.append(AFTER_HOURS)
    # Wholly non-billable time is not billable; partly non-billable time stays billable
    # (the client still used the hours) and says so in a tag rules can act on.
    billable = not (work > 0 and non_billable >= work)
    if work > 0 and 0 < non_billable < work:
        tags.append(PART_NON_BILLABLE)
    if charged > 0:
        tags.append(TM_CHARGE)
    common: dict[str, Any] = {
        "account": account,
        "client_key": client_key,
        "work_date": work_date,
        "updated_at": updated_at,
        "worker_id": worker_id,
        "worker_name": worker_name,
        "ticket_id": ticket_id,
        "ticket_number": ticket_id,
        "ticket_title": _text(row.get("ticket_summary")),
        "ticket_type": ticket_type,
        "notes": notes,
        "internal_notes": internal,
        "location": _location(travel),
        "tags": tuple(tags),
    }
    work_entry = TimeEntry(
        vendor_id=vendor_id, duration_seconds=to_seconds(work), started_at=started_at,
        billable=billable, work_type=work_type, deleted=work <= 0, **common,
    )
    # Travel is billed by its own rate, not the work's; rules decide whether it counts.
    travel_entry = TimeEntry(
        vendor_id=vendor_id + TRAVEL_SUFFIX, duration_seconds=to_seconds(travel), started_at=travel_start,
        billable=True, work_type=TRAVEL_WORK_TYPE, travel=True, deleted=travel <= 0,
        **(common | {"tags": tuple(t for t in tags if t == AFTER_HOURS)}),
    )
    return work_entry, travel_entry
