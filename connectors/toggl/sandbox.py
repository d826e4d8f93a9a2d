"""A Toggl Track sandbox: Reports API v3 search, API v9 projects and tags, the hourly quota, signed webhooks."""

from __future__ import annotations

import base64
import binascii
import json
import math
import random
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.sandbox_faults import Asked, DrivesFaults, FaultKit, InjectsFaults, Listing
from connectors.sandbox_push import deliver
from connectors.toggl.webhooks import SIGNATURE_HEADER, signature

# Sources (see shared/research/vendor-apis.md, Toggl section):
#   engineering.toggl.com/docs/reports/detailed_reports: POST …/search/time_entries, body fields,
#     paging by X-Next-ID / X-Next-Row-Number sent back as first_id / first_row_number
#   mcordell/toggl_rb detailed.rb (Toggl's field docs): page_size "default 50", order_by
#     date|user|duration|description|last_update, order_dir ASC|DESC, grouped default false
#   evrone/toggl-python tests/responses/report_time_entry_post.py: a recorded row (field set,
#     start/stop in the user's offset, at in UTC, at_tz in the user's offset, tag_ids [])
#   go-api-libs/toggl api/swagger.json: GET /workspaces/{id}/projects (active both, client_ids,
#     per_page default 151, "Cannot exceed 200"), BasicAuth `{api_token}:api_token`
#   support.toggl.com/en/articles/11484112: 30/240/600 requests an hour, sliding 60-minute window,
#     HTTP 402 past it; X-Toggl-Quota-Remaining / X-Toggl-Quota-Resets-In (beauraines/toggl-cli#227)
#   Webhook envelopes: recorded events quoted in public code (event_id, created_at, creator_id,
#     metadata{action, event_user_id, model, model_owner_id, path, request_body, request_type,
#     time_entry_id, workspace_id}, payload, subscription_id, timestamp, url_callback); ping payload "ping"
# Not documented, chosen here and marked where used: the page_size maximum (we refuse > 50),
# the wording of error bodies, and a report spanning more than a year being refused.
MAX_PAGE_SIZE = 50
MAX_SPAN_DAYS = 365
PROJECTS_DEFAULT_PER_PAGE, PROJECTS_MAX_PER_PAGE = 151, 200
QUOTA_WINDOW = 3600.0
QUOTA_REMAINING, QUOTA_RESETS_IN = "X-Toggl-Quota-Remaining", "X-Toggl-Quota-Resets-In"
ORDER_FIELDS = ("date", "user", "duration", "description", "last_update")

WORKSPACE_ID = 4_512_877
TOKEN = "5e1d6c9a0b7f43d2a8c4e6f1b3d9a720"
WEBHOOK_SECRET = "whsec-sandbox-3f1c9a"
RATE_CENTS = 16500

_CLIENTS = ((61_203_441, "Acme Dental"), (61_203_442, "Birchwood Legal"),
            (61_203_443, "Cobalt Logistics"), (61_203_444, "Delta Veterinary Clinic"))
INTERNAL_PROJECT = 202_790_999
_TAGS = ((16_501_871, "Travel"), (16_501_872, "On-site"), (16_501_873, "Remote"),
         (16_501_874, "After-hours"), (16_501_875, "Urgent"))
TRAVEL_TAG, ONSITE_TAG, REMOTE_TAG, AFTER_HOURS_TAG, URGENT_TAG = (t for t, _ in _TAGS)
_USERS = ((30_809_356, "Ingrid Solberg", "Europe/London"), (30_809_357, "Kwame Mensah", "Europe/London"),
          (30_809_358, "Lucía Ferreira", "Europe/London"), (30_809_359, "Dmitri Volkov", "America/Chicago"),
          (30_809_360, "Hana Takeda", "Europe/London"))
_ADMIN_USER = 30_809_300  # the token's owner: a workspace admin who tracks no time of their own
_REFERENCE_STAMP = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)

# ------------------------------------------------------------------------------------------
# Seed vocabulary: one-line descriptions as Toggl's apps make people write them, with what the
# connector and the privacy rules must cope with (names in free text, inline "Internal:" remarks).
# ------------------------------------------------------------------------------------------
_REMOTE = (
    "Reset MFA for the front desk account after a phone swap",
    "Printer in reception dropping off the network; reserved its IP and rebuilt the queue",
    "Rebuilt the office manager's Outlook profile; mailbox back in sync",
    "FW rule conflict blocking the VPN; reordered the rules and confirmed remote access",
    "Shared bookings mailbox access for the new receptionist",
    "File server disk nearly full; moved old scan archives to cold storage",
    "Phishing email reported by staff; purged from all mailboxes, sender domain blocked",
    "New starter: account, licence, laptop enrolment and MFA",
    "Leaver offboarded: sign-in blocked, mailbox converted to shared, licence reclaimed",
    "Overnight backup failed; re-ran it and confirmed restore points",
    "Teams calls dropping audio; updated headset drivers and the Teams client",
    "Restored a deleted folder on the shared drive from last night's snapshot",
)
_ONSITE = (
    "Replaced the failed switch in the comms cupboard and re-patched the floor",
    "Installed two new workstations at the front desk",
    "Swapped the failing NAS drive and let the array rebuild",
    "Cabled and tested three new network points in the back office",
)
_MAINTENANCE = (
    "Monthly Windows updates on all workstations",
    "Patched the file server in the maintenance window",
    "Firmware update on the firewall and both access points",
    "Test restore of the accounts database to a scratch VM",
)
_ADMIN = ("Updated the client runbook", "Monthly licence reconciliation", "Planned next week's visits")
_AFTER_HOURS = (
    "After-hours call: internet down at the main site; failed over to the 4G backup",
    "Out-of-hours: server unresponsive after a power cut; services back in order",
    "Urgent call: security alert on one workstation; isolated it and checked backups",
)
_MENTIONS = ("handed over to {first} for the firewall change", "{first} called the practice manager back",
             "paired with {full} on the fix", "picked up from {first}'s earlier session")
