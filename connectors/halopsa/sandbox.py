"""A HaloPSA sandbox: a Starlette app speaking Halo's OAuth2 token endpoint, Tickets, Actions and Report SQL."""

from __future__ import annotations

import base64
import bisect
import json
import random
import re
import secrets
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.sandbox_faults import Asked, DrivesFaults, FaultKit, InjectsFaults, Listing
from connectors.sandbox_push import deliver

# Sources (shared/research/vendor-apis.md §3, HaloPSA):
#   token: POST {auth}/token?tenant=…, form grant_type=client_credentials&client_id&client_secret&scope=all;
#          answer access_token, token_type, expires_in (HaloAPI-ps Connect-HaloAPI.ps1). A refused
#          client answers 400 {"error": "invalid_client"} as RFC 6749 §5.2 says (Halo's own body: not found).
#   API:   Authorization: Bearer; a 401 body was not found, so the sandbox sends ASP.NET's
#          empty 401 with WWW-Authenticate: Bearer error="invalid_token".
#   /Tickets: pageinate, page_size ("Maximum size: 100"), page_no, lastupdatefromdate, client_id,
#          client_ids (Halo-spec); envelope {page_no, page_size, record_count, tickets}.
#   /Actions: ticket_id, startdate, enddate, count, excludesys (Halo-spec; not paged);
#          envelope {record_count, actions} (panoramicdata ActionsApiTests.cs).
#   /Report: POST [{"_loadreportonly": true, "sql": …}] → {…, "report": {"rows": […], "loaded", "load_error"}}
#          (public Halo report clients read .report.rows).
#   429:   "Rate Limit Reached - 300 Requests per rolling 5 minute window" (PowerShellWarrantyReports#51);
#          Retry-After: not found, so none is sent.
TICKETS_MAX_PAGE_SIZE = 100
RATE_LIMIT, RATE_PERIOD = 300, 300.0
TOKEN_LIFETIME = 3600
RATE_LIMIT_TEXT = "Rate Limit Reached - 300 Requests per rolling 5 minute window"
NO_DATE = "1900-01-01T00:00:00"

REMOTE, ONSITE, AFTER_HOURS, MAINTENANCE, INTERNAL = 1, 2, 3, 4, 5
CHARGE_RATES = {REMOTE: "Remote Support", ONSITE: "On-site Support", AFTER_HOURS: "After Hours Support",
                MAINTENANCE: "Scheduled Maintenance", INTERNAL: "Internal"}
INCIDENT, SERVICE_REQUEST, PROBLEM, CHANGE = 1, 3, 4, 6
TICKET_TYPES = {INCIDENT: "Incident", SERVICE_REQUEST: "Service Request", PROBLEM: "Problem", CHANGE: "Change"}

_CLIENTS = ((12, "Acme Dental"), (13, "Birchwood Legal"), (14, "Cobalt Logistics"), (15, "Delta Veterinary Clinic"))
_AGENTS = ((21, "Farah Haddad"), (22, "Mateus Carvalho"), (23, "Yuki Tanabe"), (24, "Oluwaseun Adeyemi"),
           (25, "Rhiannon Pryce"))
_USERS = {12: "Dr. Hannah Webb", 13: "Gareth Lloyd", 14: "Priscilla Nwosu", 15: "Tom Ellery"}

# Seed vocabulary: (ticket summary, ticket type, client-facing notes for its timed actions).
_TICKETS = (
    ("Printer in reception offline", INCIDENT,
     ("Reserved the printer's IP and rebuilt the print queue; test page printed",
      "Printer dropped off again; replaced the patch lead and confirmed it stays online")),
    ("Outlook keeps asking for a password", INCIDENT,
     ("Cleared cached credentials and rebuilt the Outlook profile",
      "<p>Re-enabled modern authentication on the mailbox.</p><p>User confirmed Outlook is <b>stable</b>.</p>")),
    ("New starter: accounts and laptop", SERVICE_REQUEST,
     ("Created the account, assigned a licence and enrolled the laptop",
      "Set up MFA and walked the new starter through signing in")),
    ("VPN drops every few minutes", INCIDENT,
     ("FW rule conflict on edge01 blocking the VPN; reordered the rules and confirmed remote access",
      "Updated the VPN client on the affected laptops")),
    ("Backup job failed overnight", INCIDENT,
     ("Re-ran the failed job and confirmed restore points are current",
      "<div>Freed space on the backup target &amp; adjusted retention</div>")),
    ("Leaver: remove access", SERVICE_REQUEST,
     ("Blocked sign-in, converted the mailbox to shared and reclaimed the licence",)),
    ("Shared drive folder deleted", INCIDENT,
     ("Restored the folder from last night's snapshot and checked permissions",)),
    ("Slow logons on two workstations", PROBLEM,
     ("Removed stale mapped drives from the logon script",
      "Traced the delay to a group policy timeout and corrected it")),
    ("Replace failing switch in comms cupboard", CHANGE,
     ("Replaced the failed switch and re-patched the floor", "Tested every patched port and labelled the panel")),
    ("Monthly patching", CHANGE,
     ("Patched the file server and rebooted during the maintenance window",
      "Monthly Windows updates on all workstations; two needed a second reboot")),
)
_CLIENT_TICKETS = {
    12: ("X-ray imaging PC cannot reach the sensor licence server", INCIDENT,
         ("Re-registered the sensor licence service and opened the port on the local firewall",)),
    13: ("Document add-in fails to save to matter folders", INCIDENT,
         ("Repaired the document management add-in and cleared its cache",)),
    14: ("Handheld scanners not syncing", INCIDENT,
         ("Re-joined the handheld scanners to the warehouse Wi-Fi",)),
    15: ("Kennel camera feed offline", INCIDENT, ("Reset the recorder channel and confirmed the feed",)),
}
_AFTER_HOURS_NOTES = (
    "After-hours call: internet down at the main site; ISP fault, failed over to the 4G backup",
    "Out-of-hours callout: server unresponsive after a power cut; brought services back in order",
    "Urgent call: security alert on one workstation; isolated it and confirmed backups are clean",
)
_MENTIONS = (  # appended to a note; names a colleague the way real notes do
    "Handed over to {first} for the firewall change",
    "{first} called the practice manager back to confirm",
    "Escalated to {full} for the directory sync issue",
    "Picked up from {first}'s earlier session",
)
_INTERNAL_WORK = (  # hidden actions with time: work the client does not see described
    "Investigated why our monitoring missed this; alert threshold was wrong",
    "Internal review of the change before scheduling it",
    "Reworked our own script that caused the outage, not billable",
)
_PRIVATE_NOTES = (  # hidden actions without time
    "Private: their admin password is on a sticky note under the keyboard",
    "Private: slow payer, check with accounts before ordering hardware",
    "Private: caused by our change last week, do not bill",
    "Private: office manager is short-tempered on the phone, keep it brief",
)
_SYSTEM = ("Status changed", "SLA hold released", "Ticket assigned")

