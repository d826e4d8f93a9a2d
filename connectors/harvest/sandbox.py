"""A Harvest API v2 sandbox: a Starlette app that speaks Harvest's wire format for time entries."""

from __future__ import annotations

import bisect
import math
import random
import re
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.sandbox_faults import Asked, DrivesFaults, FaultKit, InjectsFaults, Listing, paged_by

# Sources (see shared/research/vendor-apis.md, Harvest section):
#   help.getharvest.com/api-v2/introduction/overview/general     (User-Agent required, else 400)
#   help.getharvest.com/api-v2/introduction/overview/pagination  (per_page 1..2000, default 2000, >max → 422)
#   help.getharvest.com/api-v2/timesheets-api/timesheets/time-entries (fields, filters, sort)
#   fastruby/harvesting fixtures/vcr_cassettes (recorded 401 body, empty-body 429, empty listing)
MAX_PER_PAGE = 2000

REMOTE_SUPPORT, ON_SITE_SUPPORT, SCHEDULED_MAINTENANCE, TRAVEL, INTERNAL_ADMIN = 3001, 3002, 3003, 3004, 3005
RETAINER_PROJECT_BASE, MAINTENANCE_PROJECT_BASE = 7000, 7100

_CLIENTS = ((5001, "Acme Dental", "AD"), (5002, "Birchwood Legal", "BL"),
            (5003, "Cobalt Logistics", "CL"), (5004, "Delta Veterinary Clinic", "DV"))
_TASKS = ((REMOTE_SUPPORT, "Remote support", True), (ON_SITE_SUPPORT, "On-site support", True),
          (SCHEDULED_MAINTENANCE, "Scheduled maintenance", True), (TRAVEL, "Travel", True),
          (INTERNAL_ADMIN, "Internal admin", False))
_USERS = ((9001, "Priya", "Raman"), (9002, "Tomasz", "Kowalczyk"), (9003, "Aoife", "Brennan"),
          (9004, "Marcus", "Oyelaran"), (9005, "Sven", "Lindqvist"))
_REFERENCE_STAMP = "2024-01-08T09:00:00Z"  # fixed, so reference data never depends on the clock
_BILLABLE_RATE, _TRAVEL_RATE, _COST_RATE = 165.0, 95.0, 48.0

# Recorded verbatim from a real Harvest 401 (fastruby/harvesting VCR cassette, 2019).
_INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The access token provided is expired, revoked, malformed or invalid for other reasons.",
}

# ---------------------------------------------------------------------------------------------
# Seed vocabulary: client-facing MSP work descriptions, with the things the connector and the
# privacy rules must cope with (technician names in free text, "Internal:" lines, travel).
# ---------------------------------------------------------------------------------------------
_REMOTE_NOTES = (
    "Reset MFA for the front desk account after a phone swap",
    "Unlocked the reception account after too many failed sign-ins",
    "Printer in reception dropping off the network; reserved its IP and rebuilt the print queue",
    "Rebuilt the office manager's Outlook profile; mailbox back in sync",
    "Slow logons on two workstations; removed stale mapped drives from the logon script",
    "FW rule conflict on edge01 blocking the VPN; reordered the rules and confirmed remote access",
    "Gave the new receptionist access to the shared bookings mailbox",
    "File server disk nearly full; moved old scan archives to cold storage",
    "Helped the practice manager set up email on her new phone",
    "Replaced the expired certificate on the guest Wi-Fi",
    "Phishing email reported by staff; purged it from all mailboxes and blocked the sender domain",
    "New starter set up: account, licence, laptop enrolment and MFA",
    "Leaver offboarded: sign-in blocked, mailbox converted to shared, licence reclaimed",
    "Overnight backup job failed; re-ran it and confirmed restore points are current",
    "Teams calls dropping audio; updated headset drivers and the Teams client",
    "Restored a deleted folder on the shared drive from last night's snapshot",
    "Renewed the website SSL certificate and installed it on the web host",
    "Browser pop-ups on a reception PC; removed an unwanted extension and ran a full scan",
)
_CLIENT_NOTES = {
    5001: ("X-ray imaging PC in surgery 2 could not reach the sensor licence server",
           "Patient check-in kiosk frozen; restarted it and applied the vendor patch"),
    5002: ("Document management add-in failing to save to matter folders; repaired the add-in",
           "Set up a secure external share for a court bundle"),
    5003: ("Warehouse handheld scanners not syncing; re-joined them to the warehouse Wi-Fi",
           "Label printer on dock 3 printing blank labels; replaced the driver"),
    5004: ("Practice management system slow at reception; rebuilt the database indexes",
           "Kennel camera feed offline; reset the recorder channel"),
}
_ON_SITE_NOTES = (
    "Replaced the failed switch in the comms cupboard and re-patched the floor",
    "Installed and configured two new workstations at the front desk",
    "Moved the server UPS onto its own circuit; tested runtime under load",
    "Cabled and tested three new network points in the back office",
    "Swapped the failing drive in the NAS and let the array rebuild",
    "Set up the meeting-room screen and wireless presentation dongle",
)
_MAINTENANCE_NOTES = (
    "Patched the file server and rebooted during the maintenance window",
    "Monthly Windows updates on all workstations; two needed a second reboot",
    "Firmware update on the firewall and both access points",
    "Test restore of the accounts database to a scratch VM; restore verified",
    "Reviewed disk health and event logs on the servers; no issues found",
    "Updated the line-of-business application to the vendor's latest release",
)
_ADMIN_NOTES = (
    "Updated the client runbook and network diagram",
    "Monthly licence reconciliation",
    "Documented the new VPN setup in the client wiki",
    "Reviewed open tickets and planned next week's visits",
)
_AFTER_HOURS_NOTES = (
    "After-hours call: internet down at the main site; ISP fault, failed over to the 4G backup",
    "Out-of-hours callout: server unresponsive after a power cut; brought services back in order",
    "Urgent call: security alert on one workstation; isolated it and confirmed backups are clean",
    "After-hours: email not sending; cleared the stuck outbound queue",
    "Out-of-hours: door access controller offline; power-cycled it and re-synced the fobs",
)
_TRAVEL_NOTES = ("Travel to {client}", "Travel to site", "Return travel from {client}")
_MENTIONS = (  # appended to a note; name another technician the way real notes do
    "Handed over to {first} for the firewall change",
    "{first} called the practice manager back to confirm",
    "Escalated to {full} for the directory sync issue",
    "Picked up from {first}'s earlier session",
    "Paired with {full} on the fix",
    "{first} to follow up with the user tomorrow morning",
)
_INTERNAL = (  # always its own line: the connector strips lines starting with "Internal:"
    "Internal: their admin password is on a sticky note under the keyboard",
    "Internal: slow payer, check with accounts before ordering any hardware",
    "Internal: office manager is short-tempered on the phone, keep it brief",
    "Internal: caused by our change last week, do not bill",
    "Internal: quote them for a new firewall next quarter",
    "Internal: local admin still uses the default password, fix at next visit",
    "Internal: {first} spent an extra hour on this off the clock",
)
_ODD_HOURS = (0.17, 0.33, 0.42, 0.58, 0.83, 1.33, 1.67)
_KINDS = ("remote", "on_site", "maintenance", "admin", "after_hours")
_KIND_WEIGHTS = (55, 13, 12, 8, 12)


