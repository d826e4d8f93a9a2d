"""A ConnectWise PSA (Manage) sandbox: a Starlette app that speaks CW's REST 3.0 wire format for time entries."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
import random
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers, URL
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.sandbox_faults import Asked, DrivesFaults, FaultKit, InjectsFaults, Listing, paged_by
from connectors.sandbox_push import deliver

# Sources (see shared/research/vendor-apis.md §1, ConnectWise):
#   TimeEntry fields: ai-connor/connectwise model_time_entry.go (spec 2025.8), djcw
#     tests/fixtures.py API_TIME_ENTRY (references carry id/identifier/name and _info hrefs).
#   Auth: Basic base64("company+public:private") + clientId header (pyconnectwise, Connect-CWM.ps1).
#   /login/companyinfo/{company}: unauthenticated; {"CompanyName", "CompanyID", "Codebase",
#     "VersionCode", "VersionNumber", "IsCloud", "SiteUrl"}; JSON null for an unknown company (djcw).
#   Paging: pageSize hard max 1000, default 25 (CW "PSA Pagination"); navigable Link header
#     (thelazyadministrator.com 2024-06-06); forward-only via "pagination-type: forward-only",
#     pageId = "id > pageId", Link rel="next"; ConnectWiseManageAPI treats a response without a
#     Link header as "endpoint doesn't support forward-only", so forward-only answers always
#     carry one, empty on the last page.
#   Errors: {"code", "message", "errors": [...]} (e.g. "InvalidObject"); a 429 past Cloudflare's
#     unstated limit (pyconnectwise PR #41). Exact message texts are not published: ours are
#     plausible, not verbatim.
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 25
CODEBASE = "v4_6_release/"
MSP_COMPANY = (19297, "NorthbridgeIT", "Northbridge IT Services")
_COMPANIES = ((250, "AcmeDental", "Acme Dental"), (251, "BirchwoodLegal", "Birchwood Legal LLP"),
              (252, "CobaltLogistics", "Cobalt Logistics"), (253, "DeltaVet", "Delta Veterinary Clinic"))
# Distinctive names on purpose: the privacy checks search published bytes for every part.
_MEMBERS = ((176, "ISolberg", "Ingrid", "Solberg"), (177, "OAdeyemi", "Oluwaseun", "Adeyemi"),
            (178, "RQuintero", "Rafael", "Quintero"), (179, "BFinchley", "Bartholomew", "Finchley"),
            (180, "MCastellanos", "Mei-Lin", "Castellanos"))
REMOTE, ONSITE, MAINTENANCE, TRAVEL, AFTER_HOURS, ADMIN, PROJECT = 1, 2, 3, 4, 5, 6, 7
_WORK_TYPES = ((REMOTE, "Remote Support"), (ONSITE, "On-Site Support"), (MAINTENANCE, "Scheduled Maintenance"),
               (TRAVEL, "Travel"), (AFTER_HOURS, "After Hours"), (ADMIN, "Admin"), (PROJECT, "Project Labor"))
HELP_DESK, ENGINEER, FIELD = 11, 12, 13
_WORK_ROLES = ((HELP_DESK, "Help Desk Technician"), (ENGINEER, "Systems Engineer"), (FIELD, "Field Technician"))
_ADMIN_CHARGE_CODE = 5
_REFERENCE_STAMP = "2024-01-08T09:00:00Z"

_UNAUTHORIZED = {"code": "Unauthorized", "message": "Incorrect public/private key"}
_NO_CLIENT_ID = {"code": "Unauthorized", "message": "A valid clientId is required for all API requests"}

# ---------------------------------------------------------------------------------------------
# Seed vocabulary: (ticket summary, what the technician did). Client-facing notes mention
# colleagues by name now and then; internal notes are a separate field in CW.
# ---------------------------------------------------------------------------------------------
_REMOTE_WORK = (
    ("Outlook keeps asking for a password", "Rebuilt the Outlook profile and re-registered MFA; mailbox back in sync"),
    ("Reception account locked out", "Unlocked the reception account after repeated failed sign-ins"),
    ("Printer offline in reception", "Reserved the printer's IP and rebuilt the print queue on both front-desk PCs"),
    ("Slow logons on two workstations", "Removed stale mapped drives from the logon script; logons quick again"),
    ("VPN not connecting from home", "FW rule conflict on the edge firewall blocked the VPN; reordered the rules"),
    ("Shared mailbox for new receptionist", "Granted access to the shared bookings mailbox and added it to Outlook"),
    ("File server nearly full", "Moved old scan archives to cold storage; 180 GB freed on the file server"),
    ("Suspicious email reported", "Purged the phishing email from all mailboxes and blocked the sender domain"),
    ("New starter next Monday", "Created the account, assigned a licence, enrolled the laptop and set up MFA"),
    ("Leaver: disable account", "Blocked sign-in, converted the mailbox to shared and reclaimed the licence"),
    ("Backup job failed overnight", "Re-ran the failed backup job and confirmed restore points are current"),
    ("Teams calls dropping audio", "Updated the headset drivers and the Teams client; test call clear"),
    ("Deleted folder on the shared drive", "Restored the deleted folder from last night's snapshot"),
    ("Website certificate expiring", "Renewed the website SSL certificate and installed it on the web host"),
    ("Pop-ups on a reception PC", "Removed an unwanted browser extension and ran a full malware scan"),
)
_CLIENT_WORK = {
    250: (("X-ray PC cannot reach licence server", "Re-pointed the imaging software at the moved licence server"),
          ("Check-in kiosk frozen", "Restarted the patient check-in kiosk and applied the vendor's patch")),
    251: (("Document add-in failing to save", "Repaired the document management add-in; matter folders save again"),
          ("Secure share for a court bundle", "Set up an expiring external share for the court bundle")),
    252: (("Handheld scanners not syncing", "Re-joined the warehouse handheld scanners to the warehouse Wi-Fi"),
          ("Dock 3 label printer printing blank", "Replaced the label printer driver on the dock 3 station")),
    253: (("Practice system slow at reception", "Rebuilt the practice management database indexes"),
          ("Kennel camera offline", "Reset the recorder channel for the kennel camera")),
}
_ONSITE_WORK = (
    ("Switch failure in comms cupboard", "Replaced the failed switch in the comms cupboard and re-patched the floor"),
    ("Two new front-desk workstations", "Installed and configured two new workstations at the front desk"),
    ("UPS alarm in server room", "Moved the server UPS onto its own circuit; tested runtime under load"),
    ("New network points for back office", "Cabled and tested three new network points in the back office"),
    ("NAS drive warning", "Swapped the failing NAS drive and watched the array rebuild"),
)
_MAINTENANCE_WORK = (
    "Patched the file server and rebooted during the maintenance window",
    "Monthly Windows updates on all workstations; two needed a second reboot",
    "Firmware update on the firewall and both access points",
    "Test restore of the accounts database to a scratch VM; restore verified",
    "Reviewed disk health and event logs on the servers; no issues found",
)
_AFTER_HOURS_WORK = (
    ("Internet down at main site", "After-hours call: ISP fault at the main site; failed over to the 4G backup line"),
    ("Server unresponsive after power cut", "Out-of-hours callout: brought the server's services back up in order"),
    ("Security alert on a workstation", "Urgent call: isolated the workstation and confirmed backups are clean"),
    ("Email not sending", "After-hours: cleared the stuck outbound mail queue"),
)
_PROJECT_WORK = (
    ("Microsoft 365 migration", "Mailbox cutover", "Migrated the remaining mailboxes and updated the MX records"),
    ("Microsoft 365 migration", "User training", "Ran the Outlook and Teams training session for the office staff"),
    ("Network refresh", "Firewall replacement", "Staged the new firewall and migrated the rule base"),
)
_ADMIN_WORK = (
    "Updated client runbooks and network diagrams",
    "Monthly licence reconciliation across all clients",
    "Team meeting and ticket review",
    "Vendor training: backup platform certification",
)
_TRAVEL_NOTES = ("Travel to {client}", "Travel to site", "Return travel from {client}")
_MENTIONS = (
    "Handed over to {first} for the firewall change",
    "{first} called the office manager back to confirm",
    "Escalated to {full} for the directory sync issue",
    "Picked up from {first}'s earlier session",
    "Paired with {full} on the fix",
)
_INTERNAL = (
    "Their admin password is on a sticky note under the keyboard",
    "Slow payer: check with accounts before ordering hardware",
    "Office manager is short-tempered on the phone, keep it brief",
    "Caused by our change last week, do not bill",
    "Quote them for a new firewall next quarter",
    "Local admin still uses the default password; fix at next visit",
    "{first} spent an extra hour on this off the clock",
)
_ODD_HOURS = (0.17, 0.33, 0.42, 0.58, 0.83, 1.33)
_KINDS = ("remote", "on_site", "maintenance", "admin", "after_hours", "project")
_KIND_WEIGHTS = (50, 12, 10, 10, 10, 8)


class _BadRequest(ValueError):
    """A request CW answers 400 with its error body."""


# Where the kit finds the time-entry listing: page 2 on carries pageId (forward-only) or page.
LISTING = Listing(re.compile(r"/apis/3\.0/time/entries$"), next_page=paged_by("pageId", "page"))


@dataclass(frozen=True, slots=True)
class _Query:
    """The parsed ``conditions`` of one listing; hashable so a paged selection is computed once."""

    updated: tuple[tuple[str, int], ...] = ()  # (operator, epoch seconds) bounds on lastUpdated
    start: tuple[tuple[str, int], ...] = ()  # the same on timeStart
    companies: frozenset[int] | None = None


def parse_conditions(text: str | None) -> _Query:
    """The condition forms the connector sends, joined by ``and``; anything else is a 400.

    ``lastUpdated``/``timeStart`` compared (> >= < <= =) with ``[ISO 8601]``, and
    ``company/id in (1,2)`` or ``company/id = 1``; the whole string or any clause may be
    wrapped in parentheses, as djcw's ``prepare_conditions`` writes it.
    """
    if text is None or not text.strip():
        return _Query()
    updated: list[tuple[str, int]] = []
    start: list[tuple[str, int]] = []
    companies: frozenset[int] | None = None
    for clause in _split_and(_unwrap(text.strip())):
        clause = _unwrap(clause)
        if match := re.fullmatch(r"(lastUpdated|_info/lastUpdated|timeStart)\s*(>=|<=|>|<|=)\s*\[([^\]]*)\]",
                                 clause, re.IGNORECASE):
            bound = (match[2], _parse_stamp(match[3]))
            (start if match[1].lower() == "timestart" else updated).append(bound)
        elif match := re.fullmatch(r"company/id\s+in\s*\(\s*(\d+(?:\s*,\s*\d+)*)\s*\)", clause, re.IGNORECASE):
            ids = frozenset(int(part) for part in match[1].split(","))
            companies = ids if companies is None else companies & ids
        elif match := re.fullmatch(r"company/id\s*=\s*(\d+)", clause, re.IGNORECASE):
            ids = frozenset({int(match[1])})
            companies = ids if companies is None else companies & ids
        else:
            raise _BadRequest(f"conditions: cannot parse {clause!r}")
    return _Query(tuple(updated), tuple(start), companies)


def _unwrap(text: str) -> str:
    """Drop parentheses that wrap the whole text (once or more)."""
    text = text.strip()
    while text.startswith("(") and text.endswith(")") and _closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


def _closing(text: str, at: int) -> int:
    depth = 0
    for i in range(at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise _BadRequest("conditions: unbalanced parentheses")


def _split_and(text: str) -> list[str]:
    """Split on ``and`` outside parentheses and brackets."""
    parts, depth, last = [], 0, 0
    for match in re.finditer(r"[()\[\]]|\s+and\s+", text, re.IGNORECASE):
        token = match[0]
        if token in "([":
            depth += 1
        elif token in ")]":
            depth -= 1
        elif depth == 0:
            parts.append(text[last:match.start()])
            last = match.end()
    if depth != 0:
        raise _BadRequest("conditions: unbalanced parentheses or brackets")
    parts.append(text[last:])
    if any(not p.strip() for p in parts):
        raise _BadRequest("conditions: empty clause")
    return parts


def _parse_stamp(text: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest(f"conditions: {text!r} is not a date and time") from None
    return int(_utc(moment).timestamp())


def _range(index: Sequence[tuple[int, int]], bounds: Iterable[tuple[str, int]]) -> tuple[int, int]:
    """The [lo, hi) slice of a sorted (value, id) index that satisfies every bound."""
    lo, hi = 0, len(index)
    for op, value in bounds:
        if op in (">", ">=", "="):
            at = bisect.bisect_right(index, (value, math.inf)) if op == ">" else bisect.bisect_left(index, (value,))
            lo = max(lo, at)
        if op in ("<", "<=", "="):
            at = bisect.bisect_left(index, (value,)) if op == "<" else bisect.bisect_right(index, (value, math.inf))
            hi = min(hi, at)
    return lo, max(lo, hi)


def _holds(value: int, bounds: Iterable[tuple[str, int]]) -> bool:
    for op, bound in bounds:
        if not {">": value > bound, ">=": value >= bound, "<": value < bound,
                "<=": value <= bound, "=": value == bound}[op]:
            return False
    return True


class ConnectWiseSandbox(InjectsFaults):
    """An in-memory ConnectWise PSA company serving ``/login/companyinfo`` and ``/time/entries``.

    ``entries`` is the live store (id → wire dict); change it through :meth:`add_entry`,
    :meth:`edit_entry` and :meth:`delete_entry` so the indexes stay right. ``tz`` is the MSP's
    local timezone: seeded business hours and :meth:`add_entry`'s wall-clock starts are in it.
    """

    def __init__(
        self,
        *,
        company: str = "northbridge",
        public_key: str = "sandboxPublicKey",
        private_key: str = "sandboxPrivateKey",
        client_id: str = "3f6c2a1e-5b7d-4c8e-9a0f-1d2e3f4a5b6c",
        clock: Callable[[], datetime] | None = None,
        tz: str = "UTC",
        rate_limit: int = 120,
        rate_period: float = 60.0,
        site: str = "api-na.myconnectwise.net",
    ) -> None:
        self.company = company
        self.public_key = public_key
        self.private_key = private_key
        self.client_id = client_id
        self.tz = ZoneInfo(tz)
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.site = site
        self.codebase = CODEBASE
        self.counters: Counter[str] = Counter()
        self.faults = FaultKit(counters=self.counters, listing=LISTING, refuse=self._refused,
                               throttles={"429": self._throttle}, base_clock=clock or (lambda: datetime.now(UTC)))
        self._clock = self.faults.clock
        # The last requests' targets ("path?query"), so tests can see what a connector asked.
        self.recent: deque[str] = deque(maxlen=50)
        self.entries: dict[int, dict[str, Any]] = {}
        # Time callbacks queued by add/edit/delete, for a test to deliver (or drop).
        self.callbacks: list[dict[str, Any]] = []
        self._next_message = 0x3A41_0000
        self._next_id = 1_500_001
        self._next_ticket = 48_001
        # Sorted (epoch, id) indexes, so lastUpdated and timeStart bounds are bisects.
        self._by_updated: list[tuple[int, int]] = []
        self._by_start: list[tuple[int, int]] = []
        self._keys: dict[int, tuple[int, int]] = {}
        self._version = 0
        self._selections: dict[_Query, list[int]] = {}
        self._selections_version = 0
        self._hits: deque[float] = deque()
        self._build_reference_data()
        api = "/{codebase}/apis/3.0"
        self.app = self.faults.wrap(Starlette(
            routes=[
                Route("/login/companyinfo/{company}", self._company_info, methods=["GET"]),
                Route(api + "/time/entries", self._list_time_entries, methods=["GET"]),
                Route(api + "/time/entries/count", self._count_time_entries, methods=["GET"]),
                Route(api + "/time/entries/{entry_id:int}", self._get_time_entry, methods=["GET"]),
            ],
            middleware=[Middleware(_Gate, sandbox=self)],
            exception_handlers={404: _not_found},
        ))

    # ----------------------------------------------------------------- reference data

    def _href(self, path: str) -> str:
        return f"https://{self.site}/{self.codebase}apis/3.0/{path}"

    def _build_reference_data(self) -> None:
        self.companies: dict[int, dict[str, Any]] = {}
        for cid, identifier, name in (*_COMPANIES, MSP_COMPANY):
            self._add_company_ref(cid, identifier, name)
        self.members: dict[int, dict[str, Any]] = {
            mid: {"id": mid, "identifier": ident, "name": f"{first} {last}", "dailyCapacity": 8.0,
                  "_info": {"member_href": self._href(f"system/members/{mid}"),
                            "image_href": self._href(f"system/members/{ident}/image?lm={_REFERENCE_STAMP}")}}
            for mid, ident, first, last in _MEMBERS
        }
        self._first_names = {mid: first for mid, _, first, _ in _MEMBERS}
        self.work_types = {wid: {"id": wid, "name": name,
                                 "_info": {"workType_href": self._href(f"time/workTypes/{wid}")}}
                           for wid, name in _WORK_TYPES}
        self.work_roles = {rid: {"id": rid, "name": name,
                                 "_info": {"workRole_href": self._href(f"time/workRoles/{rid}")}}
                           for rid, name in _WORK_ROLES}
        self.tickets: dict[int, dict[str, Any]] = {}
        self.projects: dict[tuple[int, str], dict[str, Any]] = {}
        self._phases: dict[tuple[int, str, str], dict[str, Any]] = {}

    def _add_company_ref(self, cid: int, identifier: str, name: str) -> None:
        self.companies[cid] = {"id": cid, "identifier": identifier, "name": name,
                               "_info": {"company_href": self._href(f"company/companies/{cid}")}}

    def add_company(self, name: str) -> int:
        """A new client company (for benchmarks with many clients); returns its id."""
        cid = 600_000 + len(self.companies)
        self._add_company_ref(cid, re.sub(r"\W+", "", name)[:30] or f"C{cid}", name)
        return cid

    def _agreement(self, cid: int) -> dict[str, Any]:
        return {"id": 9000 + cid % 1000, "name": "Managed Services Retainer",
                "_info": {"agreement_href": self._href(f"finance/agreements/{9000 + cid % 1000}")}}

    def new_ticket(self, cid: int, summary: str, *, ticket_type: str = "Incident", board: str = "Help Desk") -> int:
        """Open a service ticket for company ``cid``; returns its id (its number, as CW shows it)."""
        if cid not in self.companies:
            raise KeyError(f"unknown company {cid}")
        tid, self._next_ticket = self._next_ticket, self._next_ticket + 1
        self.tickets[tid] = {"id": tid, "summary": summary[:100], "company": cid, "type": ticket_type,
                             "board": board, "status": "In Progress"}
        return tid

    def _project(self, cid: int, name: str, phase: str) -> tuple[dict[str, Any], dict[str, Any], int]:
        """(project ref, phase ref, project ticket id) for a company's project."""
        key = (cid, name)
        if key not in self.projects:
            pid = 3100 + len(self.projects)
            self.projects[key] = {"id": pid, "name": name,
                                  "_info": {"project_href": self._href(f"project/projects/{pid}")}}
        project = self.projects[key]
        pkey = (cid, name, phase)
        if pkey not in self._phases:
            phase_id = 5200 + len(self._phases)
            ticket = self.new_ticket(cid, phase, ticket_type="Project Task", board="Projects")
            self._phases[pkey] = {"id": phase_id, "description": phase, "ticket": ticket,
                                  "_info": {"phase_href": self._href(
                                      f"project/projects/{project['id']}/phases/{phase_id}")}}
        found = self._phases[pkey]
        return project, {"id": found["id"], "name": phase, "_info": found["_info"]}, found["ticket"]

    # ----------------------------------------------------------------- faults

    def move_codebase(self, codebase: str) -> None:
        """A hosted upgrade: the API now lives under ``codebase``; the old path answers 404."""
        self.codebase = codebase if codebase.endswith("/") else codebase + "/"

    # ----------------------------------------------------------------- data changes

    def add_entry(
        self,
        *,
        company_id: int,
        member_id: int | None = None,
        work_type_id: int = REMOTE,
        work_role_id: int | None = None,
        start: datetime | None = None,
        hours: float = 1.0,
        notes: str | None = None,
        internal_notes: str | None = None,
        billable_option: str = "Billable",
        ticket_id: int | None = None,
        status: str = "Open",
    ) -> dict[str, Any]:
        """Log one entry now (dateEntered = lastUpdated = the clock) and return its wire dict.

        ``start`` is an instant (a naive one is wall-clock time in ``tz``); by default the work
        ends now. Without ``ticket_id`` a new service ticket named after the notes is opened.
        """
        now = self._now()
        hours = round(float(hours), 2)
        if start is None:
            start = now - timedelta(minutes=round(hours * 60))
        elif start.tzinfo is None:
            start = start.replace(tzinfo=self.tz)
        if ticket_id is None:
            ticket_id = self.new_ticket(company_id, (notes or "Support request").splitlines()[0])
        entry = self._wire(
            entry_id=self._take_id(), company_id=company_id, member_id=member_id or _MEMBERS[0][0],
            work_type_id=work_type_id, work_role_id=work_role_id or HELP_DESK, start=_utc(start), hours=hours,
            notes=notes, internal_notes=internal_notes, billable_option=billable_option,
            charge=("ServiceTicket", ticket_id), status=status, entered=now, updated=now,
        )
        self._store(entry)
        self._callback("added", entry)
        return entry

    def edit_entry(self, entry_id: int, **changes: Any) -> dict[str, Any]:
        """Change an entry in wire terms and bump ``_info.lastUpdated``; returns the entry.

        Keys: ``hours`` (actualHours, and timeEnd follows), ``company_id`` (moves the entry and
        its ticket, as moving a ticket in CW does), ``notes``, ``internal_notes``, ``start``,
        ``billable_option``, ``status``, ``member_id``, ``work_type_id``.
        """
        allowed = {"hours", "company_id", "notes", "internal_notes", "start", "billable_option", "status",
                   "member_id", "work_type_id"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"edit_entry() got unknown field(s): {', '.join(sorted(unknown))}")
        entry = self.entries[entry_id]
        if "company_id" in changes:
            cid = changes["company_id"]
            entry["company"] = self.companies[cid]
            entry["agreement"] = self._agreement(cid)
            ticket = entry.get("ticket")
            if ticket is not None:
                self.tickets[ticket["id"]]["company"] = cid
        if "start" in changes:
            start = changes["start"]
            start = _utc(start.replace(tzinfo=self.tz) if start.tzinfo is None else start)
            entry["timeStart"] = _iso(start)
            entry["timeEnd"] = _iso(start + timedelta(hours=entry["actualHours"]))
        if "hours" in changes:
            hours = round(float(changes["hours"]), 2)
            entry["actualHours"] = entry["hoursBilled"] = entry["invoiceHours"] = hours
            entry["timeEnd"] = _iso(_parse_iso(entry["timeStart"]) + timedelta(hours=hours))
        for key, wire in (("notes", "notes"), ("internal_notes", "internalNotes"),
                          ("billable_option", "billableOption"), ("status", "status")):
            if key in changes:
                if changes[key] is None:
                    entry.pop(wire, None)
                else:
                    entry[wire] = changes[key]
        if "member_id" in changes:
            entry["member"] = self.members[changes["member_id"]]
            entry["enteredBy"] = entry["member"]["identifier"]
        if "work_type_id" in changes:
            entry["workType"] = self.work_types[changes["work_type_id"]]
        now = self._now()
        entry["_info"] = {**entry["_info"], "lastUpdated": _iso(now), "updatedBy": entry["member"]["identifier"]}
        self._unindex(entry_id)
        self._index(entry_id)
        self._callback("updated", entry)
        return entry

    def delete_entry(self, entry_id: int) -> None:
        """Remove an entry; CW keeps no tombstone in /time/entries, so it simply stops being listed."""
        self._unindex(entry_id)
        self._callback("deleted", self.entries.pop(entry_id))

    # ----------------------------------------------------------------- callbacks

    def callback_event(self, action: str, entry: dict[str, Any]) -> dict[str, Any]:
        """A Time callback as ConnectWise posts it: ``ID``, ``Action``, ``Type`` and the entity as a
        JSON string in ``Entity`` (djcw views.py and tests/test_views.py; CW "PSA Callbacks")."""
        self._next_message += 1
        return {
            "MessageId": f"{self._next_message:08x}-5c2e-4b7d-9a1f-0c3e2d1b4a59", "FromUrl": self.site,
            "CompanyId": self.company, "MemberId": "apiuser", "Action": action, "Type": "time",
            "ID": entry["id"], "ProductInstanceId": None, "PartnerId": None,
            "Entity": json.dumps(entry, separators=(",", ":")), "Metadata": {"key_url": None},
            "CallbackObjectRecId": entry["id"],
        }

    async def send_callback(self, target: str | ASGIApp, event: dict[str, Any], *, path: str = "/") -> httpx.Response:
        """POST one callback to ``target`` (a URL, or an ASGI app at ``path``, the key inside it)."""
        self.counters["callbacks_sent"] += 1
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        return await deliver(target, body, {"Content-Type": "application/json"}, path=path)

    def _callback(self, action: str, entry: dict[str, Any]) -> None:
        self.callbacks.append(self.callback_event(action, entry))

    def seed(self, *, seed: int = 7, days: int = 60, per_day: int = 14, now: datetime | None = None) -> None:
        """Add a realistic, deterministic history: ``days`` days up to ``now``, ~``per_day`` entries a weekday.

        Weekdays carry ticket work with start and end times, travel around on-site visits,
        evening call-outs and maintenance windows, project work and the MSP's own admin time
        (charged to its own company, so no client filter returns it); weekends a few
        emergencies. Same ``seed`` and ``now`` give the same entries.
        """
        now = _utc(now) if now is not None else self._now()
        rng = random.Random(seed)
        plans: list[dict[str, Any]] = []
        for back in range(days - 1, -1, -1):
            plans.extend(self._plan_day(rng, now.astimezone(self.tz).date() - timedelta(days=back), per_day, now))
        plans = [p for p in plans if p["entered"] <= now]  # today's later work has not happened yet
        plans.sort(key=lambda p: p["entered"])  # ids grow with entry time, as CW's RecIDs do
        updated_index, start_index = [], []
        for plan in plans:
            plan["updated"] = min(plan["updated"], now)
            entry = self._wire(entry_id=self._take_id(), **plan)
            eid = entry["id"]
            self.entries[eid] = entry
            keys = (int(plan["updated"].timestamp()), int(plan["start"].timestamp()))
            self._keys[eid] = keys
            updated_index.append((keys[0], eid))
            start_index.append((keys[1], eid))
        # One sort instead of thousands of insorts keeps 20k-entry seeds quick.
        self._by_updated = sorted(self._by_updated + updated_index)
        self._by_start = sorted(self._by_start + start_index)
        self._version += 1

    # ----------------------------------------------------------------- seeding helpers

    def _plan_day(self, rng: random.Random, day: date, per_day: int, now: datetime) -> list[dict[str, Any]]:
        """One local day's entries, as keyword arguments for :meth:`_wire` (without the id)."""
        plans: list[dict[str, Any]] = []
        cursors: dict[int, int] = {}  # each technician works through the day back to back
        age = (now.astimezone(self.tz).date() - day).days
        status = "Billed" if age > 21 else "ReadyToBill" if age > 7 else "Open"
        clients = [c for c in self.companies if c != MSP_COMPANY[0]]
        members = list(self.members)

        def slot(member: int, minutes: int) -> int:
            start = cursors.get(member, 8 * 60 + rng.choice((0, 15, 30, 45)))
            cursors[member] = start + minutes + rng.choice((0, 5, 10, 15, 30))
            return start

        def add(company: int, member: int, work_type: int, role: int, hours: float, start_min: int, note: str,
                charge: tuple[str, int], billable: str = "Billable", project: Any = None) -> None:
            start = datetime.combine(day, time(), self.tz) + timedelta(minutes=start_min)
            entered = start + timedelta(hours=hours, minutes=rng.randint(1, 25))
            updated = entered
            if rng.random() < 0.08:  # corrected later: next morning or so
                updated = entered + timedelta(minutes=rng.randint(60, 3 * 24 * 60))
            internal = None
            if charge[0] != "ChargeCode" and rng.random() < 0.25:
                internal = rng.choice(_INTERNAL).format(first=self._colleague(rng, member)[0])
            plans.append({
                "company_id": company, "member_id": member, "work_type_id": work_type, "work_role_id": role,
                "start": _utc(start), "hours": hours, "notes": note, "internal_notes": internal,
                "billable_option": billable, "charge": charge, "status": status, "project": project,
                "entered": _utc(entered), "updated": _utc(updated),
            })

        def ticket_for(company: int, summary: str, kind: str) -> int:
            ticket_type = {"after_hours": "Incident", "on_site": "Service Request"}.get(
                kind, rng.choice(("Incident", "Service Request", "Incident", "Problem")))
            board = "Field Services" if kind == "on_site" else "Help Desk"
            return self.new_ticket(company, summary, ticket_type=ticket_type, board=board)

        weekend = day.weekday() >= 5
        budget = rng.choice((0, 1, 1, 2)) if weekend else per_day
        while len(plans) < budget:
            kind = rng.choice(("after_hours", "maintenance")) if weekend else rng.choices(_KINDS, _KIND_WEIGHTS)[0]
            company, member = rng.choice(clients), rng.choice(members)
            if kind == "remote":
                summary, note = rng.choice(_REMOTE_WORK + _CLIENT_WORK.get(company, ()))
                hours = _pick_hours(rng, 1, 8)
                billable = "NoCharge" if rng.random() < 0.05 else "Billable"
                add(company, member, REMOTE, HELP_DESK, hours, slot(member, round(hours * 60)),
                    self._note(rng, note, member), ("ServiceTicket", ticket_for(company, summary, kind)), billable)
            elif kind == "on_site":  # travel there, the visit, and often travel back
                summary, note = rng.choice(_ONSITE_WORK)
                ticket = ("ServiceTicket", ticket_for(company, summary, kind))
                trip = rng.choice((0.5, 0.75, 1.0))
                travel_bill = rng.choice(("Billable", "DoNotBill"))
                name = self.companies[company]["name"]
                add(company, member, TRAVEL, FIELD, trip, slot(member, round(trip * 60)),
                    _TRAVEL_NOTES[0].format(client=name), ticket, travel_bill)
                hours = _pick_hours(rng, 4, 12)
                add(company, member, ONSITE, FIELD, hours, slot(member, round(hours * 60)),
                    self._note(rng, note, member), ticket)
                if rng.random() < 0.5:
                    add(company, member, TRAVEL, FIELD, trip, slot(member, round(trip * 60)),
                        _TRAVEL_NOTES[2].format(client=name), ticket, travel_bill)
            elif kind == "after_hours":
                summary, note = rng.choice(_AFTER_HOURS_WORK)
                add(company, member, AFTER_HOURS, ENGINEER, _pick_hours(rng, 1, 8),
                    rng.randrange(18 * 60 + 30, 21 * 60 + 31, 15), self._note(rng, note, member),
                    ("ServiceTicket", ticket_for(company, summary, kind)))
            elif kind == "maintenance":
                note = rng.choice(_MAINTENANCE_WORK)
                hours = _pick_hours(rng, 2, 8)
                evening = weekend or rng.random() < 0.5
                start = rng.randrange(19 * 60, 21 * 60 + 1, 30) if evening else slot(member, round(hours * 60))
                ticket = self.new_ticket(company, "Scheduled maintenance", ticket_type="Service Request",
                                         board="Maintenance")
                add(company, member, MAINTENANCE, ENGINEER, hours, start, self._note(rng, note, member),
                    ("ServiceTicket", ticket))
            elif kind == "project":
                project_name, phase, note = rng.choice(_PROJECT_WORK)
                project, phase_ref, ticket = self._project(company, project_name, phase)
                hours = _pick_hours(rng, 4, 16)
                add(company, member, PROJECT, ENGINEER, hours, slot(member, round(hours * 60)),
                    self._note(rng, note, member), ("ProjectTicket", ticket), project=(project, phase_ref))
            else:  # the MSP's own admin time, against a charge code on its own company
                hours = _pick_hours(rng, 1, 4)
                add(MSP_COMPANY[0], member, ADMIN, HELP_DESK, hours, slot(member, round(hours * 60)),
                    rng.choice(_ADMIN_WORK), ("ChargeCode", _ADMIN_CHARGE_CODE), "DoNotBill")
        return plans

    def _colleague(self, rng: random.Random, member: int) -> tuple[str, str]:
        mid = rng.choice([m for m in self.members if m != member])
        return self._first_names[mid], self.members[mid]["name"]

    def _note(self, rng: random.Random, note: str, member: int) -> str:
        """A client-facing note; now and then naming a colleague, as real notes do."""
        if rng.random() < 0.15:
            first, full = self._colleague(rng, member)
            note = f"{note}. {rng.choice(_MENTIONS).format(first=first, full=full)}"
        return note

    # ----------------------------------------------------------------- storage and indexes

    def _take_id(self) -> int:
        entry_id, self._next_id = self._next_id, self._next_id + 1
        return entry_id

    def _now(self) -> datetime:
        # CW stamps whole seconds; filtering compares what the wire shows.
        return _utc(self._clock()).replace(microsecond=0)

    def _wire(
        self, *, entry_id: int, company_id: int, member_id: int, work_type_id: int, work_role_id: int,
        start: datetime, hours: float, notes: str | None, internal_notes: str | None, billable_option: str,
        charge: tuple[str, int], status: str, entered: datetime, updated: datetime, project: Any = None,
    ) -> dict[str, Any]:
        """One entry in the list-response shape and key order of the CW 2025 model (nulls left out)."""
        hours = round(float(hours), 2)
        member = self.members[member_id]
        charge_type, charge_id = charge
        entry: dict[str, Any] = {
            "id": entry_id, "company": self.companies[company_id],
            "companyType": "Owner" if company_id == MSP_COMPANY[0] else "Client",
            "chargeToId": charge_id, "chargeToType": charge_type, "member": member,
            "locationId": 2, "businessUnitId": 10, "workType": self.work_types[work_type_id],
            "workRole": self.work_roles[work_role_id],
        }
        if charge_type != "ChargeCode":
            entry["agreement"] = self._agreement(company_id)
            entry["agreementType"] = "Managed Services"
        entry |= {
            "timeStart": _iso(start), "timeEnd": _iso(start + timedelta(hours=hours)),
            "hoursDeduct": 0.0, "actualHours": hours, "billableOption": billable_option,
        }
        if notes is not None:
            entry["notes"] = notes
        if internal_notes is not None:
            entry["internalNotes"] = internal_notes
        entry |= {
            "addToDetailDescriptionFlag": charge_type != "ChargeCode", "addToInternalAnalysisFlag": False,
            "addToResolutionFlag": False, "emailResourceFlag": False, "emailContactFlag": False,
            "emailCcFlag": False, "hoursBilled": hours, "invoiceHours": hours,
            "enteredBy": member["identifier"], "dateEntered": _iso(entered),
            "mobileGuid": f"{entry_id:08x}-0000-4000-8000-{member_id:012x}",
            "hourlyRate": 0.0 if billable_option != "Billable" else 165.0,
            "timeSheet": {"id": 700 + (start.isocalendar().week % 52), "name": _week_name(start)},
            "status": status,
        }
        if charge_type in ("ServiceTicket", "ProjectTicket"):
            ticket = self.tickets[charge_id]
            entry["ticket"] = {"id": charge_id, "summary": ticket["summary"],
                               "_info": {"ticket_href": self._href(f"service/tickets/{charge_id}")}}
            if project is not None:
                entry["project"], entry["phase"] = project
            entry |= {"ticketBoard": ticket["board"], "ticketStatus": ticket["status"], "ticketType": ticket["type"]}
        entry |= {
            "invoiceFlag": False, "locationName": "Main",
            "_info": {"lastUpdated": _iso(updated), "updatedBy": member["identifier"],
                      "chargeToMobileGuid": f"{charge_id:08x}-0000-4000-8000-000000000000"},
        }
        return entry

    def _store(self, entry: dict[str, Any]) -> None:
        self.entries[entry["id"]] = entry
        self._index(entry["id"])

    def _index(self, entry_id: int) -> None:
        entry = self.entries[entry_id]
        keys = (int(_parse_iso(entry["_info"]["lastUpdated"]).timestamp()),
                int(_parse_iso(entry["timeStart"]).timestamp()))
        bisect.insort(self._by_updated, (keys[0], entry_id))
        bisect.insort(self._by_start, (keys[1], entry_id))
        self._keys[entry_id] = keys
        self._version += 1

    def _unindex(self, entry_id: int) -> None:
        updated, start = self._keys.pop(entry_id)
        del self._by_updated[bisect.bisect_left(self._by_updated, (updated, entry_id))]
        del self._by_start[bisect.bisect_left(self._by_start, (start, entry_id))]
        self._version += 1

    def select(self, query: _Query) -> list[int]:
        """Ids matching ``query``, ascending (the order forward-only paging walks)."""
        if self._selections_version != self._version:
            self._selections.clear()
            self._selections_version = self._version
        cached = self._selections.get(query)
        if cached is not None:
            return cached
        if query.updated:
            lo, hi = _range(self._by_updated, query.updated)
            ids = [eid for _, eid in self._by_updated[lo:hi]]
            if query.start:
                ids = [eid for eid in ids if _holds(self._keys[eid][1], query.start)]
        elif query.start:
            lo, hi = _range(self._by_start, query.start)
            ids = [eid for _, eid in self._by_start[lo:hi]]
        else:
            ids = list(self.entries)
        if query.companies is not None:
            entries, companies = self.entries, query.companies
            ids = [eid for eid in ids if entries[eid]["company"]["id"] in companies]
        ids.sort()
        if len(self._selections) >= 32:
            self._selections.clear()
        self._selections[query] = ids
        return ids

    # ----------------------------------------------------------------- HTTP

    def _gate(self, path: str, headers: Headers) -> Response | None:
        """Checks every request passes before routing (throttle, then auth on the API); the refusal, if any."""
        # Sliding window over the injected clock. Only admitted requests occupy a slot, so
        # Retry-After is exactly the wait until the oldest one leaves the window.
        now = _utc(self._clock()).timestamp()
        while self._hits and self._hits[0] <= now - self.rate_period:
            self._hits.popleft()
        if len(self._hits) >= self.rate_limit:
            return self._throttled(max(1, math.ceil(self._hits[0] + self.rate_period - now)))
        self._hits.append(now)
        if "/apis/3.0/" in path:
            refusal = self._check_auth(headers)
            if refusal is not None:
                self.counters["401"] += 1
                return JSONResponse(refusal, status_code=401)
        return None

    def _check_auth(self, headers: Headers) -> dict[str, str] | None:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        try:
            decoded = base64.b64decode(token, validate=True).decode("utf-8") if scheme.lower() == "basic" else ""
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user, _, password = decoded.partition(":")
        company, _, public = user.partition("+")
        # The company id is matched without regard to case, as at CW's own login; keys exactly.
        if company.lower() != self.company.lower() or public != self.public_key or password != self.private_key:
            return _UNAUTHORIZED
        if headers.get("clientid") != self.client_id:
            return _NO_CLIENT_ID
        return None

    def _refused(self, asked: Asked) -> Response | None:
        """A revoked key pair's answer on the API (companyinfo needs no credentials)."""
        if "/apis/3.0/" not in asked.path:
            return None
        self.counters["401"] += 1
        return JSONResponse(_UNAUTHORIZED, status_code=401)

    def _throttle(self, asked: Asked, retry_after: int | None) -> Response:
        return self._throttled(retry_after)

    def _throttled(self, retry_after: int | None) -> Response:
        self.counters["429"] += 1
        # Cloudflare's rate-limit answer to an API client: a short text body; the hint is the header.
        extra = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return Response(b"error code: 1015", status_code=429, media_type="text/plain", headers=extra)

    async def _company_info(self, request: Request) -> Response:
        self.counters["companyinfo"] += 1
        if request.path_params["company"].lower() != self.company.lower():
            return JSONResponse(None)  # djcw: "CW returns None if company ID is unknown"
        return JSONResponse({
            "CompanyName": MSP_COMPANY[2], "CompanyID": self.company, "Codebase": self.codebase,
            "VersionCode": "v2025.1", "VersionNumber": "v4.6.2025.1", "IsCloud": True,
            "SiteUrl": self.site.removeprefix("api-"),
        })

    def _api_path_ok(self, request: Request) -> bool:
        return request.path_params["codebase"] + "/" == self.codebase

    async def _list_time_entries(self, request: Request) -> Response:
        if not self._api_path_ok(request):
            return _not_found_response()
        params = request.query_params
        forward = request.headers.get("pagination-type", "").lower() == "forward-only"
        try:
            size = _int_param(params, "pageSize", DEFAULT_PAGE_SIZE, low=1)
            if size > MAX_PAGE_SIZE:
                raise _BadRequest(f"pageSize cannot be greater than {MAX_PAGE_SIZE}")
            query = parse_conditions(params.get("conditions"))
            page = _int_param(params, "page", 1, low=1)
            page_id = _int_param(params, "pageId", 0, low=0)
        except _BadRequest as exc:
            self.counters["400"] += 1
            return JSONResponse({"code": "InvalidObject", "message": str(exc), "errors": []}, status_code=400)
        selected = [] if self.faults.answering_empty else self.select(query)
        self.counters["time_entries"] += 1
        if forward:
            start = bisect.bisect_right(selected, page_id)
            chunk = selected[start:start + size]
            more = start + size < len(selected)
            link = f'<{_with(request.url, pageId=chunk[-1], page=None)}>; rel="next"' if more else ""
        else:
            chunk = selected[(page - 1) * size:page * size]
            link = _navigable_links(request.url, page, max(1, math.ceil(len(selected) / size)))
        body = [self.entries[eid] for eid in chunk]
        return JSONResponse(body, headers={"Link": link} if forward or link else {})

    async def _count_time_entries(self, request: Request) -> Response:
        if not self._api_path_ok(request):
            return _not_found_response()
        try:
            query = parse_conditions(request.query_params.get("conditions"))
        except _BadRequest as exc:
            return JSONResponse({"code": "InvalidObject", "message": str(exc), "errors": []}, status_code=400)
        return JSONResponse({"count": 0 if self.faults.answering_empty else len(self.select(query))})

    async def _get_time_entry(self, request: Request) -> Response:
        entry = self.entries.get(request.path_params["entry_id"])
        if entry is None or not self._api_path_ok(request):
            return _not_found_response()
        return JSONResponse(entry)