# The report route's SQL, as the connector sends it (see connectors/halopsa/sql.py). The
# sandbox parses exactly these shapes; any other SQL is answered 400.
_COLUMNS = (
    ("a.faultid", "ticket_id"), ("a.actionnumber", "id"), ("a.who", "who"), ("a.whoagentid", "who_agentid"),
    ("a.whe_", "[datetime]"), ("a.actionarrivaldate", "actionarrivaldate"), ("a.timetaken", "timetaken"),
    ("a.nonbilltime", "nonbilltime"), ("a.actionchargehours", "actionchargehours"),
    ("a.traveltime", "traveltime"), ("a.actionoohtime", "actionoohtime"), ("a.hiddenfromuser", "hiddenfromuser"),
    ("a.note", "note"), ("a.actioncode", "chargerate"), ("a.actionlastupdated", "last_updated"),
    ("f.areaint", "client_id"), ("f.symptom", "ticket_summary"), ("f.requesttypenew", "tickettype_id"),
    ("rt.rtdesc", "tickettype_name"), ("count(*) over ()", "rows_left"),
)
_STAMP = r"'(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,7})?)'"
_WORK_START = r"coalesce\(a\.actionarrivaldate, a\.whe_\)"
_SQL = re.compile(
    r"select top (?P<top>\d+) (?P<columns>.+?) "
    r"from actions a join faults f on f\.faultid = a\.faultid "
    r"left join requesttype rt on rt\.rtid = f\.requesttypenew "
    r"where f\.fdeleted = 0 and f\.areaint in \((?P<clients>\d+(?:, \d+)*)\) "
    r"and \(a\.timetaken > 0 or a\.traveltime > 0\) and "
    r"(?:\(a\.actionlastupdated >= " + _STAMP.replace("(", "(?P<since>", 1)
    + r" or f\.lastupdate >= '(?P=since)'\)"
    r"|" + _WORK_START + r" >= " + _STAMP.replace("(", "(?P<start>", 1)
    + r"(?: and " + _WORK_START + r" < " + _STAMP.replace("(", "(?P<end>", 1) + r")?)"
    r"(?: and \(a\.faultid > (?P<after_t>\d+) or \(a\.faultid = (?P=after_t) and a\.actionnumber > (?P<after_a>\d+)\)\))? "
    r"order by a\.faultid, a\.actionnumber",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """One report SQL the sandbox understands: a filter, the clients, the keyset, TOP."""

    top: int
    clients: frozenset[int]
    since: float | None = None
    start: float | None = None
    end: float | None = None
    after: tuple[int, int] | None = None


class _BadRequest(ValueError):
    """Something Halo would answer with 400."""


def parse_report_sql(text: str) -> ReportQuery:
    """The report SQL the connector sends, parsed; anything else is a _BadRequest."""
    flat = " ".join(text.split())
    match = _SQL.fullmatch(flat)
    if match is None:
        raise _BadRequest("the sandbox runs only the report SQL syncd sends")
    columns = [c.strip() for c in match["columns"].split(",")]
    expected = [f"{expr} as {alias}" for expr, alias in _COLUMNS]
    if [" ".join(c.lower().split()) for c in columns] != expected:
        raise _BadRequest("unexpected column list")
    after = (int(match["after_t"]), int(match["after_a"])) if match["after_t"] else None
    return ReportQuery(
        top=int(match["top"]), clients=frozenset(int(c) for c in match["clients"].split(",")),
        since=_ts(match["since"]), start=_ts(match["start"]), end=_ts(match["end"]), after=after,
    )


def _continues_report(asked: Asked) -> bool:
    """Whether a report request asks for a page after the first (its SQL carries the keyset)."""
    body = asked.json()
    spec = body[0] if isinstance(body, list) and len(body) == 1 else body
    try:
        return isinstance(spec, dict) and parse_report_sql(str(spec.get("sql"))).after is not None
    except _BadRequest:
        return False


# Where the kit finds the time-entry listings: report pages (continued by keyset) and /Actions.
LISTING = Listing(re.compile(r"^/api/(Report|Actions)$"), items=("report", "rows"),
                  next_page=_continues_report, needs_body=True)


def _ts(text: str | None) -> float | None:
    if text is None:
        return None
    return _utc(datetime.fromisoformat(text)).timestamp()


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already (Halo stores UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _wire_time(moment: datetime | None) -> str:
    """Halo's timestamp style: UTC without an offset, milliseconds kept."""
    if moment is None:
        return NO_DATE
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _hours(value: float) -> float:
    return round(float(value), 2)


class HaloSandbox(InjectsFaults):
    """An in-memory Halo tenant: OAuth2 tokens, tickets, actions and the report SQL route.

    Read ``tickets`` and ``actions`` freely; change them through the mutation methods so the
    indexes and last-updated stamps stay right. ``actions`` is keyed (ticket id, action id).
    """

    def __init__(
        self,
        *,
        client_id: str = "syncd-sandbox",
        client_secret: str = "sandbox-secret-0f9e",
        tenant: str | None = "northbridge",
        clock: Callable[[], datetime] | None = None,
        rate_limit: int = RATE_LIMIT,
        rate_period: float = RATE_PERIOD,
        token_lifetime: int = TOKEN_LIFETIME,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant = tenant
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.token_lifetime = token_lifetime
        self.counters: Counter[str] = Counter()
        self.faults = FaultKit(counters=self.counters, listing=LISTING, refuse=self._refused,
                               throttles={"429": self._throttle}, base_clock=clock or (lambda: datetime.now(UTC)))
        self._clock = self.faults.clock
        self.clients: dict[int, dict[str, Any]] = {cid: {"id": cid, "name": name} for cid, name in _CLIENTS}
        self.agents: dict[int, str] = dict(_AGENTS)
        self.tickets: dict[int, dict[str, Any]] = {}
        self.actions: dict[tuple[int, int], dict[str, Any]] = {}
        self._ticket_actions: dict[int, list[int]] = {}
        self._ticket_lu: dict[int, float] = {}  # ticket id → last update (epoch seconds)
        self._action_lu: dict[tuple[int, int], float] = {}
        self._next_ticket = 4101
        self._next_delivery = 0x51C0_0000
        self._version = 0
        self._selections: dict[tuple[Any, ...], list[tuple[int, int]]] = {}
        self._selections_version = 0
        self._tokens: dict[str, float] = {}  # access token → expiry (epoch seconds)
        self._hits: deque[float] = deque()
        self.app = self.faults.wrap(Starlette(
            routes=[
                Route("/auth/token", self._token, methods=["POST"]),
                Route("/api/Tickets", self._list_tickets, methods=["GET"]),
                Route("/api/Actions", self._list_actions, methods=["GET"]),
                Route("/api/Report", self._report, methods=["POST"]),
            ],
            middleware=[Middleware(_Gate, sandbox=self)],
        ))

    # ----------------------------------------------------------------- faults and tokens

    def fail_auth(self, on: bool = True) -> None:
        """While on, the token endpoint refuses our client and every token is invalid (revoked)."""
        super().fail_auth(on)
        if on:
            self._tokens.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far expires now; the client credentials stay good."""
        now = self._now().timestamp()
        self._tokens = {token: min(expiry, now) for token, expiry in self._tokens.items()}

    # ----------------------------------------------------------------- data changes

    def add_client(self, name: str) -> int:
        """A new client (for benchmarks with many clients); returns its id."""
        cid = 600_000 + len(self.clients)
        self.clients[cid] = {"id": cid, "name": name}
        return cid

    def add_ticket(self, *, client_id: int, summary: str, tickettype_id: int = INCIDENT,
                   opened: datetime | None = None, user: str | None = None) -> int:
        """Log a ticket for ``client_id``; returns its id."""
        if client_id not in self.clients:
            raise KeyError(f"unknown client_id {client_id}")
        opened = _utc(opened) if opened is not None else self._now()
        ticket_id, self._next_ticket = self._next_ticket, self._next_ticket + 1
        self.tickets[ticket_id] = {
            "id": ticket_id, "summary": summary, "details": summary, "client_id": client_id,
            "client_name": self.clients[client_id]["name"], "site_id": client_id * 10,
            "site_name": "Main Site", "user_name": user or _USERS.get(client_id, "Office Manager"),
            "tickettype_id": tickettype_id, "status_id": 1, "priority_id": 3, "agent_id": 0,
            "dateoccurred": _wire_time(opened), "lastactiondate": _wire_time(opened),
            "timetaken": 0.0, "deleted": False,
        }
        self._ticket_actions[ticket_id] = []
        self._touch_ticket(ticket_id, opened)
        return ticket_id

    def add_action(
        self,
        ticket_id: int,
        *,
        agent_id: int | None = None,
        note: str = "",
        hours: float = 0.0,
        travel_hours: float = 0.0,
        start: datetime | None = None,
        logged: datetime | None = None,
        hidden: bool = False,
        nonbill_hours: float = 0.0,
        charge_hours: float = 0.0,
        ooh_hours: float = 0.0,
        chargerate: int = REMOTE,
        outcome: str | None = None,
        who: str | None = None,
        system: bool = False,
        updated: datetime | None = None,
    ) -> dict[str, Any]:
        """Add an action to a ticket and return its API object.

        ``start`` is the arrival (work start) when the agent recorded one; ``logged`` is the
        action's own date (Halo's ``datetime``), by default the end of the work or now.
        ``updated`` defaults to the clock (the moment it was saved).
        """
        ticket = self.tickets[ticket_id]
        now = self._now()
        start = _utc(start) if start is not None else None
        if logged is None:
            logged = start + timedelta(hours=hours) if start is not None else now
        logged = _utc(logged)
        numbers = self._ticket_actions[ticket_id]
        number = (numbers[-1] + 1) if numbers else 1
        name = who if who is not None else (self.agents[agent_id] if agent_id else "")
        travel_start = start - timedelta(hours=travel_hours) if start is not None and travel_hours else None
        action = {
            "id": number, "ticket_id": ticket_id,
            "outcome": outcome or ("Private Note" if hidden else "Time Entry" if hours or travel_hours else "Note"),
            "who": name, "who_type": 0 if system else (1 if agent_id else 2), "who_agentid": agent_id or 0,
            "datetime": _wire_time(logged), "actionarrivaldate": _wire_time(start),
            "actioncompletiondate": _wire_time(start + timedelta(hours=hours) if start else None),
            "actiondatecreated": _wire_time(now), "note": note,
            "timetaken": _hours(hours), "timetakenadjusted": _hours(hours),
            "nonbilltime": _hours(nonbill_hours), "actionchargehours": _hours(charge_hours),
            "actionnonchargehours": _hours(max(0.0, hours - nonbill_hours - charge_hours)),
            "actionprepayhours": 0.0, "traveltime": _hours(travel_hours),
            "actiontravelstartdate": _wire_time(travel_start),
            "actiontravelenddate": _wire_time(start if travel_start else None), "mileage": 0.0,
            "actionoohtime": _hours(ooh_hours), "actionholidaytime": 0.0, "hiddenfromuser": hidden,
            "chargerate": chargerate if hours or travel_hours else -1,
            "actisbillable": nonbill_hours < hours, "last_updated": "",
            "_system": system,
        }
        key = (ticket_id, number)
        self.actions[key] = action
        numbers.append(number)
        stamp = _utc(updated) if updated is not None else now
        self._stamp(key, stamp)
        ticket["timetaken"] = _hours(ticket["timetaken"] + hours)
        ticket["lastactiondate"] = _wire_time(logged)
        self._touch_ticket(ticket_id, stamp)
        return action

    def edit_action(self, ticket_id: int, action_id: int, **changes: Any) -> dict[str, Any]:
        """Change an action in wire terms (``timetaken``, ``note``, ``traveltime``, ``hiddenfromuser``,
        ``nonbilltime``, ``actionoohtime``, ...) and bump its and its ticket's last update."""
        key = (ticket_id, action_id)
        action = self.actions[key]
        unknown = set(changes) - set(action) - {"start"}
        if unknown or "id" in changes or "ticket_id" in changes:
            raise TypeError(f"edit_action() got unknown or fixed field(s): {', '.join(sorted(unknown))}")
        for field, value in changes.items():
            if field in ("timetaken", "traveltime", "nonbilltime", "actionchargehours", "actionoohtime"):
                value = _hours(value)
            action[field] = value
        if "timetaken" in changes:
            action["timetakenadjusted"] = action["timetaken"]
        now = self._now()
        self._stamp(key, now)
        self._touch_ticket(ticket_id, now)
        return action

    def delete_action(self, ticket_id: int, action_id: int) -> None:
        """Delete an action (DELETE /Actions/{id}); Halo keeps no tombstone we can read."""
        key = (ticket_id, action_id)
        del self.actions[key]
        del self._action_lu[key]
        self._ticket_actions[ticket_id].remove(action_id)
        self._touch_ticket(ticket_id, self._now())

    # ----------------------------------------------------------------- webhooks out

    def webhook_event(self, ticket_id: int, action_id: int | None = None, *,
                      event: str = "Action Added") -> dict[str, Any]:
        """One outbound webhook delivery: the notification event and "the ticket and action
        objects where applicable" (haloitsm.com guides, kbid 838). The envelope's key names
        are not documented; the receiver must not rely on them, and syncd does not."""
        self._next_delivery += 1
        body: dict[str, Any] = {"id": f"{self._next_delivery:08x}-1f0e-4c39-8d6a-3a5b7c9e2f10", "event": event,
                                "ticket": dict(self.tickets[ticket_id])}
        if action_id is not None:
            body["action"] = {k: v for k, v in self.actions[(ticket_id, action_id)].items() if not k.startswith("_")}
        return body

    async def send_webhook(self, target: str | ASGIApp, payload: Any, *, path: str = "/",
                           basic: tuple[str, str] | None = None, bearer: str | None = None) -> httpx.Response:
        """POST one delivery (or a batch: a list) to ``target`` with the webhook's authentication
        (Halo webhook settings: None, Basic auth or a Bearer token among them)."""
        headers = {"Content-Type": "application/json"}
        if basic is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode("ascii")
        elif bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        self.counters["webhooks_sent"] += 1
        return await deliver(target, json.dumps(payload, separators=(",", ":")).encode("utf-8"), headers, path=path)

    def move_ticket(self, ticket_id: int, client_id: int) -> None:
        """Log the ticket against another client: its actions move with it."""
        ticket = self.tickets[ticket_id]
        ticket["client_id"] = client_id
        ticket["client_name"] = self.clients[client_id]["name"]
        self._touch_ticket(ticket_id, self._now())

    def delete_ticket(self, ticket_id: int) -> None:
        """Delete a ticket (FDeleted): it and its actions stop being listed."""
        self.tickets[ticket_id]["deleted"] = True
        self._touch_ticket(ticket_id, self._now())

    def seed(self, *, seed: int = 11, days: int = 45, per_day: int = 6, now: datetime | None = None) -> None:
        """A realistic, deterministic history of ``days`` days up to ``now``: ~``per_day`` tickets a weekday.

        Tickets carry remote work, on-site visits with travel time, evening callouts with
        out-of-hours time, hidden internal work, private notes without time, emails and
        system actions; notes sometimes name a colleague and sometimes are HTML. Same ``seed``
        and ``now`` give the same data.
        """
        now = _utc(now) if now is not None else self._now()
        rng = random.Random(seed)
        for back in range(days - 1, -1, -1):
            day = now.date() - timedelta(days=back)
            weekend = day.weekday() >= 5
            for _ in range(rng.choice((0, 0, 1)) if weekend else per_day):
                self._seed_ticket(rng, day, now, weekend)

    # ----------------------------------------------------------------- seeding helpers

    def _seed_ticket(self, rng: random.Random, day: date, now: datetime, weekend: bool) -> None:
        client_id = rng.choice(_CLIENTS)[0]
        if rng.random() < 0.2:
            summary, kind, notes = _CLIENT_TICKETS[client_id]
        else:
            summary, kind, notes = rng.choice(_TICKETS)
        agent = rng.choice(_AGENTS)[0]
        opened = datetime.combine(day, time(8, 0), UTC) + timedelta(minutes=rng.randrange(0, 8 * 60, 5))
        if weekend or rng.random() < 0.12:
            opened = datetime.combine(day, time(19, 0), UTC) + timedelta(minutes=rng.randrange(0, 150, 5))
        if opened > now:
            return
        ticket_id = self.add_ticket(client_id=client_id, summary=summary, tickettype_id=kind, opened=opened)
        self.add_action(ticket_id, who=_USERS[client_id], note=f"Email from user: {summary}", logged=opened,
                        updated=opened, outcome="Email Received")
        clock = opened + timedelta(minutes=rng.choice((5, 10, 20, 40)))
        after_hours = opened.hour >= 18
        for i, text in enumerate(notes):
            hours = rng.choice((0.25, 0.5, 0.5, 0.75, 1.0, 1.5, 2.0))
            kwargs: dict[str, Any] = {"chargerate": REMOTE}
            if after_hours:
                text = rng.choice(_AFTER_HOURS_NOTES) if i == 0 else text
                kwargs = {"chargerate": AFTER_HOURS, "ooh_hours": hours}
            elif kind == CHANGE and rng.random() < 0.5:
                kwargs = {"chargerate": ONSITE, "travel_hours": rng.choice((0.5, 0.75, 1.0))}
                clock += timedelta(hours=kwargs["travel_hours"])
            elif kind == CHANGE:
                kwargs = {"chargerate": MAINTENANCE}
            if rng.random() < 0.08:  # hardware install outside the agreement: charged as T&M
                kwargs["charge_hours"] = hours
            elif rng.random() < 0.06:
                kwargs["nonbill_hours"] = round(hours / 2, 2)  # half written off
            if rng.random() < 0.18:
                text = f"{text}. {self._mention(rng, agent)}"
            self._seed_action(rng, ticket_id, now, agent=agent, note=text, hours=hours, start=clock, **kwargs)
            clock += timedelta(hours=hours, minutes=rng.choice((10, 30, 90)))
        if rng.random() < 0.15:  # internal work the client never sees described, not billed
            hours = rng.choice((0.25, 0.5))
            self._seed_action(rng, ticket_id, now, agent=agent, note=rng.choice(_INTERNAL_WORK), hours=hours,
                              start=clock, hidden=True, nonbill_hours=hours, chargerate=INTERNAL)
        if rng.random() < 0.2:
            self._seed_action(rng, ticket_id, now, agent=agent, note=rng.choice(_PRIVATE_NOTES), hours=0.0,
                              start=None, hidden=True, logged=clock)
        self._seed_action(rng, ticket_id, now, agent=0, note=rng.choice(_SYSTEM), hours=0.0, start=None,
                          logged=clock, system=True, who="System")

    def _seed_action(self, rng: random.Random, ticket_id: int, now: datetime, *, agent: int, hours: float,
                     start: datetime | None, logged: datetime | None = None, **kwargs: Any) -> None:
        end = logged or (start + timedelta(hours=hours) if start else now)
        if end > now:
            return  # not happened yet
        updated = end + timedelta(minutes=rng.randint(1, 20))
        if rng.random() < 0.07:  # corrected later: what lookback windows are for
            updated += timedelta(minutes=rng.randint(60, 3 * 24 * 60))
        updated = min(updated, now)
        if agent:
            kwargs.setdefault("agent_id", agent)
        self.add_action(ticket_id, hours=hours, start=start, logged=logged, updated=updated, **kwargs)

    def _mention(self, rng: random.Random, agent: int) -> str:
        other = rng.choice([name for aid, name in _AGENTS if aid != agent])
        return rng.choice(_MENTIONS).format(first=other.split()[0], full=other)

    # ----------------------------------------------------------------- storage

    def _now(self) -> datetime:
        return _utc(self._clock())

    def _stamp(self, key: tuple[int, int], moment: datetime) -> None:
        self.actions[key]["last_updated"] = _wire_time(moment)
        self._action_lu[key] = moment.timestamp()
        self._version += 1

    def _touch_ticket(self, ticket_id: int, moment: datetime) -> None:
        # An action added, edited or deleted updates its ticket, as does moving the ticket.
        self._ticket_lu[ticket_id] = max(self._ticket_lu.get(ticket_id, 0.0), moment.timestamp())
        self.tickets[ticket_id]["last_update"] = _wire_time(datetime.fromtimestamp(self._ticket_lu[ticket_id], UTC))
        self._version += 1

    def _timed(self, key: tuple[int, int]) -> bool:
        action = self.actions[key]
        return action["timetaken"] > 0 or action["traveltime"] > 0

    def _work_start(self, key: tuple[int, int]) -> float:
        action = self.actions[key]
        text = action["actionarrivaldate"] if action["actionarrivaldate"] != NO_DATE else action["datetime"]
        return _ts(text) or 0.0

    def _select_report(self, q: ReportQuery) -> list[tuple[int, int]]:
        """Keys of the actions a report query matches, sorted by (ticket, action); cached per data version."""
        cache_key = ("report", q.clients, q.since, q.start, q.end)
        if self._selections_version != self._version:
            self._selections.clear()
            self._selections_version = self._version
        cached = self._selections.get(cache_key)
        if cached is not None:
            return cached
        keys: list[tuple[int, int]] = []
        for ticket_id in sorted(self.tickets):
            ticket = self.tickets[ticket_id]
            if ticket["deleted"] or ticket["client_id"] not in q.clients:
                continue
            ticket_changed = q.since is not None and self._ticket_lu[ticket_id] >= q.since
            for number in self._ticket_actions[ticket_id]:
                key = (ticket_id, number)
                if not self._timed(key):
                    continue
                if q.since is not None and not (ticket_changed or self._action_lu[key] >= q.since):
                    continue
                if q.start is not None:
                    start = self._work_start(key)
                    if start < q.start or (q.end is not None and start >= q.end):
                        continue
                keys.append(key)
        if len(self._selections) >= 32:
            self._selections.clear()
        self._selections[cache_key] = keys
        return keys

    # ----------------------------------------------------------------- HTTP

    def _gate(self, scope: Scope) -> Response | None:
        """Checks every request passes before routing; returns the refusal, if any."""
        path: str = scope.get("path", "")
        if not path.startswith("/api/"):
            return None
        scheme, _, credential = Headers(scope=scope).get("authorization", "").partition(" ")
        expiry = self._tokens.get(credential) if scheme.lower() == "bearer" else None
        if expiry is None or self._now().timestamp() >= expiry:
            return self._invalid_token()
        # Sliding window over the injected clock; only admitted requests occupy a slot.
        now = self._now().timestamp()
        while self._hits and self._hits[0] <= now - self.rate_period:
            self._hits.popleft()
        if len(self._hits) >= self.rate_limit:
            return self._throttled()
        self._hits.append(now)
        return None

    def _invalid_token(self) -> Response:
        self.counters["401"] += 1
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

    def _refused(self, asked: Asked) -> Response | None:
        """A revoked API application: its token requests refused, its tokens invalid."""
        if asked.path == "/auth/token":
            return _oauth_error("invalid_client")
        return self._invalid_token() if asked.path.startswith("/api/") else None

    def _throttle(self, asked: Asked, retry_after: int | None) -> Response | None:
        # Only the API is rate limited; the token endpoint is the authorisation server's.
        return self._throttled(retry_after) if asked.path.startswith("/api/") else None

    def _throttled(self, retry_after: int | None = None) -> Response:
        self.counters["429"] += 1
        # Whether Halo sends Retry-After was not found: without a hint the connector waits its own.
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return PlainTextResponse(RATE_LIMIT_TEXT, status_code=429, headers=headers)

    async def _token(self, request: Request) -> Response:
        self.counters["token"] += 1
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return _oauth_error("invalid_request", "expected a form-encoded body")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type")
        good = (form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret
                and (self.tenant is None or request.query_params.get("tenant") == self.tenant))
        if not good:
            return _oauth_error("invalid_client")
        token = secrets.token_urlsafe(32)
        self._tokens[token] = self._now().timestamp() + self.token_lifetime
        return JSONResponse({"scope": form.get("scope") or "all", "token_type": "Bearer",
                             "access_token": token, "expires_in": self.token_lifetime})

    async def _list_tickets(self, request: Request) -> Response:
        params = request.query_params
        try:
            paginate = _parse_bool(params, "pageinate") or False
            page_size = _default(_parse_int(params, "page_size"), 50)
            page_no = _default(_parse_int(params, "page_no"), 1)
            # Halo's answer past "Maximum size: 100" was not found: the sandbox refuses with a
            # 400 rather than clamping, so a connector asking for more fails loudly in tests.
            if paginate and not 1 <= page_size <= TICKETS_MAX_PAGE_SIZE:
                raise _BadRequest(f"page_size must be between 1 and {TICKETS_MAX_PAGE_SIZE}")
            if page_no < 1:
                raise _BadRequest("page_no must be 1 or more")
            since = _parse_time(params, "lastupdatefromdate")
            until = _parse_time(params, "lastupdatetodate")
            clients = _parse_ids(params, "client_ids")
            single = _parse_int(params, "client_id")
        except _BadRequest as exc:
            return JSONResponse(str(exc), status_code=400)
        if single is not None:
            clients = {single} if clients is None else clients | {single}
        rows = [
            t for tid, t in sorted(self.tickets.items())
            if not t["deleted"] and (clients is None or t["client_id"] in clients)
            and (since is None or self._ticket_lu[tid] >= since) and (until is None or self._ticket_lu[tid] <= until)
        ]
        if not paginate:
            return JSONResponse({"record_count": len(rows), "tickets": rows})
        start = (page_no - 1) * page_size
        return JSONResponse({"page_no": page_no, "page_size": page_size, "record_count": len(rows),
                             "tickets": rows[start:start + page_size]})

    async def _list_actions(self, request: Request) -> Response:
        params = request.query_params
        try:
            ticket_id = _parse_int(params, "ticket_id")
            start = _parse_time(params, "startdate")
            end = _parse_time(params, "enddate")
            count = _parse_int(params, "count")
            excludesys = _parse_bool(params, "excludesys") or False
            excludeprivate = _parse_bool(params, "excludeprivate") or False
        except _BadRequest as exc:
            return JSONResponse(str(exc), status_code=400)
        self.counters["time_entries"] += 1
        if ticket_id is not None:
            if ticket_id not in self.tickets or self.tickets[ticket_id]["deleted"]:
                return JSONResponse(f"Ticket {ticket_id} not found", status_code=404)
            keys: Iterable[tuple[int, int]] = ((ticket_id, n) for n in self._ticket_actions[ticket_id])
        else:
            keys = sorted(k for k in self.actions if not self.tickets[k[0]]["deleted"])
        rows = []
        for key in keys:
            action = self.actions[key]
            logged = _ts(action["datetime"]) or 0.0
            if (start is not None and logged < start) or (end is not None and logged > end):
                continue
            if (excludesys and action["_system"]) or (excludeprivate and action["hiddenfromuser"]):
                continue
            rows.append({k: v for k, v in action.items() if not k.startswith("_")})
        if self.faults.answering_empty:
            rows = []
        total = len(rows)
        return JSONResponse({"record_count": total, "actions": rows[:count] if count else rows})

    async def _report(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse("The request body is not valid JSON", status_code=400)
        spec = body[0] if isinstance(body, list) and len(body) == 1 else body
        if not isinstance(spec, dict) or not isinstance(spec.get("sql"), str):
            return JSONResponse("Expected a report with sql", status_code=400)
        if spec.get("_loadreportonly") is not True:
            # Without _loadreportonly Halo saves a new report: syncd must never do that.
            return JSONResponse("The sandbox runs unsaved reports only (_loadreportonly)", status_code=400)
        try:
            query = parse_report_sql(spec["sql"])
        except _BadRequest as exc:
            return JSONResponse(str(exc), status_code=400)
        self.counters["time_entries"] += 1
        keys = [] if self.faults.answering_empty else self._select_report(query)
        begin = 0 if query.after is None else bisect.bisect_right(keys, query.after)
        rows = [self._row(key, len(keys) - begin) for key in keys[begin:begin + query.top]]
        return JSONResponse({
            "id": 0, "name": "", "sql": spec["sql"], "_loadreportonly": True,
            "available_columns": [{"id": i, "name": alias.strip("[]")} for i, (_, alias) in enumerate(_COLUMNS)],
            "report": {"rows": rows, "loaded": True, "load_error": "", "rowcount": len(rows)},
        })

    def _row(self, key: tuple[int, int], rows_left: int) -> dict[str, Any]:
        action = self.actions[key]
        ticket = self.tickets[key[0]]
        return {
            "ticket_id": key[0], "id": key[1], "who": action["who"], "who_agentid": action["who_agentid"],
            "datetime": action["datetime"], "actionarrivaldate": action["actionarrivaldate"],
            "timetaken": action["timetaken"], "nonbilltime": action["nonbilltime"],
            "actionchargehours": action["actionchargehours"], "traveltime": action["traveltime"],
            "actionoohtime": action["actionoohtime"], "hiddenfromuser": action["hiddenfromuser"],
            "note": action["note"], "chargerate": action["chargerate"], "last_updated": action["last_updated"],
            "client_id": ticket["client_id"], "ticket_summary": ticket["summary"],
            "tickettype_id": ticket["tickettype_id"], "tickettype_name": TICKET_TYPES.get(ticket["tickettype_id"]),
            "rows_left": rows_left,
        }


class _Gate:
    """Pure ASGI middleware running :meth:`HaloSandbox._gate` on every HTTP request."""

    def __init__(self, app: ASGIApp, sandbox: HaloSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.sandbox._gate(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _oauth_error(error: str, description: str | None = None) -> Response:
    body = {"error": error} | ({"error_description": description} if description else {})
    return JSONResponse(body, status_code=400, headers={"Cache-Control": "no-store"})


def _parse_int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _parse_bool(params: Mapping[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise _BadRequest(f"{name} must be true or false")


def _parse_ids(params: Mapping[str, str], name: str) -> set[int] | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise _BadRequest(f"{name} must be a comma-separated list of integers") from None


def _parse_time(params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return _utc(datetime.fromisoformat(raw.replace("Z", "+00:00"))).timestamp()
    except ValueError:
        raise _BadRequest(f"{name} must be a date and time") from None


class HaloDriver(DrivesFaults):
    """The contract suite's vendor-neutral handle on a seeded HaloSandbox (report route)."""

    vendor = "halopsa"
    max_page_size = 1000  # the report route's page (connectors/halopsa/client.py REPORT_PAGE_SIZE)
    idle_poll_requests = 1
    # No lookups on the report route; a poll may add a token request when the token has
    # expired, and on a 401 the retried request too.
    max_lookup_requests = 2

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.sandbox = HaloSandbox(clock=clock)
        self.sandbox.seed(now=clock() - timedelta(days=1), days=40, per_day=5)
        self.app = self.sandbox.app
        self._agents = [aid for aid, _ in _AGENTS]
        self.workers = [name for _, name in _AGENTS]
        self._clients = [12, 13, 14]

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def account(self, base_url: str) -> dict[str, Any]:
        return {"vendor": "halopsa", "base_url": base_url, "tenant": self.sandbox.tenant,
                "client_id": self.sandbox.client_id, "client_secret": self.sandbox.client_secret,
                "charge_rates": dict(CHARGE_RATES)}

    def selectors(self) -> list[dict[str, Any]]:
        return [{"client_id": client_id} for client_id in self._clients]

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        """A new ticket with one timed action; internal notes go in a private (hidden) action without time."""
        agent = self._agents[worker]
        ticket_id = self.sandbox.add_ticket(client_id=self._clients[client], summary="Support request",
                                            tickettype_id=SERVICE_REQUEST)
        began = datetime.combine(day, start, UTC) if start is not None else None
        # Without a start time the action's own date carries the day (midday: no timezone moves it).
        logged = None if began is not None else datetime.combine(day, time(12, 0), UTC)
        action = self.sandbox.add_action(ticket_id, agent_id=agent, note=notes, hours=hours, start=began,
                                         logged=logged, chargerate=REMOTE)
        if internal_notes:
            self.sandbox.add_action(ticket_id, agent_id=agent, note=internal_notes, hidden=True,
                                    logged=logged or began)
        return f"{ticket_id}:{action['id']}"

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        ticket_id, action_id = _split(vendor_id)
        changes: dict[str, Any] = {}
        if hours is not None:
            changes["timetaken"] = hours
        if notes is not None:
            changes["note"] = notes
        if changes:
            self.sandbox.edit_action(ticket_id, action_id, **changes)
        if client is not None:
            self.sandbox.move_ticket(ticket_id, self._clients[client])

    def delete_entry(self, vendor_id: str) -> None:
        ticket_id, action_id = _split(vendor_id)
        if vendor_id.endswith(":travel"):
            self.sandbox.edit_action(ticket_id, action_id, traveltime=0.0)
        else:
            self.sandbox.delete_action(ticket_id, action_id)

    auth_renews = True  # OAuth2 client credentials: an expired token is renewed, not a failure

    def expire_auth(self) -> None:
        """Every issued token expires now (the connector must renew once and carry on)."""
        self.sandbox.expire_tokens()

    def expire_tokens(self) -> None:
        """Every issued token expires now (the connector must refresh once and carry on)."""
        self.sandbox.expire_tokens()


def _split(vendor_id: str) -> tuple[int, int]:
    ticket, action = vendor_id.split(":")[:2]
    return int(ticket), int(action)


def make_driver(clock: Callable[[], datetime]) -> HaloDriver:
    """A seeded HaloPSA sandbox behind the contract suite's driver interface."""
    return HaloDriver(clock)


__all__ = ["HaloDriver", "HaloSandbox", "ReportQuery", "make_driver", "parse_report_sql"]