@dataclass(frozen=True, slots=True)
class _EntryQuery:
    """The filters of one GET /v2/time_entries; hashable so selections can be cached."""

    updated_since: float | None = None
    date_from: str | None = None  # ISO dates compare correctly as strings
    date_to: str | None = None
    client_id: int | None = None
    project_id: int | None = None
    user_id: int | None = None
    task_id: int | None = None
    is_running: bool | None = None
    is_billed: bool | None = None


class _BadParam(ValueError):
    """A query parameter Harvest would answer with 422."""


# Where the kit finds Harvest's listing: page 2 on is asked by page number or by cursor.
LISTING = Listing(re.compile(r"^/v2/time_entries$"), items=("time_entries",), next_page=paged_by("page", "cursor"))


class HarvestSandbox(InjectsFaults):
    """In-memory Harvest account serving GET /v2/time_entries, /v2/clients and /v2/users/me.

    ``entries`` is the live store (read it, change it through :meth:`add_entry`,
    :meth:`edit_entry` and :meth:`delete_entry` so the indexes stay right).
    """

    def __init__(
        self,
        *,
        token: str = "sandbox-token",
        account_id: str = "100200",
        clock: Callable[[], datetime] | None = None,
        rate_limit: int = 100,
        rate_period: float = 15.0,
    ) -> None:
        self.token = token
        self.account_id = account_id
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.counters: Counter[str] = Counter()
        self.faults = FaultKit(counters=self.counters, listing=LISTING, refuse=self._refused,
                               throttles={"429": self._throttle}, base_clock=clock or (lambda: datetime.now(UTC)))
        self._clock = self.faults.clock
        self.entries: dict[int, dict[str, Any]] = {}
        self._build_reference_data()
        self._next_id = 2_400_000_001  # Harvest ids are large bigints
        # Harvest's listing order, as sortable keys: (-spent_date ordinal, -created_at, -id).
        self._order: list[tuple[int, int, int]] = []
        # (updated_at, id), so updated_since is a bisect rather than a scan.
        self._by_updated: list[tuple[int, int]] = []
        self._keys: dict[int, tuple[tuple[int, int, int], tuple[int, int]]] = {}
        # A connector pages through one selection; compute it once per data version.
        self._version = 0
        self._selections: dict[_EntryQuery, list[int]] = {}
        self._selections_version = 0
        self._hits: deque[float] = deque()
        self.app = self.faults.wrap(Starlette(
            routes=[
                Route("/v2/time_entries", self._list_time_entries, methods=["GET"]),
                Route("/v2/time_entries/{entry_id:int}", self._get_time_entry, methods=["GET"]),
                Route("/v2/clients", self._list_clients, methods=["GET"]),
                Route("/v2/users/me", self._me, methods=["GET"]),
            ],
            middleware=[Middleware(_Gate, sandbox=self)],
            exception_handlers={404: _not_found},
        ))

    # ----------------------------------------------------------------- reference data

    def _build_reference_data(self) -> None:
        stamp = _REFERENCE_STAMP
        self.clients: dict[int, dict[str, Any]] = {
            cid: {"id": cid, "name": name, "is_active": True, "address": None,
                  "statement_key": f"{cid:032x}", "created_at": stamp, "updated_at": stamp,
                  "currency": "USD"}
            for cid, name, _ in _CLIENTS
        }
        self.projects: dict[int, dict[str, Any]] = {}
        # client id → (retainer project id, maintenance project id)
        self._client_projects: dict[int, tuple[int, int]] = {}
        for index, (cid, name, code) in enumerate(_CLIENTS, start=1):
            self._add_projects(cid, name, code, RETAINER_PROJECT_BASE + index, MAINTENANCE_PROJECT_BASE + index)
        self.tasks: dict[int, dict[str, Any]] = {
            tid: {"id": tid, "name": name, "billable_by_default": billable,
                  "default_hourly_rate": _BILLABLE_RATE if billable else None, "is_default": True,
                  "is_active": True, "created_at": stamp, "updated_at": stamp}
            for tid, name, billable in _TASKS
        }
        self.users: dict[int, dict[str, Any]] = {
            uid: {"id": uid, "first_name": first, "last_name": last,
                  "email": f"{first.lower()}.{last.lower()}@northbridge-it.example",
                  "timezone": "Etc/UTC", "is_contractor": False, "is_active": True,
                  "roles": ["Technician"], "access_roles": ["member"],
                  "created_at": stamp, "updated_at": stamp}
            for uid, first, last in _USERS
        }
        # The token's owner: an ops account that logs no time of its own.
        self.me: dict[str, Any] = {
            "id": 9100, "first_name": "Morgan", "last_name": "Hale",
            "email": "ops@northbridge-it.example", "telephone": "", "timezone": "Etc/UTC",
            "has_access_to_all_future_projects": True, "is_contractor": False, "is_active": True,
            "weekly_capacity": 126000, "default_hourly_rate": None, "cost_rate": None,
            "roles": [], "access_roles": ["administrator"], "avatar_url": None,
            "created_at": stamp, "updated_at": stamp,
        }
        # Nested objects as Harvest embeds them in an entry; shared, never mutated in place.
        self._user_refs = {u: {"id": u, "name": f"{d['first_name']} {d['last_name']}"} for u, d in self.users.items()}
        self._project_refs = {p: {"id": p, "name": d["name"], "code": d["code"]} for p, d in self.projects.items()}
        self._task_refs = {t: {"id": t, "name": d["name"]} for t, d in self.tasks.items()}
        self._user_assignments: dict[tuple[int, int], dict[str, Any]] = {}
        self._task_assignments: dict[tuple[int, int], dict[str, Any]] = {}

    def _add_projects(self, cid: int, name: str, code: str, retainer: int, maintenance: int) -> None:
        client_ref = {"id": cid, "name": name, "currency": "USD"}
        for pid, pname, suffix in ((retainer, "Managed services retainer", "RET"),
                                   (maintenance, "Scheduled maintenance", "MNT")):
            self.projects[pid] = {"id": pid, "name": pname, "code": f"{code}-{suffix}",
                                  "is_active": True, "is_billable": True, "client": client_ref}
            if hasattr(self, "_project_refs"):
                self._project_refs[pid] = {"id": pid, "name": pname, "code": f"{code}-{suffix}"}
        self._client_projects[cid] = (retainer, maintenance)

    def add_client(self, name: str) -> int:
        """A new client with its retainer and maintenance projects (for benchmarks with many clients)."""
        cid = 600_000 + len(self.clients)
        self.clients[cid] = {"id": cid, "name": name, "is_active": True, "address": None,
                             "statement_key": f"{cid:032x}", "created_at": _REFERENCE_STAMP,
                             "updated_at": _REFERENCE_STAMP, "currency": "USD"}
        self._add_projects(cid, name, f"C{cid}", 800_000 + 2 * cid, 800_001 + 2 * cid)
        return cid

    def _user_assignment(self, project_id: int, user_id: int) -> dict[str, Any]:
        key = (project_id, user_id)
        if key not in self._user_assignments:
            self._user_assignments[key] = {
                "id": 120_000_000 + project_id * 100 + user_id % 100, "is_project_manager": False,
                "is_active": True, "use_default_rates": True, "budget": None,
                "created_at": _REFERENCE_STAMP, "updated_at": _REFERENCE_STAMP, "hourly_rate": _BILLABLE_RATE,
            }
        return self._user_assignments[key]

    def _task_assignment(self, project_id: int, task_id: int) -> dict[str, Any]:
        key = (project_id, task_id)
        if key not in self._task_assignments:
            billable = self.tasks[task_id]["billable_by_default"]
            self._task_assignments[key] = {
                "id": 310_000_000 + project_id * 100 + task_id % 100, "billable": billable,
                "is_active": True, "created_at": _REFERENCE_STAMP, "updated_at": _REFERENCE_STAMP,
                "hourly_rate": _rate(task_id, billable), "budget": None,
            }
        return self._task_assignments[key]

    def _default_project(self, client_id: int, task_id: int | None) -> int:
        """The client's retainer project, or its maintenance project for maintenance work."""
        if client_id not in self._client_projects:
            raise KeyError(f"unknown client_id {client_id}")
        retainer, maintenance = self._client_projects[client_id]
        return maintenance if task_id == SCHEDULED_MAINTENANCE else retainer

    # ----------------------------------------------------------------- data changes

    def add_entry(
        self,
        *,
        client_id: int,
        user_id: int | None = None,
        task_id: int | None = None,
        project_id: int | None = None,
        spent_date: date | str | None = None,
        hours: float = 1.0,
        notes: str | None = None,
        started_time: str | None = None,
        billable: bool = True,
        is_running: bool = False,
    ) -> dict[str, Any]:
        """Create one entry now (created_at = updated_at = the clock) and return its wire dict."""
        now = self._now()
        task_id = task_id or REMOTE_SUPPORT
        project_id = project_id or self._default_project(client_id, task_id)
        if self.projects[project_id]["client"]["id"] != client_id:
            raise ValueError(f"project {project_id} does not belong to client {client_id}")
        entry = self._wire(
            entry_id=self._take_id(), spent=spent_date or now.date(), user_id=user_id or _USERS[0][0],
            project_id=project_id, task_id=task_id, hours=hours, notes=notes,
            started_min=_parse_clock(started_time) if started_time else None,
            billable=billable, is_running=is_running, created=now, updated=now,
        )
        self._store(entry, int(now.timestamp()))
        return entry

    def edit_entry(self, entry_id: int, **changes: Any) -> dict[str, Any]:
        """Change an entry in wire terms and bump its updated_at; returns the entry.

        ``client_id`` alone moves the entry to that client's retainer project; ``project_id``
        moves it to that project (and its client). ``hours`` also moves ``ended_time`` when the
        entry was tracked with start/end times.
        """
        unknown = set(changes) - _EDITABLE
        if unknown:
            raise TypeError(f"edit_entry() got unknown field(s): {', '.join(sorted(unknown))}")
        entry = self.entries[entry_id]
        created_ts = -self._keys[entry_id][0][1]
        project_id = changes.get("project_id")
        if project_id is None and "client_id" in changes:
            project_id = self._default_project(changes["client_id"], None)
        if project_id is not None:
            client_id = self.projects[project_id]["client"]["id"]
            if changes.get("client_id", client_id) != client_id:
                raise ValueError(f"project {project_id} does not belong to client {changes['client_id']}")
            entry["client"] = self.projects[project_id]["client"]
            entry["project"] = self._project_refs[project_id]
        if "task_id" in changes:
            entry["task"] = self._task_refs[changes["task_id"]]
        if "user_id" in changes:
            entry["user"] = self._user_refs[changes["user_id"]]
        pid, tid = entry["project"]["id"], entry["task"]["id"]
        entry["user_assignment"] = self._user_assignment(pid, entry["user"]["id"])
        entry["task_assignment"] = self._task_assignment(pid, tid)
        if "hours" in changes:
            hours = round(float(changes["hours"]), 2)
            entry["hours"] = entry["hours_without_timer"] = entry["rounded_hours"] = hours
            if entry["started_time"] and "ended_time" not in changes:
                entry["ended_time"] = _fmt_clock(_parse_clock(entry["started_time"]) + round(hours * 60))
        if "spent_date" in changes:
            entry["spent_date"] = _iso_date(changes["spent_date"])
        if "billable" in changes:
            entry["billable"] = bool(changes["billable"])
            entry["billable_rate"] = _rate(tid, entry["billable"])
        for key in changes.keys() & _PASSTHROUGH:
            entry[key] = changes[key]
        now = self._now()
        entry["updated_at"] = _iso(now)
        self._unindex(entry_id)
        self._index(entry_id, entry["spent_date"], created_ts, int(now.timestamp()))
        return entry

    def delete_entry(self, entry_id: int) -> None:
        """Remove an entry; Harvest keeps no tombstone, so it simply stops being listed."""
        self._unindex(entry_id)
        del self.entries[entry_id]

    def seed(self, *, seed: int = 7, days: int = 70, per_day: int = 12, now: datetime | None = None) -> None:
        """Add a realistic, deterministic history: ``days`` days up to ``now``, ~``per_day`` entries a weekday.

        Weekdays carry business-hours work with start/end times, travel before on-site visits,
        evening call-outs and maintenance windows and some non-billable admin; weekends carry a
        few emergencies. Same ``seed`` and ``now`` give the same entries.
        """
        now = _utc(now) if now is not None else self._now()
        rng = random.Random(seed)
        plans: list[dict[str, Any]] = []
        for back in range(days - 1, -1, -1):
            plans.extend(self._plan_day(rng, now.date() - timedelta(days=back), per_day))
        plans = [p for p in plans if p["created"] <= now]  # today's later work has not happened yet
        plans.sort(key=lambda p: p["created"])  # ids grow with creation time, as Harvest's do
        order, by_updated = [], []
        for plan in plans:
            created, updated = plan["created"], min(plan.pop("updated"), now)
            entry = self._wire(entry_id=self._take_id(), updated=updated, is_running=False, **plan)
            eid, created_ts, updated_ts = entry["id"], int(created.timestamp()), int(updated.timestamp())
            self.entries[eid] = entry
            okey = (-date.fromisoformat(entry["spent_date"]).toordinal(), -created_ts, -eid)
            self._keys[eid] = (okey, (updated_ts, eid))
            order.append(okey)
            by_updated.append((updated_ts, eid))
        # One sort instead of 200k insorts keeps large benchmark seeds quick.
        self._order = sorted(self._order + order)
        self._by_updated = sorted(self._by_updated + by_updated)
        self._version += 1

    def simulate_activity(self, rng: random.Random) -> dict[str, Any]:
        """Log one realistic entry for today (and sometimes edit a recent one); returns the new entry."""
        now = self._now()
        kind = rng.choices(_KINDS[:4], weights=_KIND_WEIGHTS[:4])[0]
        task_id = {"remote": REMOTE_SUPPORT, "on_site": ON_SITE_SUPPORT,
                   "maintenance": SCHEDULED_MAINTENANCE, "admin": INTERNAL_ADMIN}[kind]
        client_id = rng.choice(_CLIENTS)[0]
        user_id = rng.choice(_USERS)[0]
        hours = _pick_hours(rng, 1, 8)
        start = now.hour * 60 + now.minute - round(hours * 60)
        recent = list(islice(reversed(self.entries), 30))
        entry = self.add_entry(
            client_id=client_id, user_id=user_id, task_id=task_id, hours=hours,
            notes=self._note(rng, _notes_for(kind, client_id), client_id, user_id),
            started_time=_fmt_clock(start) if start >= 0 else None,
            billable=self.tasks[task_id]["billable_by_default"],
        )
        if recent and rng.random() < 0.2:  # late corrections are what lookback windows are for
            victim = self.entries[rng.choice(recent)]
            self.edit_entry(victim["id"], hours=round(victim["hours"] + 0.25, 2))
        return entry

    # ----------------------------------------------------------------- seeding helpers

    def _plan_day(self, rng: random.Random, day: date, per_day: int) -> list[dict[str, Any]]:
        """The entries of one day, as keyword arguments for :meth:`_wire` plus ``updated``."""
        plans: list[dict[str, Any]] = []
        cursors: dict[int, int] = {}  # each technician works through the day back to back

        def business_slot(user_id: int, minutes: int) -> int | None:
            start = cursors.get(user_id, 8 * 60 + rng.choice((0, 15, 30, 45)))
            cursors[user_id] = start + minutes + rng.choice((0, 5, 10, 15, 30))
            return start if start + minutes < 24 * 60 else None  # overflow: duration-only entry

        def add(kind: str, client_id: int, user_id: int, task_id: int, hours: float, start: int | None) -> None:
            project_id = self._default_project(client_id, task_id)
            minutes = round(hours * 60)
            if start is not None:
                created = datetime.combine(day, time(), UTC) + timedelta(minutes=start + minutes + rng.randint(1, 25))
            else:
                created = datetime.combine(day, time(17, rng.randint(0, 59)), UTC)
            updated = created
            if rng.random() < 0.08:  # edited later: a correction the next morning or so
                updated = created + timedelta(minutes=rng.randint(60, 3 * 24 * 60))
            plans.append({
                "spent": day, "user_id": user_id, "project_id": project_id, "task_id": task_id,
                "hours": hours, "started_min": start, "billable": self.tasks[task_id]["billable_by_default"],
                "notes": self._note(rng, _notes_for(kind, client_id), client_id, user_id),
                "created": created, "updated": updated,
            })

        if day.weekday() >= 5:  # weekends: the odd emergency or weekend maintenance window
            for _ in range(rng.choice((0, 1, 1, 2))):
                kind = rng.choice(("after_hours", "maintenance"))
                task = REMOTE_SUPPORT if kind == "after_hours" else SCHEDULED_MAINTENANCE
                add(kind, rng.choice(_CLIENTS)[0], rng.choice(_USERS)[0], task,
                    _pick_hours(rng, 2, 8), rng.randrange(9 * 60, 20 * 60, 15))
            return plans
        while len(plans) < per_day:
            kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
            client_id, user_id = rng.choice(_CLIENTS)[0], rng.choice(_USERS)[0]
            if kind == "on_site":  # travel there, the visit, and often travel back
                trip = rng.choice((0.5, 0.75, 1.0))
                add("travel", client_id, user_id, TRAVEL, trip, business_slot(user_id, round(trip * 60)))
                hours = _pick_hours(rng, 4, 12)
                add(kind, client_id, user_id, ON_SITE_SUPPORT, hours, business_slot(user_id, round(hours * 60)))
                if rng.random() < 0.5:
                    add("travel", client_id, user_id, TRAVEL, trip, business_slot(user_id, round(trip * 60)))
            elif kind == "after_hours":
                add(kind, client_id, user_id, REMOTE_SUPPORT, _pick_hours(rng, 1, 8),
                    rng.randrange(18 * 60 + 30, 21 * 60 + 31, 15))
            elif kind == "maintenance" and rng.random() < 0.5:  # evening maintenance window
                add(kind, client_id, user_id, SCHEDULED_MAINTENANCE, _pick_hours(rng, 2, 8),
                    rng.randrange(19 * 60, 21 * 60 + 1, 30))
            else:
                task = {"remote": REMOTE_SUPPORT, "maintenance": SCHEDULED_MAINTENANCE,
                        "admin": INTERNAL_ADMIN}[kind]
                hours = _pick_hours(rng, 1, 2) if kind == "admin" else _pick_hours(rng, 1, 8)
                add(kind, client_id, user_id, task, hours, business_slot(user_id, round(hours * 60)))
        return plans

    def _note(self, rng: random.Random, pool: Sequence[str], client_id: int, user_id: int) -> str | None:
        """A work description; sometimes naming a colleague, sometimes with an Internal: line."""
        if pool is not _TRAVEL_NOTES and rng.random() < 0.03:
            return None  # Harvest notes are optional and some technicians leave them blank
        note = rng.choice(pool).format(client=self.clients[client_id]["name"])
        if pool is _TRAVEL_NOTES:
            return note
        _, first, last = rng.choice([u for u in _USERS if u[0] != user_id])
        names = {"first": first, "full": f"{first} {last}"}
        if rng.random() < 0.15:
            note = f"{note}. {rng.choice(_MENTIONS).format(**names)}"
        if rng.random() < 0.12:
            note = f"{note}\n{rng.choice(_INTERNAL).format(**names)}"
        return note

    # ----------------------------------------------------------------- storage and indexes

    def _take_id(self) -> int:
        entry_id, self._next_id = self._next_id, self._next_id + 1
        return entry_id

    def _now(self) -> datetime:
        # Harvest timestamps have whole seconds; filtering compares what the wire shows.
        return _utc(self._clock()).replace(microsecond=0)

    def _wire(
        self, *, entry_id: int, spent: date | str, user_id: int, project_id: int, task_id: int, hours: float,
        notes: str | None, started_min: int | None, billable: bool, is_running: bool,
        created: datetime, updated: datetime,
    ) -> dict[str, Any]:
        """One entry in Harvest's list-response shape and key order."""
        hours = round(float(hours), 2)
        ended = None if started_min is None or is_running else _fmt_clock(started_min + round(hours * 60))
        return {
            "id": entry_id, "spent_date": _iso_date(spent),
            "hours": hours, "hours_without_timer": hours, "rounded_hours": hours,
            "notes": notes, "is_locked": False, "locked_reason": None, "approval_status": "unsubmitted",
            "is_closed": False, "is_billed": False,
            "timer_started_at": _iso(created) if is_running else None,
            "started_time": None if started_min is None else _fmt_clock(started_min),
            "ended_time": ended, "is_running": is_running,
            "billable": billable, "budgeted": True,
            "billable_rate": _rate(task_id, billable), "cost_rate": _COST_RATE,
            "created_at": _iso(created), "updated_at": _iso(updated),
            "user": self._user_refs[user_id],
            "client": self.projects[project_id]["client"],
            "project": self._project_refs[project_id],
            "task": self._task_refs[task_id],
            "user_assignment": self._user_assignment(project_id, user_id),
            "task_assignment": self._task_assignment(project_id, task_id),
            "invoice": None, "external_reference": None,
        }

    def _store(self, entry: dict[str, Any], updated_ts: int) -> None:
        self.entries[entry["id"]] = entry
        self._index(entry["id"], entry["spent_date"], updated_ts, updated_ts)

    def _index(self, entry_id: int, spent_date: str, created_ts: int, updated_ts: int) -> None:
        okey = (-date.fromisoformat(spent_date).toordinal(), -created_ts, -entry_id)
        ukey = (updated_ts, entry_id)
        bisect.insort(self._order, okey)
        bisect.insort(self._by_updated, ukey)
        self._keys[entry_id] = (okey, ukey)
        self._version += 1

    def _unindex(self, entry_id: int) -> None:
        okey, ukey = self._keys.pop(entry_id)
        del self._order[bisect.bisect_left(self._order, okey)]
        del self._by_updated[bisect.bisect_left(self._by_updated, ukey)]
        self._version += 1

    def _select(self, q: _EntryQuery) -> list[int]:
        """Ids matching ``q`` in Harvest's order: spent_date desc, then newest created first, then id."""
        if self._selections_version != self._version:
            self._selections.clear()
            self._selections_version = self._version
        cached = self._selections.get(q)
        if cached is not None:
            return cached
        entries = self.entries
        if q.updated_since is not None:
            # Incremental polls touch few entries: bisect the updated index, then sort the few.
            start = bisect.bisect_left(self._by_updated, (q.updated_since,))
            keys = [self._keys[eid][0] for _, eid in self._by_updated[start:]]
            match = _matcher(q, with_dates=True)
            if match is not None:
                keys = [k for k in keys if match(entries[-k[2]])]
            keys.sort()
        else:
            # The order index is sorted by spent_date first, so from/to is a contiguous slice.
            lo = 0 if q.date_to is None else bisect.bisect_left(
                self._order, (-date.fromisoformat(q.date_to).toordinal(),))
            hi = len(self._order) if q.date_from is None else bisect.bisect_left(
                self._order, (-date.fromisoformat(q.date_from).toordinal() + 1,))
            keys = self._order[lo:hi]
            match = _matcher(q, with_dates=False)
            if match is not None:
                keys = [k for k in keys if match(entries[-k[2]])]
        ids = [-k[2] for k in keys]
        if len(self._selections) >= 32:
            self._selections.clear()
        self._selections[q] = ids
        return ids

    # ----------------------------------------------------------------- HTTP

    def _gate(self, headers: Headers) -> Response | None:
        """Checks every request passes before routing; returns the refusal, if any."""
        if not headers.get("user-agent", "").strip():
            return JSONResponse({"status": 400, "error": "Bad Request"}, status_code=400)
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if (scheme.lower() != "bearer" or credential != self.token
                or headers.get("harvest-account-id") != self.account_id):
            return self._refused()
        # Sliding window over the injected clock. Only admitted requests occupy a slot, so
        # Retry-After is exactly the wait until the oldest one leaves the window.
        now = _utc(self._clock()).timestamp()
        while self._hits and self._hits[0] <= now - self.rate_period:
            self._hits.popleft()
        if len(self._hits) >= self.rate_limit:
            return self._throttled(max(1, math.ceil(self._hits[0] + self.rate_period - now)))
        self._hits.append(now)
        return None

    def _refused(self, asked: Asked | None = None) -> Response:
        self.counters["401"] += 1
        return JSONResponse(_INVALID_TOKEN, status_code=401, headers={
            "WWW-Authenticate": 'Bearer realm="Rack::OAuth2 Protected Resources", error="invalid_token"'})

    def _throttled(self, retry_after: int | None) -> Response:
        self.counters["429"] += 1
        # Harvest's recorded 429 is text/html with an empty body; the hint is the header (the
        # docs promise one, the recording has none).
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return Response(b"", status_code=429, media_type="text/html", headers=headers)

    def _throttle(self, asked: Asked, retry_after: int | None) -> Response:
        return self._throttled(retry_after)

    async def _list_time_entries(self, request: Request) -> Response:
        params = request.query_params
        try:
            page, per_page = _paging(params)
            query = _EntryQuery(
                updated_since=_parse_since(params.get("updated_since")),
                date_from=_parse_date(params, "from"), date_to=_parse_date(params, "to"),
                client_id=_parse_int(params, "client_id"), project_id=_parse_int(params, "project_id"),
                user_id=_parse_int(params, "user_id"), task_id=_parse_int(params, "task_id"),
                is_running=_parse_bool(params, "is_running"), is_billed=_parse_bool(params, "is_billed"),
            )
        except _BadParam as exc:
            return JSONResponse({"message": str(exc)}, status_code=422)
        selected = [] if self.faults.answering_empty else self._select(query)
        body = _paginate(request, "time_entries", selected, page, per_page, self.entries.__getitem__)
        self.counters["time_entries"] += 1
        return JSONResponse(body)

    async def _get_time_entry(self, request: Request) -> Response:
        entry = self.entries.get(request.path_params["entry_id"])
        return JSONResponse(entry) if entry is not None else _not_found_response()

    async def _list_clients(self, request: Request) -> Response:
        params = request.query_params
        try:
            page, per_page = _paging(params)
            active = _parse_bool(params, "is_active")
            since = _parse_since(params.get("updated_since"))
        except _BadParam as exc:
            return JSONResponse({"message": str(exc)}, status_code=422)
        rows = [c for c in sorted(self.clients.values(), key=lambda c: -c["id"])  # newest first
                if (active is None or c["is_active"] == active)
                and (since is None or _parse_since(c["updated_at"]) >= since)]
        return JSONResponse(_paginate(request, "clients", rows, page, per_page, lambda c: c))

    async def _me(self, request: Request) -> Response:
        return JSONResponse(self.me)