class _Gate:
    """Pure ASGI middleware running :meth:`ConnectWiseSandbox._gate` on every HTTP request."""

    def __init__(self, app: ASGIApp, sandbox: ConnectWiseSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            self.sandbox.recent.append(scope["path"] + (f"?{query}" if query else ""))
            refusal = self.sandbox._gate(scope["path"], Headers(scope=scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _not_found_response() -> Response:
    # A path under a codebase that is gone is answered by the web server, not the API.
    return Response(b"<html><body><h1>404 - File or directory not found.</h1></body></html>",
                    status_code=404, media_type="text/html")


async def _not_found(request: Request, exc: Exception) -> Response:
    return _not_found_response()


def _int_param(params: Any, name: str, default: int, *, low: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None
    if value < low:
        raise _BadRequest(f"{name} must be at least {low}")
    return value


def _with(url: URL, **changes: Any) -> str:
    """``url`` with query parameters set (None removes one), the others kept."""
    drop = [k for k, v in changes.items() if v is None]
    keep = {k: v for k, v in changes.items() if v is not None}
    if drop:
        url = url.remove_query_params(drop)
    if keep:
        url = url.include_query_params(**keep)
    return str(url)


def _navigable_links(url: URL, page: int, last: int) -> str:
    """CW's navigable Link header: next/last while more pages follow, first/prev after page 1."""
    links = []
    if page < last:
        links += [f'<{_with(url, page=page + 1)}>; rel="next"', f'<{_with(url, page=last)}>; rel="last"']
    if page > 1:
        links += [f'<{_with(url, page=page - 1)}>; rel="prev"', f'<{_with(url, page=1)}>; rel="first"']
    return ", ".join(links)


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return _utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def _week_name(moment: datetime) -> str:
    monday = moment.date() - timedelta(days=moment.weekday())
    return f"{monday.isoformat()} to {(monday + timedelta(days=6)).isoformat()}"


def _pick_hours(rng: random.Random, low_quarters: int, high_quarters: int) -> float:
    """Mostly quarter hours; now and then an odd stopwatch value like 0.17 or 1.33."""
    if rng.random() < 0.1:
        return rng.choice(_ODD_HOURS)
    return rng.randint(low_quarters, high_quarters) * 0.25


class ConnectWiseDriver(DrivesFaults):
    """The contract suite's vendor-neutral handle on a seeded ConnectWiseSandbox."""

    vendor = "connectwise"
    max_page_size = MAX_PAGE_SIZE
    idle_poll_requests = 1
    # Entries carry company, member, work type/role and ticket: no lookups. The codebase is
    # asked once per connector lifetime, before its first poll, never within one.
    max_lookup_requests = 0

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.sandbox = ConnectWiseSandbox(clock=clock)
        self.sandbox.seed(now=clock() - timedelta(days=1), days=40, per_day=8)
        self.app = self.sandbox.app
        self._members = [m[0] for m in _MEMBERS]
        self.workers = [self.sandbox.members[m]["name"] for m in self._members]
        self._companies = [c[0] for c in _COMPANIES[:3]]

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def account(self, base_url: str) -> dict[str, Any]:
        # No codebase: the connector discovers it, as it would against a real site.
        return {"vendor": "connectwise", "base_url": base_url, "company": self.sandbox.company,
                "public_key": self.sandbox.public_key, "private_key": self.sandbox.private_key,
                "client_id": self.sandbox.client_id, "timezone": str(self.sandbox.tz)}

    def selectors(self) -> list[dict[str, Any]]:
        return [{"company_id": cid} for cid in self._companies]

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        begins = datetime.combine(day, start or time(9, 0), self.sandbox.tz)
        entry = self.sandbox.add_entry(company_id=self._companies[client], member_id=self._members[worker],
                                       start=begins, hours=hours, notes=notes, internal_notes=internal_notes)
        return str(entry["id"])

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if hours is not None:
            changes["hours"] = hours
        if client is not None:
            changes["company_id"] = self._companies[client]
        if notes is not None:
            changes["notes"] = notes
        self.sandbox.edit_entry(int(vendor_id), **changes)

    def delete_entry(self, vendor_id: str) -> None:
        self.sandbox.delete_entry(int(vendor_id))


def make_driver(clock: Callable[[], datetime]) -> ConnectWiseDriver:
    """A seeded ConnectWise sandbox behind the contract suite's driver interface."""
    return ConnectWiseDriver(clock)
