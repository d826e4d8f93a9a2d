"""Render a Statement into a client's page files: index.html, balance.json and log.csv."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from syncd.models import Line, PastCycle, Statement, format_hours

SCHEMA = "syncd.balance/1"
FILE_NAMES = ("index.html", "balance.json", "log.csv")
CSV_HEADER = (
    "date",
    "description",
    "hours_logged",
    "multiplier",
    "hours_charged",
    "pool",
    "labels",
    "balance_after",
)

_ENV = Environment(
    loader=PackageLoader("publisher"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_TEMPLATE = _ENV.get_template("page.html.j2")
_CSS = _ENV.loader.get_source(_ENV, "page.css")[0]  # type: ignore[union-attr]

# The page carries its own CSP so it stays locked down on any static host, not just ours;
# the style hash lets web.py send the same policy as a header.
CSP_STYLE_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode() + "'"
PAGE_CSP = f"default-src 'none'; style-src {CSP_STYLE_HASH}; base-uri 'none'; form-action 'none'"

# English month names, fixed here so output never depends on the process locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ONE = Decimal(1)
_ZERO = Decimal("0.00")


def render(statement: Statement) -> dict[str, bytes]:
    """All three files of a client's page; the same statement always gives the same bytes."""
    return {
        "index.html": render_html(statement).encode("utf-8"),
        "balance.json": render_json(statement).encode("utf-8"),
        "log.csv": render_csv(statement),
    }


def render_json(statement: Statement) -> str:
    """balance.json as text: insertion order, UTF-8 kept as is, two-space indent, final newline."""
    return json.dumps(balance_document(statement), ensure_ascii=False, indent=2) + "\n"


def balance_document(statement: Statement) -> dict[str, Any]:
    """The ``syncd.balance/1`` document, built field by field from an allow-list.

    ``cycle.end`` and ``history[].end`` are the last day of the cycle (inclusive); the
    model's ends are exclusive, and ``resets_on`` already says the day after.
    """
    cycle = statement.cycle
    return {
        "schema": SCHEMA,
        "client": statement.client_name,
        "generated_at": _utc(statement.generated_at),
        "sources": [
            {"name": s.name, "data_through": _utc(s.data_through), "failing": s.failing}
            for s in statement.sources
        ],
        "next_update_by": _utc(statement.next_update_by),
        "stale": statement.stale,
        "cycle": {
            "start": cycle.start.isoformat(),
            "end": _last_day(cycle.end).isoformat(),
            "resets_on": cycle.resets_on.isoformat(),
            "timezone": cycle.timezone,
        },
        "pools": [
            {
                "name": p.name,
                "label": p.label,
                "cap": format_hours(p.cap),
                "carried_in": format_hours(p.carried_in),
                "adjustments": format_hours(p.adjustments),
                "available": format_hours(p.available),
                "used": format_hours(p.used),
                "remaining": format_hours(p.remaining),
                "over": format_hours(p.over),
                "percent_used": str(p.percent_used),
            }
            for p in statement.pools
        ],
        "totals": {
            "available": format_hours(statement.available),
            "used": format_hours(statement.used),
            "remaining": format_hours(statement.remaining),
            "over": format_hours(statement.over),
        },
        "adjustments": [
            {"date": a.date.isoformat(), "hours": format_hours(a.hours), "note": a.note, "pool": a.pool}
            for a in statement.adjustments
        ],
        "lines": [_line_document(line) for line in newest_first(statement.lines)],
        "history": [
            {
                "start": h.start.isoformat(),
                "end": _last_day(h.end).isoformat(),
                "available": format_hours(h.available),
                "used": format_hours(h.used),
            }
            for h in _history_newest_first(statement.history)
        ],
        "forecast": statement.forecast.isoformat() if statement.forecast else None,
        "notices": list(statement.notices),
    }