_INTERNAL = ("Internal: slow payer, check with accounts before ordering hardware",
             "Internal: caused by our change last week, do not bill",
             "Internal: local admin still uses the default password",
             "Internal: {first} stayed an extra hour off the clock")


def _continues_search(asked: Asked) -> bool:
    """Whether a report search asks for a page after the first (it names a first row past 1)."""
    body = asked.json()
    row = body.get("first_row_number") if isinstance(body, dict) else None
    return isinstance(row, int) and row > 1


# Where the kit finds the listing: report searches, continued by first_row_number (X-Next-Row-Number).
LISTING = Listing(re.compile(r"^/reports/api/v3/workspace/\d+/search/time_entries$"),
                  next_page=_continues_search, needs_body=True)


class _BadRequest(ValueError):
    """A request Toggl would answer with 400 (text/plain, as Toggl's errors are)."""


@dataclass(frozen=True, slots=True)
class _Query:
    """The filters and order of one search; hashable so a paged selection is computed once."""

    start: str
    end: str
    client_ids: tuple[int | None, ...] | None
    project_ids: tuple[int | None, ...] | None
    user_ids: tuple[int, ...] | None
    tag_ids: tuple[int | None, ...] | None
    entry_ids: tuple[int, ...] | None
    billable: bool | None
    description: str | None
    order_by: str
    descending: bool
    grouped: bool