class _Gate:
    """Pure ASGI middleware running :meth:`HarvestSandbox._gate` on every HTTP request."""

    def __init__(self, app: ASGIApp, sandbox: HarvestSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.sandbox._gate(Headers(scope=scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


_PASSTHROUGH = frozenset({
    "notes", "is_billed", "is_locked", "locked_reason", "is_closed", "approval_status", "started_time",
    "ended_time", "is_running", "billable_rate", "cost_rate", "budgeted", "invoice", "external_reference",
})
_EDITABLE = _PASSTHROUGH | {"hours", "spent_date", "client_id", "project_id", "task_id", "user_id", "billable"}


def _not_found_response() -> Response:
    # Recorded shape of Harvest's 404 (fastruby/harvesting VCR cassette, 2024).
    return JSONResponse({"status": 404, "error": "Not Found"}, status_code=404)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _not_found_response()


def _paginate(
    request: Request, key: str, rows: Sequence[Any], page: int, per_page: int, render: Callable[[Any], Any]
) -> dict[str, Any]:
    """Harvest's page envelope. Links keep the request's filters, sorted like Harvest's."""
    total = len(rows)
    # An empty listing is still one page (recorded: total_pages 1, total_entries 0).
    total_pages = max(1, math.ceil(total / per_page))
    start = (page - 1) * per_page
    kept = {k: v for k, v in request.query_params.items() if k not in ("page", "per_page", "ref", "cursor")}

    def link(number: int, ref: str) -> str:
        query = {**kept, "page": number, "per_page": per_page, "ref": ref}
        return str(request.url.replace(query=urlencode(sorted(query.items()))))

    return {
        key: [render(row) for row in rows[start:start + per_page]],
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": total,
        "next_page": page + 1 if page < total_pages else None,
        "previous_page": page - 1 if page > 1 else None,
        "page": page,
        "links": {
            "first": link(1, "first"),
            "next": link(page + 1, "next") if page < total_pages else None,
            "previous": link(page - 1, "previous") if page > 1 else None,
            "last": link(total_pages, "last"),
        },
    }


def _matcher(q: _EntryQuery, *, with_dates: bool) -> Callable[[dict[str, Any]], bool] | None:
    """A predicate for the filters an index did not already apply, or None if there are none."""
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for field, value in (("client", q.client_id), ("project", q.project_id), ("user", q.user_id), ("task", q.task_id)):
        if value is not None:
            checks.append(lambda e, f=field, v=value: e[f]["id"] == v)
    if q.is_running is not None:
        checks.append(lambda e, v=q.is_running: e["is_running"] is v)
    if q.is_billed is not None:
        checks.append(lambda e, v=q.is_billed: e["is_billed"] is v)
    if with_dates and q.date_from is not None:
        checks.append(lambda e, v=q.date_from: e["spent_date"] >= v)
    if with_dates and q.date_to is not None:
        checks.append(lambda e, v=q.date_to: e["spent_date"] <= v)
    if not checks:
        return None
    if len(checks) == 1:
        return checks[0]
    return lambda e: all(check(e) for check in checks)


def _paging(params: Mapping[str, str]) -> tuple[int, int]:
    per_page = _parse_int(params, "per_page")
    per_page = MAX_PER_PAGE if per_page is None else per_page
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _BadParam(f"per_page must be between 1 and {MAX_PER_PAGE}")
    page = _parse_int(params, "page") or 1
    if page < 1:
        raise _BadParam("page must be greater than 0")
    return page, per_page


def _parse_int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _BadParam(f"{name} must be an integer") from None


def _parse_bool(params: Mapping[str, str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise _BadParam(f"{name} must be true or false")


def _parse_date(params: Mapping[str, str], name: str) -> str | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise _BadParam(f"{name} must be a date (YYYY-MM-DD)") from None


def _parse_since(raw: str | None) -> float | None:
    """``updated_since`` as epoch seconds.

    Harvest documents it only as "updated since the given date and time". We treat it as
    inclusive (updated_at >= since): timestamps have whole seconds, so a strict ``>`` would lose
    an entry edited in the same second as the poller's cursor; inclusive merely re-sends it.
    """
    if raw is None or raw == "":
        return None
    try:
        return _utc(datetime.fromisoformat(raw)).timestamp()
    except ValueError:
        raise _BadParam("updated_since must be an ISO 8601 date and time") from None


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_date(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


def _fmt_clock(minutes: int) -> str:
    """Minutes after midnight in Harvest's started_time style: ``3:05pm``."""
    hour, minute = divmod(minutes % (24 * 60), 60)
    return f"{hour % 12 or 12}:{minute:02d}{'am' if hour < 12 else 'pm'}"


def _parse_clock(text: str) -> int:
    """``3:05pm`` → minutes after midnight."""
    clock, suffix = text.strip().lower()[:-2], text.strip().lower()[-2:]
    if suffix not in ("am", "pm"):
        raise ValueError(f"not a Harvest time of day: {text!r}")
    hour, minute = (int(part) for part in clock.split(":"))
    return (hour % 12 + (12 if suffix == "pm" else 0)) * 60 + minute


def _rate(task_id: int, billable: bool) -> float | None:
    if not billable:
        return None
    return _TRAVEL_RATE if task_id == TRAVEL else _BILLABLE_RATE


def _pick_hours(rng: random.Random, low_quarters: int, high_quarters: int) -> float:
    """Mostly quarter hours; now and then an odd timer value like 0.17 or 1.33."""
    if rng.random() < 0.12:
        return rng.choice(_ODD_HOURS)
    return rng.randint(low_quarters, high_quarters) * 0.25


def _notes_for(kind: str, client_id: int) -> Sequence[str]:
    if kind == "remote":
        return _REMOTE_NOTES + _CLIENT_NOTES[client_id]
    return {"on_site": _ON_SITE_NOTES, "maintenance": _MAINTENANCE_NOTES, "admin": _ADMIN_NOTES,
            "after_hours": _AFTER_HOURS_NOTES, "travel": _TRAVEL_NOTES}[kind]


class HarvestDriver(DrivesFaults):
    """The contract suite's vendor-neutral handle on a seeded HarvestSandbox."""

    vendor = "harvest"
    max_page_size = MAX_PER_PAGE
    idle_poll_requests = 1
    max_lookup_requests = 0  # entries carry client, project, task and user: no lookups

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.sandbox = HarvestSandbox(clock=clock)
        self.sandbox.seed(now=clock() - timedelta(days=1), days=40, per_day=6)
        self.app = self.sandbox.app
        self._users = list(self.sandbox.users)
        self.workers = [f"{u['first_name']} {u['last_name']}" for u in self.sandbox.users.values()]
        self._clients = [5001, 5002, 5003]

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def account(self, base_url: str) -> dict[str, Any]:
        return {"vendor": "harvest", "base_url": base_url, "account_id": self.sandbox.account_id,
                "token": self.sandbox.token, "user_agent": "syncd contract (test@example.com)"}

    def selectors(self) -> list[dict[str, Any]]:
        return [{"client_id": client_id} for client_id in self._clients]

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        text = notes + (f"\nInternal: {internal_notes}" if internal_notes else "")
        started = _fmt_clock(start.hour * 60 + start.minute) if start else None
        entry = self.sandbox.add_entry(client_id=self._clients[client], user_id=self._users[worker],
                                       hours=hours, notes=text, spent_date=day, started_time=started)
        return str(entry["id"])

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if hours is not None:
            changes["hours"] = hours
        if client is not None:
            changes["client_id"] = self._clients[client]
        if notes is not None:
            changes["notes"] = notes
        self.sandbox.edit_entry(int(vendor_id), **changes)

    def delete_entry(self, vendor_id: str) -> None:
        self.sandbox.delete_entry(int(vendor_id))


def make_driver(clock: Callable[[], datetime]) -> HarvestDriver:
    """A seeded Harvest sandbox behind the contract suite's driver interface."""
    return HarvestDriver(clock)