def render_csv(statement: Statement) -> bytes:
    """log.csv: header plus one row per line, newest first, UTF-8 with a BOM for Excel."""
    labels = _pool_labels(statement)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in newest_first(statement.lines):
        writer.writerow(
            (
                line.date.isoformat(),
                _csv_text(line.description),
                format_hours(line.hours_logged),
                _multiplier(line.multiplier),
                format_hours(line.hours_charged),
                _csv_text(labels.get(line.pool, line.pool)),
                _csv_text("; ".join(line.labels)),
                "" if line.balance_after is None else format_hours(line.balance_after),
            )
        )
    return buffer.getvalue().encode("utf-8-sig")


def render_html(statement: Statement) -> str:
    """index.html: the self-contained client page (inline CSS and SVG, no script, no URLs)."""
    return _TEMPLATE.render(csp=PAGE_CSP, css=Markup(_CSS), **_page_context(statement))


def newest_first(lines: Sequence[Line]) -> list[Line]:
    """Lines newest first, whatever order a statement holds them in (the ledger's is newest first)."""
    order = sorted(range(len(lines)), key=lambda i: (lines[i].date, lines[i].sort_key, i), reverse=True)
    return [lines[i] for i in order]


def _line_document(line: Line) -> dict[str, Any]:
    # Named fields only: Line.source and Line.sort_key are internal and must never be published.
    out: dict[str, Any] = {
        "date": line.date.isoformat(),
        "description": line.description,
        "hours_logged": format_hours(line.hours_logged),
        "multiplier": _multiplier(line.multiplier),
        "hours_charged": format_hours(line.hours_charged),
        "pool": line.pool,
        "labels": list(line.labels),
    }
    if line.ticket_number is not None:
        out["ticket_number"] = line.ticket_number
    out["balance_after"] = None if line.balance_after is None else format_hours(line.balance_after)
    return out


def _page_context(statement: Statement) -> dict[str, Any]:
    tz = ZoneInfo(statement.cycle.timezone)
    cycle = statement.cycle
    labels = _pool_labels(statement)
    multi_pool = len(statement.pools) > 1
    single = statement.pools[0] if len(statement.pools) == 1 else None
    totals = _meter(statement.available, statement.used, statement.remaining)
    # With one pool the total is that pool, so its overage is stated against its cap here.
    totals["over_text"] = _over_text(statement.over, statement.available) if single else ""
    totals["breakdown"] = _breakdown(statement)
    return {
        "client": statement.client_name,
        "totals": totals,
        "pools": [
            {"label": p.label, **_meter(p.available, p.used, p.remaining),
             "over_text": _over_text(p.over, p.available)}
            for p in statement.pools
        ] if multi_pool else [],
        "cycle": {
            "start": _date_text(cycle.start),
            "start_iso": cycle.start.isoformat(),
            "last": _date_text(_last_day(cycle.end)),
            "last_iso": _last_day(cycle.end).isoformat(),
            "resets": _date_text(cycle.resets_on),
            "resets_iso": cycle.resets_on.isoformat(),
        },
        "forecast": (
            {"text": _date_text(statement.forecast), "iso": statement.forecast.isoformat()}
            if statement.forecast else None
        ),
        "stale": statement.stale,
        "failing": [
            {"name": s.name, "through": _local_text(s.data_through, tz)}
            for s in statement.sources if s.failing
        ],
        "notices": list(statement.notices),
        "adjustments": [
            {
                "date": _date_text(a.date),
                "iso": a.date.isoformat(),
                "hours": _signed_hours(a.hours),
                "note": a.note,
                "pool": labels.get(a.pool, a.pool) if multi_pool else "",
            }
            for a in statement.adjustments
        ],
        "show_pool": multi_pool,
        "lines": [_line_row(line, labels) for line in newest_first(statement.lines)],
        "history": [_history_row(h) for h in _history_newest_first(statement.history)],
        "updated": {"text": _local_text(statement.generated_at, tz), "iso": _utc(statement.generated_at)},
        "sources": [
            {"name": s.name, "through": _local_text(s.data_through, tz), "failing": s.failing}
            for s in statement.sources
        ],
        "next_update": (
            {"text": _local_text(statement.next_update_by, tz), "iso": _utc(statement.next_update_by)}
            if statement.next_update_by else None
        ),
        "timezone": cycle.timezone,
    }


