"""Render a Statement into a client's page files: index.html, balance.json and log.csv."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from publisher.inert import csv_text, plain_html, plain_tree
from publisher.localize import utc_iso
from publisher.page import history_newest_first, last_day, newest_first, page_context
from syncd.models import Line, Statement, format_hours

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
    "ticket_number",
    "pending",
    "covered",
)

_ENV = Environment(
    loader=PackageLoader("publisher"),
    autoescape=True,
    finalize=plain_html,
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


def balance_schema() -> dict[str, Any]:
    """The JSON Schema every balance.json validates against (publisher/schema/balance.schema.json)."""
    text = resources.files(__package__).joinpath("schema", "balance.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


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
    model's ends are exclusive, and ``resets_on`` already says the day after. A prepaid
    block has neither (null). Totals count tracked pools only; flat-fee lines are ``covered``.
    Every string in it is plain text (publisher/inert.py).
    """
    cycle = statement.cycle
    covered = _covered_pools(statement)
    return plain_tree({
        "schema": SCHEMA,
        "client": statement.client_name,
        "locale": statement.locale,
        "generated_at": _utc(statement.generated_at),
        "sources": [
            {"name": s.name, "data_through": _utc(s.data_through), "failing": s.failing}
            for s in statement.sources
        ],
        "next_update_by": _utc(statement.next_update_by),
        "stale": statement.stale,
        "cycle": {
            "start": cycle.start.isoformat(),
            "end": last_day(cycle.end).isoformat() if cycle.end else None,
            "resets_on": cycle.resets_on.isoformat() if cycle.resets_on else None,
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
                "pending": format_hours(p.pending),
                "tracked": p.tracked,
                "resets": p.resets,
                "overflow_to": p.overflow_to,
            }
            for p in statement.pools
        ],
        "totals": {
            "available": format_hours(statement.available),
            "used": format_hours(statement.used),
            "remaining": format_hours(statement.remaining),
            "over": format_hours(statement.over),
            "pending": format_hours(statement.pending),
        },
        "overage_policy": statement.overage_policy,
        "adjustments": [
            {"date": a.date.isoformat(), "hours": format_hours(a.hours), "note": a.note, "pool": a.pool}
            for a in statement.adjustments
        ],
        "lines": [_line_document(line, line.pool in covered) for line in newest_first(statement.lines)],
        "history": [
            {
                "start": h.start.isoformat(),
                "end": last_day(h.end).isoformat(),
                "available": format_hours(h.available),
                "used": format_hours(h.used),
            }
            for h in history_newest_first(statement.history)
        ],
        "forecast": statement.forecast.isoformat() if statement.forecast else None,
        "notices": list(statement.notices),
    })


def render_csv(statement: Statement) -> bytes:
    """log.csv: header plus one row per line, newest first, UTF-8 with a BOM for Excel."""
    labels = _pool_labels(statement)
    covered = _covered_pools(statement)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in newest_first(statement.lines):
        writer.writerow(
            (
                line.date.isoformat(),
                csv_text(line.description),
                format_hours(line.hours_logged),
                _multiplier(line.multiplier),
                format_hours(line.hours_charged),
                csv_text(labels.get(line.pool, line.pool)),
                csv_text("; ".join(line.labels)),
                "" if line.balance_after is None or line.pool in covered else format_hours(line.balance_after),
                csv_text(line.ticket_number or ""),
                "yes" if line.pending else "",
                "yes" if line.pool in covered else "",
            )
        )
    return buffer.getvalue().encode("utf-8-sig")


def render_html(statement: Statement) -> str:
    """index.html: the self-contained client page (inline CSS and SVG, no script, no URLs)."""
    return _TEMPLATE.render(csp=PAGE_CSP, css=Markup(_CSS), **page_context(statement))


def _line_document(line: Line, covered: bool) -> dict[str, Any]:
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
    # Flat-fee work is covered, not counted: it has no balance to run.
    out["balance_after"] = None if line.balance_after is None or covered else format_hours(line.balance_after)
    out["pending"] = line.pending
    out["covered"] = covered
    return out


def _pool_labels(statement: Statement) -> dict[str, str]:
    return {p.name: p.label for p in statement.pools}


def _covered_pools(statement: Statement) -> set[str]:
    return {p.name for p in statement.pools if not p.tracked}


def _multiplier(value: Decimal) -> str:
    # "2", "1.5": the factor as written, never exponent notation ("1E+1").
    return format(value.normalize(), "f")


def _utc(value: datetime | None) -> str | None:
    return None if value is None else utc_iso(value)
