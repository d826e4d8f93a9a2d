"""The SQL the HaloPSA report route sends to ``POST /api/Report`` (pure builders)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

# Halo's Report Center runs one read-only T-SQL statement against the tenant's database:
# no comments, no trailing semicolon, no variables, and ORDER BY only with TOP
# (iusehalo/halo-mcp "runSql" rules). Table and column names come from public report SQL:
#   ACTIONS.Faultid, actionnumber, who, whoagentid, Whe_, ActionArrivalDate, timetaken,
#   traveltime, ActionChargeHours, ActionCode (the charge-rate id; -1 = none);
#   FAULTS.Faultid, Areaint (client), Symptom (summary), RequestTypeNew, FDeleted;
#   REQUESTTYPE.RTid, RTdesc.
# Not found in any public source, so named after the API fields they back (Halo's API
# names mostly are its column names lowercased): ACTIONS.nonbilltime, actionoohtime,
# hiddenfromuser, note, ActionLastUpdated (the API's last_updated) and FAULTS.LastUpdate
# (what /Tickets' lastupdatefromdate filters on). A tenant whose schema differs rejects the
# report; the account can then use `route: tickets`, which needs none of this.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("a.Faultid", "ticket_id"),
    ("a.actionnumber", "id"),
    ("a.who", "who"),
    ("a.whoagentid", "who_agentid"),
    ("a.Whe_", "[datetime]"),
    ("a.ActionArrivalDate", "actionarrivaldate"),
    ("a.timetaken", "timetaken"),
    ("a.nonbilltime", "nonbilltime"),
    ("a.ActionChargeHours", "actionchargehours"),
    ("a.traveltime", "traveltime"),
    ("a.actionoohtime", "actionoohtime"),
    ("a.hiddenfromuser", "hiddenfromuser"),
    ("a.note", "note"),
    ("a.ActionCode", "chargerate"),
    ("a.ActionLastUpdated", "last_updated"),
    ("f.Areaint", "client_id"),
    ("f.Symptom", "ticket_summary"),
    ("f.RequestTypeNew", "tickettype_id"),
    ("rt.RTdesc", "tickettype_name"),
    # Rows matching from this page on (this page's included): SQL Server counts a window
    # function before TOP, so each page says whether more follow and an empty or short page
    # can never pass for the end (a keyset page carries no "next" of its own).
    ("COUNT(*) OVER ()", "rows_left"),
)
FROM = ("FROM ACTIONS a JOIN FAULTS f ON f.Faultid = a.Faultid "
        "LEFT JOIN REQUESTTYPE rt ON rt.RTid = f.RequestTypeNew")
WORK_START = "COALESCE(a.ActionArrivalDate, a.Whe_)"
ORDER = "ORDER BY a.Faultid, a.actionnumber"


@dataclass(frozen=True, slots=True)
class After:
    """The keyset position of the last row read: pages continue after (ticket, action)."""

    ticket_id: int
    action_id: int


def literal(moment: datetime) -> str:
    """A UTC instant as a T-SQL datetime literal (Halo stores UTC; milliseconds kept)."""
    moment = moment.astimezone(timezone.utc)
    return "'" + moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}'"


def _day(value: date) -> str:
    return f"'{value.isoformat()}T00:00:00.000'"


def _ids(client_ids: Iterable[int]) -> str:
    ids = sorted({int(i) for i in client_ids})
    if not ids:
        raise ValueError("the report route needs at least one client id")
    return ", ".join(str(i) for i in ids)


def _select(top: int, client_ids: Iterable[int], condition: str, after: After | None) -> str:
    if top < 1:
        raise ValueError("a page holds at least one row")
    columns = ", ".join(f"{expr} AS {alias}" for expr, alias in COLUMNS)
    where = [
        "f.FDeleted = 0",
        f"f.Areaint IN ({_ids(client_ids)})",
        "(a.timetaken > 0 OR a.traveltime > 0)",  # only actions with time: not emails, notes, status changes
        condition,
    ]
    if after is not None:
        t, n = int(after.ticket_id), int(after.action_id)
        where.append(f"(a.Faultid > {t} OR (a.Faultid = {t} AND a.actionnumber > {n}))")
    return f"SELECT TOP {int(top)} {columns} {FROM} WHERE {' AND '.join(where)} {ORDER}"


def changed_since(since: datetime, client_ids: Iterable[int], *, top: int, after: After | None = None) -> str:
    """Timed actions of the clients' tickets where the action or its ticket changed at or after ``since``.

    The ticket's own change counts too: moving a ticket to another client (or retitling it)
    changes every entry on it without touching the actions. ``>=``, not ``>``: re-reading
    the boundary is absorbed by the upsert, a strict bound could lose an edit in the
    cursor's own millisecond. Pages are keyed on (ticket, action), so rows that change or
    vanish mid-paging never shift the next page. Entries keep the action's own last_updated,
    so after a move the cursor can stay behind the ticket's stamp and re-read those rows (in
    the same one request, without writes) until newer work moves it on.
    """
    at = literal(since)
    return _select(top, client_ids, f"(a.ActionLastUpdated >= {at} OR f.LastUpdate >= {at})", after)


def worked_between(start: date, end: date | None, client_ids: Iterable[int], *, top: int,
                   after: After | None = None) -> str:
    """Timed actions of the clients' tickets whose work started on ``start`` .. ``end`` (UTC days, inclusive).

    The work start is the arrival time when the agent recorded one, else the action's date.
    No ``end`` means everything from ``start`` on (the first backfill).
    """
    condition = f"{WORK_START} >= {_day(start)}"
    if end is not None:
        condition += f" AND {WORK_START} < {_day(end + timedelta(days=1))}"
    return _select(top, client_ids, condition, after)