def _line_row(line: Line, labels: dict[str, str]) -> dict[str, Any]:
    balance = line.balance_after
    if balance is None:
        balance_text = "–"
    elif balance < 0:
        balance_text = f"{format_hours(-balance)} h over"
    else:
        balance_text = f"{format_hours(balance)} h"
    return {
        "date": _date_text(line.date),
        "iso": line.date.isoformat(),
        "description": line.description,
        "ticket": line.ticket_number or "",
        "labels": list(line.labels),
        "pool": labels.get(line.pool, line.pool),
        "charged": format_hours(line.hours_charged),
        # Shown whenever the charge differs from the time logged: a multiplier or rounding.
        "logged": format_hours(line.hours_logged) if line.hours_charged != line.hours_logged else "",
        "balance": balance_text,
        "balance_over": balance is not None and balance < 0,
    }


def _history_row(past: PastCycle) -> dict[str, str]:
    over = past.used - past.available
    return {
        "start": _date_text(past.start),
        "last": _date_text(_last_day(past.end)),
        "available": format_hours(past.available),
        "used": format_hours(past.used),
        "over": format_hours(over) if over > 0 else "",
    }


def _meter(available: Decimal, used: Decimal, remaining: Decimal) -> dict[str, Any]:
    percent = _percent(used, available)
    return {
        "available": format_hours(available),
        "used": format_hours(used),
        "remaining": format_hours(remaining),
        "percent": str(percent),
        "fill": str(min(percent, Decimal(100))) if percent > 0 else "",
        # Across pools, one pool's overage is not the total's: judge the figures shown.
        "is_over": used > available,
    }


def _percent(used: Decimal, available: Decimal) -> Decimal:
    # Same rule as PoolBalance.percent_used, for totals across pools.
    if available <= 0:
        return Decimal("100.0") if used > 0 else Decimal("0.0")
    return (used * 100 / available).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _over_text(over: Decimal, available: Decimal) -> str:
    return f"{format_hours(over)} h over the {format_hours(available)} h cap" if over > 0 else ""


def _breakdown(statement: Statement) -> str:
    # Says where "of Y h" comes from when it is more than the plain cap.
    carried = sum((p.carried_in for p in statement.pools), _ZERO)
    added = sum((p.adjustments for p in statement.pools), _ZERO)
    if not carried and not added:
        return ""
    cap = sum((p.cap for p in statement.pools), _ZERO)
    parts = [f"{format_hours(cap)} h included"]
    if carried:
        parts.append(f"{format_hours(carried)} h carried over")
    if added:
        parts.append(f"{_signed_hours(added)} h adjusted")
    return ", ".join(parts)


def _pool_labels(statement: Statement) -> dict[str, str]:
    return {p.name: p.label for p in statement.pools}


def _history_newest_first(history: Sequence[PastCycle]) -> list[PastCycle]:
    return sorted(history, key=lambda h: h.start, reverse=True)


def _multiplier(value: Decimal) -> str:
    # "2", "1.5": the factor as written, never exponent notation ("1E+1").
    return format(value.normalize(), "f")


def _signed_hours(value: Decimal) -> str:
    return f"+{format_hours(value)}" if value > 0 else format_hours(value)


def _csv_text(value: str) -> str:
    # A leading quote makes spreadsheets treat the cell as text, not a formula.
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _last_day(exclusive_end: date) -> date:
    return exclusive_end - timedelta(days=1)


def _date_text(value: date) -> str:
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def _as_utc(value: datetime) -> datetime:
    # Model datetimes are UTC; a naive one is taken as UTC rather than as server-local time.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    return _as_utc(value).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _local_text(value: datetime | None, tz: ZoneInfo) -> str | None:
    if value is None:
        return None
    local = _as_utc(value).astimezone(tz)
    return f"{_date_text(local.date())}, {local:%H:%M} {local.tzname()}"