class TogglSandbox(InjectsFaults):
    """An in-memory Toggl Track workspace serving what the connector reads, plus signed webhooks.

    ``entries`` is the live store (change it through :meth:`add_entry`, :meth:`edit_entry`,
    :meth:`stop_entry` and :meth:`delete_entry`, which bump ``at`` and queue webhook events).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        token: str = TOKEN,
        workspace_id: int = WORKSPACE_ID,
        requests_per_hour: int = 30,
        webhook_secret: str = WEBHOOK_SECRET,
        url_callback: str = "https://balances.example.com/webhooks/toggl",
    ) -> None:
        self.token = token
        self.workspace_id = workspace_id
        self.requests_per_hour = requests_per_hour
        self.counters: Counter[str] = Counter()
        self.faults = FaultKit(counters=self.counters, listing=LISTING, refuse=self._refused,
                               throttles={"402": self._quota_spent, "429": self._too_fast},
                               base_clock=clock or (lambda: datetime.now(UTC)))
        self._clock = self.faults.clock
        self._version = 0
        self.subscription: dict[str, Any] = {
            "subscription_id": 10_713, "workspace_id": workspace_id, "user_id": _ADMIN_USER, "enabled": True,
            "description": "syncd balances", "event_filters": [{"entity": "time_entry", "action": "*"}],
            "url_callback": url_callback, "secret": webhook_secret, "validated_at": _iso_z(_REFERENCE_STAMP),
        }
        self.clients: dict[int, dict[str, Any]] = {}
        self.projects: dict[int, dict[str, Any]] = {}
        self.client_projects: dict[int, tuple[int, int]] = {}  # client → (retainer, maintenance)
        for cid, name in _CLIENTS:
            self.add_client(name, client_id=cid)
        self._add_project(INTERNAL_PROJECT, "Internal admin", None, billable=False)
        self.tags: dict[int, dict[str, Any]] = {
            tid: {"id": tid, "workspace_id": workspace_id, "name": name, "at": _iso_utc(_REFERENCE_STAMP),
                  "creator_id": _ADMIN_USER, "deleted_at": None, "integration_ext_id": None}
            for tid, name in _TAGS
        }
        self.users: dict[int, dict[str, Any]] = {
            uid: {"id": uid, "fullname": name, "timezone": tz} for uid, name, tz in _USERS
        }
        self._zones = {uid: ZoneInfo(u["timezone"]) for uid, u in self.users.items()}
        self.entries: dict[int, dict[str, Any]] = {}
        self.deleted: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        # The latest search bodies received, for request-shape checks (bounded for long benchmarks).
        self.searches: deque[dict[str, Any]] = deque(maxlen=1000)
        self._next_id = 3_545_645_770
        self._next_event = 8_023_169_274_704_072
        self._selections: dict[_Query, list[int]] = {}
        self._selections_version = 0
        self._hits: deque[float] = deque()
        prefix = "/api/v9/workspaces/{workspace_id:int}"
        self.app = self.faults.wrap(Starlette(
            routes=[
                Route("/reports/api/v3/workspace/{workspace_id:int}/search/time_entries", self._search,
                      methods=["POST"]),
                Route(f"{prefix}/projects", self._list_projects, methods=["GET"]),
                Route(f"{prefix}/tags", self._list_tags, methods=["GET"]),
                Route(f"{prefix}/clients", self._list_clients, methods=["GET"]),
            ],
            middleware=[Middleware(_Gate, sandbox=self)],
            exception_handlers={404: _not_found, 405: _not_allowed},
        ))

    # ------------------------------------------------------------------ reference data

    def add_client(self, name: str, *, client_id: int | None = None) -> int:
        """A client with a retainer project and a scheduled-maintenance project."""
        cid = client_id or 61_300_000 + len(self.clients)
        self.clients[cid] = {"id": cid, "wid": self.workspace_id, "name": name, "archived": False,
                             "at": _iso_utc(_REFERENCE_STAMP), "creator_id": _ADMIN_USER}
        base = 202_790_000 + (cid % 100_000) * 10
        self._add_project(base + 1, "Managed services retainer", cid, billable=True)
        self._add_project(base + 2, "Scheduled maintenance", cid, billable=True)
        self.client_projects[cid] = (base + 1, base + 2)
        self._changed()
        return cid

    def _add_project(self, pid: int, name: str, client_id: int | None, *, billable: bool) -> None:
        self.projects[pid] = {
            "id": pid, "workspace_id": self.workspace_id, "client_id": client_id, "name": name,
            "is_private": False, "active": True, "at": _iso_utc(_REFERENCE_STAMP),
            "created_at": _iso_utc(_REFERENCE_STAMP), "server_deleted_at": None, "color": "#0b83d9",
            "billable": billable, "template": False, "auto_estimates": None, "estimated_hours": None,
            "estimated_seconds": None, "rate": None, "currency": "USD" if billable else None,
            "recurring": False, "wid": self.workspace_id, "cid": client_id, "status": "active",
        }

    def add_project(self, name: str, client_id: int | None, *, billable: bool = True) -> int:
        """A new project (for a client, or internal with None), as an admin would create it."""
        pid = max(self.projects) + 1
        self._add_project(pid, name, client_id, billable=billable)
        self.projects[pid].update(at=_iso_utc(self._now()), created_at=_iso_utc(self._now()))
        self._changed()
        return pid

    def move_project(self, project_id: int, client_id: int | None) -> None:
        """Assign a project to another client (as an admin would in Toggl's project settings)."""
        project = self.projects[project_id]
        project.update(client_id=client_id, cid=client_id, at=_iso_utc(self._now()))
        self._changed()

    # ------------------------------------------------------------------ entries

    def add_entry(
        self,
        *,
        user_id: int,
        project_id: int | None,
        start: datetime,
        seconds: int | None,
        description: str = "",
        billable: bool | None = None,
        tag_ids: Iterable[int] = (),
        at: datetime | None = None,
        notify: bool = True,
    ) -> dict[str, Any]:
        """Track time: ``seconds`` None starts a running timer. Returns the stored entry."""
        if user_id not in self.users:
            raise KeyError(f"no user {user_id}")
        if project_id is not None and project_id not in self.projects:
            raise KeyError(f"no project {project_id}")
        entry_id = self._next_id
        self._next_id += 1 + (entry_id % 3)  # ids grow with gaps, like a shared sequence
        started = int(_utc(start).timestamp())
        stamp = int(_utc(at or self._now()).timestamp())
        project = self.projects.get(project_id) if project_id is not None else None
        entry = {
            "id": entry_id, "user_id": user_id, "project_id": project_id, "task_id": None,
            "description": description, "tag_ids": sorted(set(tag_ids)),
            "billable": bool(project and project["billable"]) if billable is None else billable,
            "start": started, "duration": -started if seconds is None else int(seconds),
            "at": stamp, "created_at": stamp,
        }
        entry["_date"] = self._local_date(entry)
        self.entries[entry_id] = entry
        self._changed()
        if notify:
            self._event("created", entry)
        return entry

    def edit_entry(self, entry_id: int, **changes: Any) -> dict[str, Any]:
        """Change an entry as its user would (description, project_id, user_id, billable, tag_ids,
        start, seconds); bumps ``at`` and queues an "updated" event."""
        entry = self.entries[entry_id]
        unknown = set(changes) - {"description", "project_id", "user_id", "billable", "tag_ids", "start", "seconds"}
        if unknown:
            raise TypeError(f"cannot edit {sorted(unknown)}")
        for key, value in changes.items():
            if key == "start":
                entry["start"] = int(_utc(value).timestamp())
            elif key == "seconds":
                entry["duration"] = int(value)
            elif key == "tag_ids":
                entry["tag_ids"] = sorted(set(value))
            else:
                entry[key] = value
        entry["_date"] = self._local_date(entry)
        entry["at"] = max(entry["at"] + 1, int(self._now().timestamp()))
        self._changed()
        self._event("updated", entry)
        return entry

    def stop_entry(self, entry_id: int) -> dict[str, Any]:
        """Stop a running timer now."""
        entry = self.entries[entry_id]
        if entry["duration"] >= 0:
            raise ValueError(f"entry {entry_id} is not running")
        now = int(self._now().timestamp())
        entry["duration"] = max(0, now - entry["start"])
        entry["at"] = max(entry["at"] + 1, now)
        self._changed()
        self._event("updated", entry)
        return entry

    def delete_entry(self, entry_id: int) -> None:
        """Delete an entry: gone from reports (Toggl lists no tombstones there); a webhook says so."""
        entry = self.entries.pop(entry_id)
        entry["at"] = max(entry["at"] + 1, int(self._now().timestamp()))
        entry["server_deleted_at"] = entry["at"]
        self.deleted[entry_id] = entry
        self._changed()
        self._event("deleted", entry)

    def _changed(self) -> None:
        self._version += 1

    def seed(self, *, now: datetime | None = None, days: int = 40, per_day: int = 6, seed: int = 7) -> int:
        """Fill the workspace with ``days`` of realistic MSP work ending at ``now``; deterministic by ``seed``.

        Mostly remote support, some on-site visits (with travel), scheduled maintenance,
        internal admin (no client, non-billable) and after-hours callouts; descriptions
        mention technicians by first name now and then and carry inline "Internal:" remarks.
        """
        rng = random.Random(seed)
        end = _utc(now or self._now())
        users = list(self.users)
        clients = [cid for cid, _ in _CLIENTS]
        added = 0
        for offset in range(days, -1, -1):
            day = (end - timedelta(days=offset)).date()
            for _ in range(per_day):
                user = rng.choice(users)
                client = rng.choice(clients)
                kind = rng.choices(("remote", "onsite", "maintenance", "admin", "after_hours"),
                                   weights=(55, 13, 12, 8, 12))[0]
                for item in self._seed_items(rng, kind, user, client, day, users):
                    start, seconds, project, text, tags = item
                    if start + timedelta(seconds=seconds) > end:
                        continue
                    stamp = min(end, start + timedelta(seconds=seconds, minutes=rng.randint(1, 90)))
                    self.add_entry(user_id=user, project_id=project, start=start, seconds=seconds, description=text,
                                   tag_ids=tags, at=stamp, notify=False)
                    added += 1
        return added

    def _seed_items(self, rng: random.Random, kind: str, user: int, client: int, day: date,
                    users: Sequence[int]) -> list[tuple[datetime, int, int, str, list[int]]]:
        tz = self._zones[user]
        retainer, maintenance = self.client_projects[client]
        quarter = rng.randint(1, 12) * 900
        if kind == "after_hours":
            hour, text = rng.choice((19, 20, 21, 22, 6)), rng.choice(_AFTER_HOURS)
            start = datetime.combine(day, time(hour, rng.choice((0, 15, 30, 45))), tz)
            return [(start, quarter, retainer, text, [AFTER_HOURS_TAG, REMOTE_TAG])]
        start = datetime.combine(day, time(rng.randint(8, 16), rng.choice((0, 15, 30, 45))), tz)
        if kind == "maintenance":
            return [(start, quarter, maintenance, rng.choice(_MAINTENANCE), [])]
        if kind == "admin":
            return [(start, quarter, INTERNAL_PROJECT, rng.choice(_ADMIN), [])]
        if kind == "onsite":
            client_name = self.clients[client]["name"]
            travel = rng.choice((1800, 2700))
            return [(start, travel, retainer, f"Travel to {client_name}", [TRAVEL_TAG]),
                    (start + timedelta(seconds=travel), quarter, retainer, rng.choice(_ONSITE), [ONSITE_TAG])]
        text = rng.choice(_REMOTE)
        if rng.random() < 0.3:
            other = self.users[rng.choice([u for u in users if u != user])]["fullname"]
            text += "; " + rng.choice(_MENTIONS).format(first=other.split()[0], full=other)
        if rng.random() < 0.2:
            text += " " + rng.choice(_INTERNAL).format(first=self.users[user]["fullname"].split()[0])
        return [(start, quarter, retainer, text, [REMOTE_TAG] if rng.random() < 0.5 else [])]

    # ------------------------------------------------------------------ controls

    # ------------------------------------------------------------------ webhooks

    def event_envelope(self, action: str, entry: Mapping[str, Any], *, actor: int | None = None) -> dict[str, Any]:
        """A time-entry event as Toggl delivers it to the subscription's callback."""
        now = self._now()
        self._next_event += 7_919
        payload = self._v9(entry)
        path = f"/api/v9/workspaces/{self.workspace_id}/time_entries"
        method = {"created": "POST", "updated": "PUT", "deleted": "DELETE"}[action]
        if action != "created":
            path += f"/{entry['id']}"
        user = actor or entry["user_id"]
        return {
            "event_id": self._next_event,
            "created_at": _iso_ms(now),
            "creator_id": user,
            "metadata": {
                "action": action, "event_user_id": str(user), "model": "time_entry",
                "model_owner_id": str(entry["user_id"]), "path": path,
                "request_body": "" if action == "deleted" else json.dumps(
                    {k: payload[k] for k in ("billable", "description", "duration", "start", "tags",
                                             "workspace_id")}, separators=(",", ":")),
                "request_type": method, "time_entry_id": str(entry["id"]),
                "workspace_id": str(self.workspace_id),
            },
            "payload": payload,
            "subscription_id": self.subscription["subscription_id"],
            "timestamp": _iso_ns(now + timedelta(milliseconds=343)),
            "url_callback": self.subscription["url_callback"],
        }

    def ping_event(self, validation_code: str | None = "89627dd73f2044f2f73815d665bbce33") -> dict[str, Any]:
        """The PING event Toggl sends to test a subscription (with a code while not validated)."""
        now = self._now()
        event: dict[str, Any] = {
            "event_id": 0, "created_at": _iso_ns(now), "creator_id": _ADMIN_USER,
            "metadata": {"request_type": "POST", "event_user_id": _ADMIN_USER}, "payload": "ping",
            "subscription_id": self.subscription["subscription_id"], "timestamp": _iso_ns(now),
            "url_callback": self.subscription["url_callback"],
        }
        if validation_code is not None:
            event["validation_code"] = validation_code
            event["validation_code_url"] = (f"https://track.toggl.com/webhooks/api/v1/validate/{self.workspace_id}/"
                                            f"{self.subscription['subscription_id']}/{validation_code}")
        return event

    def sign(self, body: bytes, secret: str | None = None) -> str:
        """X-Webhook-Signature-256 for ``body``: HMAC-SHA256 with the subscription's secret."""
        return signature(secret if secret is not None else self.subscription["secret"], body)

    async def send_webhook(
        self, target: str | ASGIApp, event: Mapping[str, Any], *, path: str = "/", secret: str | None = None
    ) -> httpx.Response:
        """POST one event to ``target`` (a URL, or an ASGI app at ``path``), signed like Toggl signs it."""
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: self.sign(body, secret)}
        self.counters["webhooks_sent"] += 1
        return await deliver(target, body, headers, path=path)

    def _event(self, action: str, entry: Mapping[str, Any]) -> None:
        self.events.append(self.event_envelope(action, entry))

    # ------------------------------------------------------------------ rendering

    def _v9(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        """An entry as API v9 (and webhook payloads) render it."""
        running = entry["duration"] < 0
        deleted = entry.get("server_deleted_at")
        return {
            "id": entry["id"], "workspace_id": self.workspace_id, "project_id": entry["project_id"],
            "task_id": entry["task_id"], "billable": entry["billable"],
            "start": _iso_z(_from_ts(entry["start"])),
            "stop": None if running else _iso_z(_from_ts(entry["start"] + entry["duration"])),
            "duration": entry["duration"], "description": entry["description"],
            "tags": [self.tags[t]["name"] for t in entry["tag_ids"] if t in self.tags],
            "tag_ids": list(entry["tag_ids"]) or None, "duronly": True,
            "at": _iso_utc(_from_ts(entry["at"])),
            "server_deleted_at": None if deleted is None else _iso_utc(_from_ts(deleted)),
            "user_id": entry["user_id"], "uid": entry["user_id"], "wid": self.workspace_id,
            "pid": entry["project_id"],
        }

    def _report_item(self, entry: Mapping[str, Any]) -> dict[str, Any]:
        tz = self._zones[entry["user_id"]]
        running = entry["duration"] < 0
        return {
            "id": entry["id"], "seconds": entry["duration"],
            "start": _iso_local(entry["start"], tz),
            # The running form is not recorded anywhere we could read: we follow API v9
            # (stop null, negative duration), which the connector skips either way.
            "stop": None if running else _iso_local(entry["start"] + entry["duration"], tz),
            "at": _iso_utc(_from_ts(entry["at"])), "at_tz": _iso_local(entry["at"], tz),
        }

    def _report_row(self, group: Sequence[Mapping[str, Any]], row_number: int) -> dict[str, Any]:
        first = group[0]
        billable = first["billable"]
        seconds = sum(max(0, e["duration"]) for e in group)
        return {
            "billable": billable,
            "billable_amount_in_cents": round(RATE_CENTS * seconds / 3600) if billable else None,
            "currency": "USD", "description": first["description"],
            "hourly_rate_in_cents": RATE_CENTS if billable else None,
            "project_id": first["project_id"], "row_number": row_number,
            "tag_ids": list(first["tag_ids"]), "task_id": first["task_id"],
            "time_entries": [self._report_item(e) for e in group],
            "user_id": first["user_id"], "username": self.users[first["user_id"]]["fullname"],
        }

    # ------------------------------------------------------------------ selection

    def _local_date(self, entry: Mapping[str, Any]) -> str:
        # Toggl files an entry under its user's own local date (Reports docs / Pipedream's note).
        return _from_ts(entry["start"]).astimezone(self._zones[entry["user_id"]]).date().isoformat()

    def _select(self, q: _Query) -> list[int]:
        if self._selections_version != self._version:
            self._selections.clear()
            self._selections_version = self._version
        cached = self._selections.get(q)
        if cached is not None:
            return cached
        chosen = []
        for entry in self.entries.values():
            if not q.start <= entry["_date"] <= q.end:
                continue
            project = self.projects.get(entry["project_id"]) if entry["project_id"] is not None else None
            if q.client_ids is not None and (project["client_id"] if project else None) not in q.client_ids:
                continue
            if q.project_ids is not None and entry["project_id"] not in q.project_ids:
                continue
            if q.user_ids is not None and entry["user_id"] not in q.user_ids:
                continue
            if q.tag_ids is not None and not (
                    set(entry["tag_ids"]) & set(q.tag_ids) or (None in q.tag_ids and not entry["tag_ids"])):
                continue
            if q.entry_ids is not None and entry["id"] not in q.entry_ids:
                continue
            if q.billable is not None and entry["billable"] is not q.billable:
                continue
            if q.description is not None and q.description.casefold() not in entry["description"].casefold():
                continue
            chosen.append(entry)
        chosen.sort(key=self._order_key(q.order_by), reverse=q.descending)
        ids = [e["id"] for e in chosen]
        if len(self._selections) >= 32:
            self._selections.clear()
        self._selections[q] = ids
        return ids

    def _order_key(self, order_by: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        names = {uid: u["fullname"].casefold() for uid, u in self.users.items()}
        return {
            "date": lambda e: (e["start"], e["id"]),
            "last_update": lambda e: (e["at"], e["id"]),
            "user": lambda e: (names[e["user_id"]], e["start"], e["id"]),
            "duration": lambda e: (e["duration"], e["id"]),
            "description": lambda e: (e["description"].casefold(), e["id"]),
        }[order_by]

    def _rows(self, ids: list[int], grouped: bool) -> list[list[dict[str, Any]]]:
        entries = [self.entries[i] for i in ids]
        if not grouped:
            return [[e] for e in entries]
        groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        for e in entries:
            key = (e["user_id"], e["project_id"], e["task_id"], e["description"], e["billable"], tuple(e["tag_ids"]))
            groups.setdefault(key, []).append(e)
        return list(groups.values())

    # ------------------------------------------------------------------ HTTP

    def _now(self) -> datetime:
        return _utc(self._clock())

    def _gate(self, headers: Headers) -> tuple[Response | None, list[tuple[str, str]]]:
        """Checks every request passes; returns the refusal or the quota headers to add."""
        if not self._authorized(headers.get("authorization", "")):
            return self._refused(), []
        # The quota is a sliding 60-minute window; only admitted requests occupy it.
        now = self._now().timestamp()
        while self._hits and self._hits[0] <= now - QUOTA_WINDOW:
            self._hits.popleft()
        if len(self._hits) >= self.requests_per_hour:
            return self._over_quota(max(1, math.ceil(self._hits[0] + QUOTA_WINDOW - now))), []
        self._hits.append(now)
        resets = max(1, math.ceil(self._hits[0] + QUOTA_WINDOW - now))
        return None, [(QUOTA_REMAINING, str(self.requests_per_hour - len(self._hits))), (QUOTA_RESETS_IN, str(resets))]

    def _authorized(self, header: str) -> bool:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(credential, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.token and password == "api_token"

    def _refused(self, asked: Asked | None = None) -> Response:
        # "401" counts credential refusals for the contract suite; Toggl itself answers 403.
        self.counters["401"] += 1
        self.counters["403"] += 1
        return Response(b"", status_code=403)

    def _quota_spent(self, asked: Asked, resets_in: int | None) -> Response:
        return self._over_quota(resets_in)

    def _too_fast(self, asked: Asked, retry_after: int | None) -> Response:
        """The older leaky-bucket limit ("1 request per second"): 429, Retry-After when given."""
        self.counters["429"] += 1
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return PlainTextResponse("Too Many Requests", status_code=429, headers=headers)

    def _over_quota(self, resets_in: int | None) -> Response:
        self.counters["402"] += 1
        headers = {QUOTA_REMAINING: "0"}
        if resets_in is not None:
            headers[QUOTA_RESETS_IN] = str(resets_in)
        # The body's wording is not recorded in any source we have; the status and headers are.
        text = "You have hit your hourly limit for API calls."
        if resets_in is not None:
            text += f" The quota resets in {resets_in} seconds."
        return PlainTextResponse(text, status_code=402, headers=headers)

    def _workspace_refusal(self, request: Request) -> Response | None:
        if request.path_params["workspace_id"] != self.workspace_id:
            return PlainTextResponse("User does not have access to this resource.", status_code=403)
        return None

    async def _search(self, request: Request) -> Response:
        refusal = self._workspace_refusal(request)
        if refusal is not None:
            return refusal
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return PlainTextResponse("Invalid JSON input", status_code=400)
        if isinstance(body, dict):
            self.searches.append(body)
        try:
            query, first_row, page_size = _parse_search(body)
        except _BadRequest as exc:
            return PlainTextResponse(str(exc), status_code=400)
        self.counters["time_entries"] += 1
        if self.faults.answering_empty:
            return JSONResponse([])
        rows = self._rows(self._select(query), query.grouped)
        page = rows[first_row - 1:first_row - 1 + page_size]
        rendered = [self._report_row(group, first_row + i) for i, group in enumerate(page)]
        headers = {}
        following = first_row - 1 + page_size
        if following < len(rows):
            headers = {"X-Next-ID": str(rows[following][0]["id"]), "X-Next-Row-Number": str(following + 1)}
        return JSONResponse(rendered, headers=headers)

    async def _list_projects(self, request: Request) -> Response:
        refusal = self._workspace_refusal(request)
        if refusal is not None:
            return refusal
        params = request.query_params
        try:
            per_page = _int_param(params, "per_page") or PROJECTS_DEFAULT_PER_PAGE
            page = _int_param(params, "page") or 1
            if not 1 <= per_page <= PROJECTS_MAX_PER_PAGE:
                raise _BadRequest(f"per_page cannot exceed {PROJECTS_MAX_PER_PAGE}")
            if page < 1:
                raise _BadRequest("page must be positive")
            active = (params.get("active") or "true").lower()
            if active not in ("true", "false", "both"):
                raise _BadRequest("active must be true, false or both")
            clients = _csv_ints(params.get("client_ids"))
            since = _int_param(params, "since")
        except _BadRequest as exc:
            return PlainTextResponse(str(exc), status_code=400)
        self.counters["projects"] += 1
        rows = [p for _, p in sorted(self.projects.items())
                if (active == "both" or p["active"] is (active == "true"))
                and (clients is None or p["client_id"] in clients)
                and (since is None or datetime.fromisoformat(p["at"]).timestamp() >= since)]
        return JSONResponse(rows[(page - 1) * per_page:page * per_page])

    async def _list_tags(self, request: Request) -> Response:
        refusal = self._workspace_refusal(request)
        if refusal is not None:
            return refusal
        self.counters["tags"] += 1
        return JSONResponse([t for _, t in sorted(self.tags.items())])

    async def _list_clients(self, request: Request) -> Response:
        refusal = self._workspace_refusal(request)
        if refusal is not None:
            return refusal
        return JSONResponse([c for _, c in sorted(self.clients.items()) if not c["archived"]])


class _Gate:
    """Pure ASGI middleware: runs :meth:`TogglSandbox._gate` and adds the quota headers."""

    def __init__(self, app: ASGIApp, sandbox: TogglSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, quota = self.sandbox._gate(Headers(scope=scope))
        if refusal is not None:
            await refusal(scope, receive, send)
            return

        async def send_with_quota(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in quota:
                    headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_quota)


async def _not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("404 page not found", status_code=404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("Method Not Allowed", status_code=405)


def _parse_search(body: Any) -> tuple[_Query, int, int]:
    """A search body → (query, first row number, page size); _BadRequest as Toggl would refuse it."""
    if not isinstance(body, dict):
        raise _BadRequest("Invalid JSON input")
    start = _date_field(body, "start_date", required=True)
    end = _date_field(body, "end_date", required=False)
    if end is None:
        end = start + timedelta(days=6)
    if end < start:
        raise _BadRequest("end_date must not be earlier than start_date")
    if (end - start).days > MAX_SPAN_DAYS:
        raise _BadRequest("The maximum date range is one year")  # wording not recorded; the limit is
    page_size = _int_field(body, "page_size", MAX_PAGE_SIZE)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        # Toggl documents only "default 50"; the sandbox refuses more so nothing relies on it.
        raise _BadRequest(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
    first_row = _int_field(body, "first_row_number", 1)
    if first_row < 1:
        raise _BadRequest("first_row_number must be positive")
    if _int_field(body, "first_id", 0) < 0:
        raise _BadRequest("first_id must not be negative")
    order_by = body.get("order_by") or "date"
    order_dir = body.get("order_dir") or "ASC"
    if order_by not in ORDER_FIELDS:
        raise _BadRequest(f"order_by must be one of {', '.join(ORDER_FIELDS)}")
    if not isinstance(order_dir, str) or order_dir.upper() not in ("ASC", "DESC"):
        raise _BadRequest("order_dir must be ASC or DESC")
    for flag in ("grouped", "billable", "enrich_response", "hide_amounts"):
        if body.get(flag) is not None and not isinstance(body[flag], bool):
            raise _BadRequest(f"{flag} must be a boolean")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise _BadRequest("description must be a string")
    query = _Query(
        start=start.isoformat(), end=end.isoformat(),
        client_ids=_id_list(body, "client_ids", nullable=True),
        project_ids=_id_list(body, "project_ids", nullable=True),
        user_ids=_id_list(body, "user_ids", nullable=False),  # type: ignore[arg-type]
        tag_ids=_id_list(body, "tag_ids", nullable=True),
        entry_ids=_id_list(body, "time_entry_ids", nullable=False),  # type: ignore[arg-type]
        billable=body.get("billable"), description=description or None,
        order_by=order_by, descending=order_dir.upper() == "DESC", grouped=bool(body.get("grouped")),
    )
    return query, first_row, page_size


def _date_field(body: Mapping[str, Any], name: str, *, required: bool) -> date | None:
    raw = body.get(name)
    if raw is None:
        if required:
            raise _BadRequest(f"{name} is required")
        return None
    if not isinstance(raw, str) or len(raw) != 10:
        raise _BadRequest(f"Invalid {name}: expected YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _BadRequest(f"Invalid {name}: expected YYYY-MM-DD") from None


def _int_field(body: Mapping[str, Any], name: str, default: int) -> int:
    raw = body.get(name)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _BadRequest(f"{name} must be an integer")
    return raw


def _id_list(body: Mapping[str, Any], name: str, *, nullable: bool) -> tuple[int | None, ...] | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(
            (v is None and nullable) or (isinstance(v, int) and not isinstance(v, bool)) for v in raw):
        raise _BadRequest(f"{name} must be a list of integers")
    return tuple(raw) if raw else None


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None


def _csv_ints(raw: str | None) -> set[int] | None:
    if not raw:
        return None
    try:
        return {int(part) for part in raw.split(",") if part.strip()}
    except ValueError:
        raise _BadRequest("client_ids must be integers") from None


def _utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_ts(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _iso_local(seconds: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(seconds, tz).isoformat(timespec="seconds")


def _iso_utc(moment: datetime) -> str:
    """"2023-08-22T12:43:35+00:00", as API v9 writes ``at``."""
    return _utc(moment).isoformat(timespec="seconds")


def _iso_z(moment: datetime) -> str:
    """"2023-08-22T11:50:51Z", as API v9 writes ``start`` and ``stop``."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.") + f"{_utc(moment).microsecond // 1000:03d}Z"


def _iso_ns(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.") + f"{_utc(moment).microsecond:06d}000Z"


class TogglDriver(DrivesFaults):
    """The contract suite's vendor-neutral handle on a seeded TogglSandbox."""

    vendor = "toggl"
    max_page_size = MAX_PAGE_SIZE
    # An idle poll lists the recent year newest-update-first and stops at the first entry
    # older than the cursor: one request, as long as the lookups' hour has not run out.
    idle_poll_requests = 1
    # One page read past the last changed entry to see that it is the last, plus a
    # project and a tag lookup when a page names ones the cache lacks or holds too long.
    max_lookup_requests = 3

    def __init__(self, clock: Callable[[], datetime]) -> None:
        # Premium's 600 requests an hour keeps the suite's bursts under the quota.
        self.sandbox = TogglSandbox(clock=clock, requests_per_hour=600)
        self.sandbox.seed(now=clock() - timedelta(days=1), days=40, per_day=6)
        self.app = self.sandbox.app
        self._users = list(self.sandbox.users)
        self.workers = [self.sandbox.users[u]["fullname"] for u in self._users]
        self._clients = [cid for cid, _ in _CLIENTS[:3]]

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def account(self, base_url: str) -> dict[str, Any]:
        return {"vendor": "toggl", "base_url": base_url, "workspace_id": self.sandbox.workspace_id,
                "api_token": self.sandbox.token, "plan": "premium", "user_agent": "syncd contract (test@example.com)"}

    def selectors(self) -> list[dict[str, Any]]:
        return [{"client_id": client_id} for client_id in self._clients]

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        user = self._users[worker]
        local = datetime.combine(day, start or time(9, 0), self.sandbox._zones[user])
        text = notes + (f" Internal: {internal_notes}" if internal_notes else "")
        entry = self.sandbox.add_entry(user_id=user, project_id=self.sandbox.client_projects[self._clients[client]][0],
                                       start=local, seconds=round(hours * 3600), description=text)
        return str(entry["id"])

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if hours is not None:
            changes["seconds"] = round(hours * 3600)
        if client is not None:
            changes["project_id"] = self.sandbox.client_projects[self._clients[client]][0]
        if notes is not None:
            changes["description"] = notes
        self.sandbox.edit_entry(int(vendor_id), **changes)

    def delete_entry(self, vendor_id: str) -> None:
        self.sandbox.delete_entry(int(vendor_id))


def make_driver(clock: Callable[[], datetime]) -> TogglDriver:
    """A seeded Toggl sandbox behind the contract suite's driver interface."""
    return TogglDriver(clock)
