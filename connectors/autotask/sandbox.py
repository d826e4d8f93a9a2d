"""An Autotask PSA sandbox: a Starlette app that speaks ATServicesRest V1.0 for time entries and their lookups."""

from __future__ import annotations

import asyncio
import bisect
import json
import random
import re
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.sandbox_faults import Asked, DrivesFaults, FaultKit, InjectsFaults, Listing

# Sources (see shared/research/vendor-apis.md, Autotask section):
#   AT-swagger (api-evangelist/kaseya openapi/kaseya-timeentries-api-openapi.yml and siblings):
#     QueryModel {MaxRecords, IncludeFields, filter[{op, field, udf, value, items}]},
#     QueryActionResult {items, pageDetails {count, requestCount, prevPageUrl, nextPageUrl}},
#     TimeEntryModel / BillingCodeModel field names, header credentials on every operation.
#   Autotask Developer Help: REST_Basic_Query_Calls (ops), REST_Advanced_Query_Features
#     (MaxRecords 1..500, IncludeFields), ThreadLimiting (3 threads per endpoint per tracking
#     identifier; ZoneInformation exempt), REST_Thresholds_Limits (10,000 requests per rolling hour).
#   contractika-org/contractika data/at/timeentries.php: a recorded TimeEntries item.
#   apigrate/autotask-restapi#19: errors come as {"errors": [...]}; a wrong secret answers 401,
#     an unknown username or integration code answers 500.
#   Integrators' trackers: the thread limit answers 429 "API thread threshold of 3 threads has
#     been exceeded"; a GET on a POST query's next page answers 405 (ASP.NET's message).
# Not found, and chosen here: the hourly threshold's wording and status (429, as for threads),
# whether Retry-After is sent (it is not), the answer to MaxRecords > 500 or an unknown field
# (500 with an errors list, as Autotask answers other bad requests), and the 401 body.

ROOT = "atservicesrest"
API = "v1.0"
MAX_RECORDS = 500
HOURLY_THRESHOLD = 10_000
THRESHOLD_WINDOW = 3600.0
THREAD_LIMIT = 3
OWN_COMPANY = 0

STR, INT, FLOAT, BOOL, STAMP = "string", "integer", "double", "boolean", "datetime"

# Field types per entity, in Autotask's names (AT-swagger models; trimmed to what the sandbox holds).
FIELDS: dict[str, dict[str, str]] = {
    "TimeEntries": {
        "id": INT, "billingApprovalDateTime": STAMP, "billingApprovalLevelMostRecent": INT,
        "billingApprovalResourceID": INT, "billingCodeID": INT, "contractID": INT,
        "contractServiceBundleID": INT, "contractServiceID": INT, "createDateTime": STAMP,
        "creatorUserID": INT, "dateWorked": STAMP, "endDateTime": STAMP, "hoursToBill": FLOAT,
        "hoursWorked": FLOAT, "impersonatorCreatorResourceID": INT, "impersonatorUpdaterResourceID": INT,
        "internalBillingCodeID": INT, "internalNotes": STR, "isInternalNotesVisibleToComanaged": BOOL,
        "isNonBillable": BOOL, "lastModifiedDateTime": STAMP, "lastModifiedUserID": INT,
        "offsetHours": FLOAT, "resourceID": INT, "roleID": INT, "showOnInvoice": BOOL,
        "startDateTime": STAMP, "summaryNotes": STR, "taskID": INT, "ticketID": INT, "timeEntryType": INT,
    },
    "Tickets": {
        "id": INT, "ticketNumber": STR, "title": STR, "description": STR, "companyID": INT,
        "contactID": INT, "contractID": INT, "ticketType": INT, "status": INT, "priority": INT,
        "queueID": INT, "issueType": INT, "subIssueType": INT, "assignedResourceID": INT,
        "assignedResourceRoleID": INT, "createDate": STAMP, "lastActivityDate": STAMP,
        "dueDateTime": STAMP, "completedDate": STAMP, "projectID": INT,
    },
    "Projects": {
        "id": INT, "projectName": STR, "projectNumber": STR, "companyID": INT, "contractID": INT,
        "description": STR, "status": INT, "projectType": INT, "projectLeadResourceID": INT,
        "startDateTime": STAMP, "endDateTime": STAMP, "createDateTime": STAMP, "lastActivityDateTime": STAMP,
    },
    "Tasks": {
        "id": INT, "title": STR, "taskNumber": STR, "projectID": INT, "description": STR, "status": INT,
        "assignedResourceID": INT, "estimatedHours": FLOAT, "billingCodeID": INT, "isVisibleInClientPortal": BOOL,
        "createDateTime": STAMP, "lastActivityDateTime": STAMP,
    },
    "Resources": {
        "id": INT, "firstName": STR, "middleName": STR, "lastName": STR, "email": STR, "userName": STR,
        "title": STR, "isActive": BOOL, "resourceType": STR, "userType": INT, "officePhone": STR,
        "defaultServiceDeskRoleID": INT, "locationID": INT,
    },
    "Roles": {
        "id": INT, "name": STR, "description": STR, "hourlyFactor": FLOAT, "hourlyRate": FLOAT,
        "isActive": BOOL, "isExcludedFromNewContracts": BOOL, "isSystemRole": BOOL, "roleType": INT,
    },
    "BillingCodes": {
        "id": INT, "afterHoursWorkType": INT, "billingCodeType": INT, "department": INT, "description": STR,
        "externalNumber": STR, "generalLedgerAccount": INT, "isActive": BOOL, "isExcludedFromNewContracts": BOOL,
        "markupRate": FLOAT, "name": STR, "taxCategoryID": INT, "unitCost": FLOAT, "unitPrice": FLOAT, "useType": INT,
    },
    "Companies": {
        "id": INT, "companyName": STR, "companyNumber": STR, "companyType": INT, "isActive": BOOL, "phone": STR,
        "city": STR, "state": STR, "countryID": INT, "ownerResourceID": INT,
    },
}
ENTITIES = {name.casefold(): name for name in FIELDS}
_FOLDED = {entity: {f.casefold(): f for f in fields} for entity, fields in FIELDS.items()}

# Picklists served by entityInformation/fields. The labels are the usual system ticket types, not
# checked against a live database: the connector takes whatever labels the endpoint serves.
PICKLISTS: dict[str, dict[str, dict[int, str]]] = {
    "Tickets": {
        "ticketType": {1: "Service Request", 2: "Incident", 3: "Problem", 4: "Change Request", 5: "Alert"},
        "status": {1: "New", 5: "Complete", 7: "Waiting Customer", 8: "In Progress"},
        "priority": {1: "High", 2: "Medium", 3: "Low", 4: "Critical"},
    },
    "TimeEntries": {"timeEntryType": {1: "Regular Time", 2: "Ticket", 6: "Project Task"}},
}
SERVICE_REQUEST, INCIDENT, PROBLEM, CHANGE_REQUEST, ALERT = 1, 2, 3, 4, 5
REGULAR_TIME, TICKET_TIME, TASK_TIME = 1, 2, 6

REMOTE, ONSITE, MAINTENANCE, TRAVEL, ADMIN, REMOTE_AH, ONSITE_AH, PROJECT_WORK = range(29682801, 29682809)
_BILLING_CODES = (  # id, name, afterHoursWorkType, unitPrice, billable by default
    (REMOTE, "Remote Support", REMOTE_AH, 165.0), (ONSITE, "On-site Support", ONSITE_AH, 185.0),
    (MAINTENANCE, "Scheduled Maintenance", None, 150.0), (TRAVEL, "Travel", None, 95.0),
    (ADMIN, "Internal Admin", None, 0.0), (REMOTE_AH, "Remote Support - After Hours", None, 247.5),
    (ONSITE_AH, "On-site Support - After Hours", None, 277.5), (PROJECT_WORK, "Project Work", None, 175.0),
)
TECHNICIAN, SENIOR_ENGINEER, FIELD_ENGINEER = 29683355, 29683356, 29683357
_ROLES = ((TECHNICIAN, "Technician", 150.0), (SENIOR_ENGINEER, "Senior Engineer", 185.0),
          (FIELD_ENGINEER, "Field Engineer", 165.0))
_RESOURCES = (  # id, first, last, default role
    (29682885, "Ingrid", "Halvorsen", SENIOR_ENGINEER), (29682886, "Kwame", "Asante", TECHNICIAN),
    (29682887, "Rafael", "Quintero", FIELD_ENGINEER), (29682888, "Dmitri", "Volkov", TECHNICIAN),
    (29682889, "Siobhan", "Gallagher", SENIOR_ENGINEER),
)
API_RESOURCE = 29682900  # the API-only user; logs no time
_COMPANIES = ((OWN_COMPANY, "Northbridge IT", 5), (174, "Acme Dental", 1), (175, "Birchwood Legal", 1),
              (176, "Cobalt Logistics", 1), (177, "Delta Veterinary Clinic", 1))
_CLIENT_COMPANIES = (174, 175, 176, 177)
_REFERENCE_DAY = date(2026, 1, 5)  # reference data never depends on the clock

_TICKETS: dict[int, tuple[tuple[str, int], ...]] = {
    174: (("X-ray imaging PC cannot reach the sensor licence server", INCIDENT),
          ("New hygienist starting Monday: account and laptop", SERVICE_REQUEST),
          ("Reception printer dropping off the network", INCIDENT),
          ("Patient check-in kiosk frozen", INCIDENT),
          ("Monthly patching: workstations and servers", CHANGE_REQUEST),
          ("Backup job failing overnight", ALERT),
          ("Phishing email reported by staff", INCIDENT),
          ("Replace failing switch in the comms cupboard", SERVICE_REQUEST)),
    175: (("Document add-in fails to save to matter folders", INCIDENT),
          ("Secure external share for a court bundle", SERVICE_REQUEST),
          ("Partner's laptop slow to sign in", INCIDENT),
          ("Leaver offboarding: paralegal", SERVICE_REQUEST),
          ("Monthly patching: workstations and servers", CHANGE_REQUEST),
          ("Recurring Outlook profile corruption", PROBLEM),
          ("Disk space alert on the file server", ALERT),
          ("Meeting room screen and presentation dongle", SERVICE_REQUEST)),
    176: (("Warehouse scanners not syncing", INCIDENT),
          ("Dock 3 label printer prints blank labels", INCIDENT),
          ("New starters in dispatch: accounts and MFA", SERVICE_REQUEST),
          ("Firewall rule blocks the carrier portal", INCIDENT),
          ("Monthly patching: workstations and servers", CHANGE_REQUEST),
          ("UPS on battery alert", ALERT),
          ("VPN drops for remote drivers", PROBLEM),
          ("Cable three new network points in the back office", SERVICE_REQUEST)),
    177: (("Practice system slow at reception", INCIDENT),
          ("Kennel camera feed offline", INCIDENT),
          ("New vet nurse: account and email", SERVICE_REQUEST),
          ("Monthly patching: workstations and servers", CHANGE_REQUEST),
          ("Certificate expiring on the guest Wi-Fi", ALERT),
          ("Lab results import failing", PROBLEM),
          ("Door access controller offline", INCIDENT),
          ("Move the server UPS onto its own circuit", SERVICE_REQUEST)),
    OWN_COMPANY: (("Internal: RMM agent rollout to new clients", SERVICE_REQUEST),
                  ("Internal: documentation sprint", SERVICE_REQUEST),
                  ("Internal: lab server maintenance", CHANGE_REQUEST)),
}
_PROJECTS = (  # id, company, name, tasks
    (4101, 174, "Practice management system upgrade",
     ("Plan the cut-over weekend", "Migrate patient records", "Train front-desk staff")),
    (4102, 176, "Warehouse Wi-Fi refresh",
     ("Site survey", "Install access points", "Roam-test the handheld scanners")),
    (4103, OWN_COMPANY, "Service desk tooling",
     ("Build ticket templates", "Write onboarding checklists")),
)

# ---------------------------------------------------------------------------------------------
# Seed vocabulary: client-facing summary notes (some naming a colleague, as real notes do),
# internal notes that must never reach a client, travel and after-hours work.
# ---------------------------------------------------------------------------------------------
_REMOTE_NOTES = (
    "Reset MFA for the front desk account after a phone swap",
    "Unlocked the reception account after too many failed sign-ins",
    "Reserved the printer's IP address and rebuilt the print queue",
    "Rebuilt the office manager's Outlook profile; mailbox back in sync",
    "Removed stale mapped drives from the logon script; sign-in is quick again",
    "Reordered the firewall rules and confirmed remote access works",
    "Gave the new starter access to the shared bookings mailbox",
    "Moved old scan archives to cold storage to free space on the file server",
    "Re-ran the failed backup job and confirmed the restore points are current",
    "Updated headset drivers and the Teams client; call audio is stable",
    "Restored a deleted folder on the shared drive from last night's snapshot",
    "Purged the phishing email from all mailboxes and blocked the sender domain",
    "Set up the account, licence, laptop enrolment and MFA for the new starter",
    "Blocked sign-in for the leaver, converted the mailbox to shared and reclaimed the licence",
)
_ONSITE_NOTES = (
    "Replaced the failed switch and re-patched the floor",
    "Installed and configured two new workstations at the front desk",
    "Cabled and tested three new network points",
    "Swapped the failing NAS drive and let the array rebuild",
    "Set up the meeting-room screen and wireless presentation dongle",
)
_MAINTENANCE_NOTES = (
    "Monthly Windows updates on all workstations; two needed a second reboot",
    "Patched the file server and rebooted in the maintenance window",
    "Firmware update on the firewall and both access points",
    "Test restore of the accounts database to a scratch VM; restore verified",
)
_AFTER_HOURS_NOTES = (
    "Evening call: internet down at the main site; ISP fault, failed over to the 4G backup",
    "Call-out after a power cut: brought the server and its services back in order",
    "Security alert on one workstation; isolated it and confirmed the backups are clean",
    "Email not sending; cleared the stuck outbound queue",
)
_PROJECT_NOTES = (
    "Worked through the task checklist with the client's lead",
    "Configured and tested the new setup; handed over notes to the client",
    "Prepared the cut-over plan and confirmed the schedule with the client",
)
_ADMIN_NOTES = ("Updated the client runbooks", "Monthly licence reconciliation",
                "Reviewed open tickets and planned next week's visits")
_TRAVEL_NOTES = ("Travel to {company}", "Travel to site", "Return travel from {company}")
_MENTIONS = (
    "Handed over to {first} for the firewall change",
    "{first} called the practice manager back to confirm",
    "Escalated to {full} for the directory sync issue",
    "Picked up from {first}'s earlier session",
    "Paired with {full} on the fix",
)
_INTERNAL = (
    "Their admin password is on a sticky note under the keyboard",
    "Slow payer: check with accounts before ordering hardware",
    "Caused by our change last week, do not bill",
    "Quote them for a new firewall next quarter",
    "{first} spent an extra hour on this off the clock",
    "Local admin still uses the default password; fix at next visit",
)
_ODD_HOURS = (0.17, 0.33, 0.42, 0.58, 0.83, 1.33)
_KINDS = ("remote", "onsite", "maintenance", "after_hours", "project", "admin")
_KIND_WEIGHTS = (52, 12, 10, 10, 8, 8)


class QueryError(ValueError):
    """A query Autotask refuses; answered 500 with ``{"errors": [message]}``."""


# Where the kit finds the TimeEntries listing: a query, continued by its nextPageUrl (…/query/next).
LISTING = Listing(re.compile(r"(?i)/v1\.0/timeentries/query(/next)?$"), items=("items",),
                  next_page=lambda asked: asked.path.casefold().endswith("/query/next"))


def _errors(message: str, status: int) -> JSONResponse:
    return JSONResponse({"errors": [message]}, status_code=status)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stamp(moment: datetime) -> str:
    """Created/modified times as Autotask writes them: UTC with milliseconds."""
    moment = _utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _whole(moment: datetime) -> str:
    """Start/end times and dates as Autotask writes them: whole seconds, UTC."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: date) -> str:
    return f"{value.isoformat()}T00:00:00Z"


@lru_cache(maxsize=131_072)
def _instant(text: str) -> datetime:
    """A filter value or stored stamp as an aware datetime; a bare date is its midnight UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _coerce(value: Any, kind: str, field: str) -> Any:
    """A filter value as the field's type, compared the way SQL Server's default collation does."""
    if value is None:
        return None
    try:
        if kind == STAMP:
            return _instant(str(value))
        if kind == INT:
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind == FLOAT:
            return float(value)
        if kind == BOOL:
            if isinstance(value, str):
                if value.casefold() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.casefold() in ("true", "1")
            return bool(value)
        return str(value).casefold()
    except (TypeError, ValueError):
        raise QueryError(f"Value {value!r} is not valid for field {field}.") from None


def _key(record: Mapping[str, Any], field: str, kind: str) -> Any:
    value = record.get(field)
    if value is None:
        return None
    if kind == STAMP:
        return _instant(value)
    if kind == STR:
        return str(value).casefold()
    return value


Predicate = Callable[[Mapping[str, Any]], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b, "noteq": lambda a, b: a != b,
    "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    "beginswith": lambda a, b: a.startswith(b), "endswith": lambda a, b: a.endswith(b),
    "contains": lambda a, b: b in a,
}


def compile_filter(node: Any, entity: str) -> Predicate:
    """One QueryModel filter node (ops of REST_Basic_Query_Calls, nested and/or) as a predicate."""
    if not isinstance(node, Mapping):
        raise QueryError("Each filter must be an object with op, field and value.")
    op = str(node.get("op", "")).casefold()
    if op in ("and", "or"):
        items = node.get("items")
        if not isinstance(items, list) or not items:
            raise QueryError(f"The {op} operator needs a non-empty items array.")
        parts = [compile_filter(item, entity) for item in items]
        if op == "and":
            return lambda r: all(p(r) for p in parts)
        return lambda r: any(p(r) for p in parts)
    if node.get("udf"):
        raise QueryError(f"The {entity} entity has no user-defined field {node.get('field')!r}.")
    field = _FOLDED[entity].get(str(node.get("field", "")).casefold())
    if field is None:
        raise QueryError(f"Unable to find the field {node.get('field')!r} in the {entity} entity.")
    kind = FIELDS[entity][field]
    if op == "exist":
        return lambda r: r.get(field) not in (None, "")
    if op == "notexist":
        return lambda r: r.get(field) in (None, "")
    value = node.get("value")
    if op in ("in", "notin"):
        if not isinstance(value, list):
            raise QueryError(f"The {op} operator needs an array value.")
        wanted = frozenset(_coerce(v, kind, field) for v in value)
        if op == "in":
            return lambda r: _key(r, field, kind) in wanted
        return lambda r: _key(r, field, kind) not in wanted
    compare = _COMPARE.get(op)
    if compare is None:
        raise QueryError(f"Unknown operator {node.get('op')!r}.")
    if op in ("beginswith", "endswith", "contains") and kind != STR:
        raise QueryError(f"The {op} operator applies to text fields only.")
    target = _coerce(value, kind, field)

    def check(record: Mapping[str, Any]) -> bool:
        actual = _key(record, field, kind)
        if actual is None or target is None:
            return op == "noteq" and (actual is None) != (target is None)
        return compare(actual, target)

    return check


def _get(mapping: Mapping[str, Any], name: str) -> Any:
    """A QueryModel key, whatever its case (the swagger says maxRecords, the docs MaxRecords)."""
    for key, value in mapping.items():
        if key.casefold() == name.casefold():
            return value
    return None


def parse_query(spec: Any, entity: str) -> tuple[Predicate, int, list[str], Any]:
    """A QueryModel as (predicate, MaxRecords, IncludeFields, canonical filter for caching)."""
    if not isinstance(spec, Mapping):
        raise QueryError("The query must be a JSON object.")
    max_records = _get(spec, "MaxRecords")
    if max_records is None:
        max_records = MAX_RECORDS
    if isinstance(max_records, bool) or not isinstance(max_records, int) or not 1 <= max_records <= MAX_RECORDS:
        raise QueryError(f"MaxRecords must be an integer between 1 and {MAX_RECORDS}.")
    filters = _get(spec, "filter")
    if not isinstance(filters, list) or not filters:
        raise QueryError("A query needs at least one filter.")
    predicate = compile_filter({"op": "and", "items": filters}, entity)
    include = _get(spec, "IncludeFields") or []
    if not isinstance(include, list):
        raise QueryError("IncludeFields must be an array of field names.")
    fields = []
    for name in include:
        field = _FOLDED[entity].get(str(name).casefold())
        if field is None:
            raise QueryError(f"Unable to find the field {name!r} in the {entity} entity.")
        fields.append(field)
    return predicate, max_records, fields, json.dumps(filters, sort_keys=True, default=str)


class AutotaskSandbox(InjectsFaults):
    """An in-memory Autotask database behind ATServicesRest V1.0.

    ``tables`` holds every entity's records in wire form, keyed by id (change them through
    the mutation methods so selections stay right). ``counters`` counts requests ("requests",
    "time_entries", "lookups", "zone", "threshold_reads", "401", "405", "429", "500").
    """

    def __init__(
        self,
        *,
        username: str = "syncd-api@northbridge-it.example",
        secret: str = "sandbox-secret",
        integration_code: str = "SANDBOXTRACKINGID0001",
        clock: Callable[[], datetime] | None = None,
        threshold: int = HOURLY_THRESHOLD,
        threshold_window: float = THRESHOLD_WINDOW,
        thread_limit: int = THREAD_LIMIT,
        next_page_by_get: bool = True,
    ) -> None:
        self.username = username
        self.secret = secret
        self.integration_code = integration_code
        self.threshold = threshold
        self.threshold_window = threshold_window
        self.thread_limit = thread_limit
        self.next_page_by_get = next_page_by_get
        self.counters: Counter[str] = Counter()
        self.faults = FaultKit(counters=self.counters, listing=LISTING, refuse=self._refused,
                               throttles={"thread": self._thread_limited, "threshold": self._over_threshold},
                               base_clock=clock or (lambda: datetime.now(UTC)))
        self._clock = self.faults.clock
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in FIELDS}
        self._versions: Counter[str] = Counter()
        self._selections: dict[tuple[str, str], tuple[int, list[int]]] = {}
        self._hits: deque[float] = deque()
        self._in_flight: Counter[str] = Counter()
        self.hold: asyncio.Event | None = None  # while set and not fired, query handlers wait (thread-limit tests)
        self._next_entry_id = 54_000
        self._next_ticket_id = 7_401
        self._ticket_numbers: Counter[str] = Counter()
        self._build_reference_data()
        self.app = self.faults.wrap(Starlette(
            routes=[Route("/{path:path}", self._dispatch, methods=["GET", "POST"])],
            middleware=[Middleware(_Gate, sandbox=self)],
        ))

    # ----------------------------------------------------------------- reference data

    def _build_reference_data(self) -> None:
        created = datetime.combine(_REFERENCE_DAY, time(9), UTC)
        for cid, name, ctype in _COMPANIES:
            self.tables["Companies"][cid] = {
                "id": cid, "companyName": name, "companyNumber": f"C{cid:05d}", "companyType": ctype,
                "isActive": True, "phone": "555-0100", "city": "Springfield", "state": "IL", "countryID": 237,
                "ownerResourceID": _RESOURCES[0][0], "userDefinedFields": [],
            }
        for rid, first, last, role in _RESOURCES:
            self.tables["Resources"][rid] = self._resource(rid, first, last, role)
        self.tables["Resources"][API_RESOURCE] = {
            **self._resource(API_RESOURCE, "syncd", "API", TECHNICIAN), "email": self.username,
            "userName": self.username, "resourceType": "API User", "userType": 10,
        }
        for rid, name, rate in _ROLES:
            self.tables["Roles"][rid] = {
                "id": rid, "name": name, "description": name, "hourlyFactor": 1.0, "hourlyRate": rate,
                "isActive": True, "isExcludedFromNewContracts": False, "isSystemRole": False, "roleType": 1,
            }
        for code_id, name, after_hours, price in _BILLING_CODES:
            self.tables["BillingCodes"][code_id] = {
                "id": code_id, "afterHoursWorkType": after_hours, "billingCodeType": 0, "department": 29682833,
                "description": name, "externalNumber": "", "generalLedgerAccount": None, "isActive": True,
                "isExcludedFromNewContracts": False, "markupRate": None, "name": name, "taxCategoryID": None,
                "unitCost": None, "unitPrice": price, "useType": 1,
            }
        for index, (cid, titles) in enumerate(_TICKETS.items()):
            for offset, (title, kind) in enumerate(titles):
                self.add_ticket(cid, title, ticket_type=kind,
                                created=created + timedelta(days=offset * 3 + index, minutes=offset * 7))
        for pid, cid, name, tasks in _PROJECTS:
            self.tables["Projects"][pid] = {
                "id": pid, "projectName": name, "projectNumber": f"P2026{pid % 1000:04d}", "companyID": cid,
                "contractID": self._contract(cid), "description": name, "status": 1, "projectType": 5,
                "projectLeadResourceID": _RESOURCES[0][0], "startDateTime": _whole(created),
                "endDateTime": _whole(created + timedelta(days=180)), "createDateTime": _stamp(created),
                "lastActivityDateTime": _stamp(created), "userDefinedFields": [],
            }
            for n, title in enumerate(tasks, start=1):
                tid = pid * 10 + n
                self.tables["Tasks"][tid] = {
                    "id": tid, "title": title, "taskNumber": f"T{pid}.{n:03d}", "projectID": pid,
                    "description": title, "status": 1, "assignedResourceID": _RESOURCES[n % 5][0],
                    "estimatedHours": 8.0, "billingCodeID": PROJECT_WORK, "isVisibleInClientPortal": True,
                    "createDateTime": _stamp(created), "lastActivityDateTime": _stamp(created),
                }
        self._bump("Companies", "Resources", "Roles", "BillingCodes", "Projects", "Tasks")

    def _resource(self, rid: int, first: str, last: str, role: int) -> dict[str, Any]:
        email = f"{first.lower()}.{last.lower()}@northbridge-it.example"
        return {
            "id": rid, "firstName": first, "middleName": "", "lastName": last, "email": email,
            "userName": email, "title": "Engineer", "isActive": True, "resourceType": "Employee",
            "userType": 1, "officePhone": "555-0101", "defaultServiceDeskRoleID": role, "locationID": 1,
        }

    def add_company(self, name: str) -> int:
        """A new client company (for benchmarks with many clients); returns its id."""
        cid = 600_000 + len(self.tables["Companies"])
        self.tables["Companies"][cid] = {
            "id": cid, "companyName": name, "companyNumber": f"C{cid:05d}", "companyType": 1, "isActive": True,
            "phone": "555-0100", "city": "Springfield", "state": "IL", "countryID": 237,
            "ownerResourceID": _RESOURCES[0][0], "userDefinedFields": [],
        }
        self._bump("Companies")
        return cid

    @staticmethod
    def _contract(company_id: int) -> int | None:
        return None if company_id == OWN_COMPANY else 29683300 + company_id

    def add_ticket(self, company_id: int, title: str, *, ticket_type: int = INCIDENT,
                   created: datetime | None = None) -> int:
        """A new ticket for a company; returns its id."""
        if company_id not in self.tables["Companies"]:
            raise KeyError(f"unknown company {company_id}")
        created = _utc(created) if created is not None else self._now()
        day = created.strftime("%Y%m%d")
        self._ticket_numbers[day] += 1
        tid, self._next_ticket_id = self._next_ticket_id, self._next_ticket_id + 1
        self.tables["Tickets"][tid] = {
            "id": tid, "ticketNumber": f"T{day}.{self._ticket_numbers[day]:04d}", "title": title,
            "description": title, "companyID": company_id, "contactID": None,
            "contractID": self._contract(company_id), "ticketType": ticket_type, "status": 8,
            "priority": 2, "queueID": 29682833, "issueType": None, "subIssueType": None,
            "assignedResourceID": _RESOURCES[tid % 5][0], "assignedResourceRoleID": TECHNICIAN,
            "createDate": _stamp(created), "lastActivityDate": _stamp(created), "dueDateTime": None,
            "completedDate": None, "projectID": None, "userDefinedFields": [],
        }
        self._bump("Tickets")
        return tid

    def edit_ticket(self, ticket_id: int, **changes: Any) -> dict[str, Any]:
        """Change a ticket (e.g. ``companyID`` moves it); its time entries are not touched."""
        ticket = self.tables["Tickets"][ticket_id]
        unknown = set(changes) - set(FIELDS["Tickets"])
        if unknown:
            raise TypeError(f"edit_ticket() got unknown field(s): {', '.join(sorted(unknown))}")
        ticket.update(changes)
        ticket["lastActivityDate"] = _stamp(self._now())
        self._bump("Tickets")
        return ticket

    def tickets_of(self, company_id: int) -> list[int]:
        """The ids of a company's tickets, oldest first."""
        return [t for t, row in self.tables["Tickets"].items() if row["companyID"] == company_id]

    def tasks_of(self, company_id: int) -> list[int]:
        """The ids of the tasks on a company's projects."""
        projects = {p for p, row in self.tables["Projects"].items() if row["companyID"] == company_id}
        return [t for t, row in self.tables["Tasks"].items() if row["projectID"] in projects]

    # ----------------------------------------------------------------- faults

    def use_requests(self, n: int) -> None:
        """Count ``n`` requests from the MSP's other integrations against the hourly threshold, now."""
        now = self._now().timestamp()
        self._hits.extend([now] * n)

    # ----------------------------------------------------------------- data changes

    def add_entry(
        self,
        *,
        resource_id: int,
        hours: float,
        ticket_id: int | None = None,
        task_id: int | None = None,
        billing_code_id: int | None = None,
        summary_notes: str | None = None,
        internal_notes: str | None = None,
        date_worked: date | None = None,
        start: datetime | None = None,
        non_billable: bool = False,
        role_id: int | None = None,
    ) -> dict[str, Any]:
        """Log time now (createDateTime = lastModifiedDateTime = the clock) and return the wire dict.

        With ``start`` (UTC) the entry has start and end times, as ticket time has in Autotask;
        without, it is hours on a day, as regular time can be.
        """
        now = self._now()
        entry = self._wire(
            entry_id=self._take_id(), resource_id=resource_id, hours=hours, ticket_id=ticket_id,
            task_id=task_id, billing_code_id=billing_code_id, summary=summary_notes, internal=internal_notes,
            worked=date_worked or (start.date() if start else now.date()), start=start,
            non_billable=non_billable, role_id=role_id, created=now, modified=now, approved=None,
        )
        self.tables["TimeEntries"][entry["id"]] = entry
        self._bump("TimeEntries")
        return entry

    def edit_entry(self, entry_id: int, **changes: Any) -> dict[str, Any]:
        """Change an entry in wire terms and bump its lastModifiedDateTime; returns it.

        ``hoursWorked`` also moves ``endDateTime`` (and ``hoursToBill``); ``ticketID`` or
        ``taskID`` moves the entry to other work (and so, possibly, to another company).
        """
        unknown = set(changes) - set(FIELDS["TimeEntries"])
        if unknown:
            raise TypeError(f"edit_entry() got unknown field(s): {', '.join(sorted(unknown))}")
        entry = self.tables["TimeEntries"][entry_id]
        if changes.get("ticketID") is not None and changes["ticketID"] not in self.tables["Tickets"]:
            raise KeyError(f"unknown ticket {changes['ticketID']}")
        entry.update(changes)
        if "ticketID" in changes and changes["ticketID"] is not None:
            entry["taskID"], entry["timeEntryType"] = None, TICKET_TIME
        if "hoursWorked" in changes:
            hours = round(float(changes["hoursWorked"]), 4)
            entry["hoursWorked"] = entry["hoursToBill"] = hours
            if entry["startDateTime"]:
                entry["endDateTime"] = _whole(_instant(entry["startDateTime"]) + timedelta(hours=hours))
        if "isNonBillable" in changes:
            entry["showOnInvoice"] = not changes["isNonBillable"]
        now = self._now()
        entry["lastModifiedDateTime"] = _stamp(now)
        entry["lastModifiedUserID"] = entry["resourceID"]
        self._bump("TimeEntries")
        return entry

    def delete_entry(self, entry_id: int) -> None:
        """Remove an entry; Autotask keeps no tombstone, it simply stops being listed."""
        del self.tables["TimeEntries"][entry_id]
        self._bump("TimeEntries")

    def seed(self, *, seed: int = 11, days: int = 70, per_day: int = 12, now: datetime | None = None) -> None:
        """Add a realistic, deterministic history: ``days`` days up to ``now``, ~``per_day`` entries a weekday.

        Ticket work with start and end times, travel around on-site visits, evening call-outs
        on after-hours work types, project task time, non-billable regular time, summary notes
        that name colleagues and internal notes. Entries older than a week are approved.
        Same ``seed`` and ``now`` give the same entries.
        """
        now = _utc(now) if now is not None else self._now()
        rng = random.Random(seed)
        plans: list[dict[str, Any]] = []
        for back in range(days - 1, -1, -1):
            plans.extend(self._plan_day(rng, now.date() - timedelta(days=back), per_day))
        plans = [p for p in plans if p["created"] <= now]
        plans.sort(key=lambda p: p["created"])  # ids grow with creation time
        table = self.tables["TimeEntries"]
        for plan in plans:
            plan["modified"] = min(plan["modified"], now)
            approved = plan["created"] + timedelta(days=7, hours=2)
            plan["approved"] = approved if approved <= now - timedelta(days=1) else None
            entry = self._wire(entry_id=self._take_id(), **plan)
            table[entry["id"]] = entry
        self._bump("TimeEntries")

    # ----------------------------------------------------------------- seeding helpers

    def _plan_day(self, rng: random.Random, day: date, per_day: int) -> list[dict[str, Any]]:
        plans: list[dict[str, Any]] = []
        cursors: dict[int, int] = {}  # each technician works through the day back to back

        def slot(resource: int, minutes: int) -> int:
            start = cursors.get(resource, 8 * 60 + rng.choice((0, 15, 30)))
            cursors[resource] = start + minutes + rng.choice((0, 5, 10, 15, 30))
            return min(start, 23 * 60 - minutes)

        def add(kind: str, resource: int, hours: float, start: int | None, *, company: int,
                ticket: int | None = None, task: int | None = None, code: int, non_billable: bool = False) -> None:
            minutes = round(hours * 60)
            begin = datetime.combine(day, time(), UTC) + timedelta(minutes=start) if start is not None else None
            created = (begin + timedelta(minutes=minutes + rng.randint(1, 25)) if begin
                       else datetime.combine(day, time(17, rng.randint(0, 59)), UTC))
            modified = created
            if rng.random() < 0.08:  # corrected later: the next morning or so
                modified = created + timedelta(minutes=rng.randint(60, 3 * 24 * 60))
            summary, internal = self._notes(rng, kind, company, resource)
            plans.append({
                "resource_id": resource, "hours": hours, "ticket_id": ticket, "task_id": task,
                "billing_code_id": code, "summary": summary, "internal": internal, "worked": day,
                "start": begin, "non_billable": non_billable, "role_id": None,
                "created": created, "modified": modified,
            })

        resources = [r[0] for r in _RESOURCES]
        if day.weekday() >= 5:  # weekends: the odd emergency
            for _ in range(rng.choice((0, 1, 1, 2))):
                company = rng.choice(_CLIENT_COMPANIES)
                add("after_hours", rng.choice(resources), _pick_hours(rng, 2, 8), rng.randrange(9 * 60, 20 * 60, 15),
                    company=company, ticket=rng.choice(self.tickets_of(company)), code=REMOTE_AH)
            return plans
        while len(plans) < per_day:
            kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
            company, resource = rng.choice(_CLIENT_COMPANIES), rng.choice(resources)
            ticket = rng.choice(self.tickets_of(company))
            if kind == "onsite":  # travel there, the visit, and often travel back, all on the ticket
                trip = rng.choice((0.5, 0.75, 1.0))
                add("travel", resource, trip, slot(resource, round(trip * 60)), company=company, ticket=ticket,
                    code=TRAVEL)
                hours = _pick_hours(rng, 4, 12)
                add(kind, resource, hours, slot(resource, round(hours * 60)), company=company, ticket=ticket,
                    code=ONSITE)
                if rng.random() < 0.5:
                    add("travel", resource, trip, slot(resource, round(trip * 60)), company=company, ticket=ticket,
                        code=TRAVEL)
            elif kind == "after_hours":
                add(kind, resource, _pick_hours(rng, 1, 8), rng.randrange(18 * 60 + 30, 21 * 60 + 31, 15),
                    company=company, ticket=ticket, code=REMOTE_AH)
            elif kind == "maintenance":
                hours = _pick_hours(rng, 2, 8)
                add(kind, resource, hours, slot(resource, round(hours * 60)), company=company, ticket=ticket,
                    code=MAINTENANCE)
            elif kind == "project":
                project_company = rng.choice((174, 176, OWN_COMPANY))
                hours = _pick_hours(rng, 2, 12)
                add(kind, resource, hours, slot(resource, round(hours * 60)), company=project_company,
                    task=rng.choice(self.tasks_of(project_company)), code=PROJECT_WORK,
                    non_billable=project_company == OWN_COMPANY)
            elif kind == "admin":  # regular time: no ticket, no task, no client
                add(kind, resource, _pick_hours(rng, 1, 4), None, company=OWN_COMPANY, code=ADMIN, non_billable=True)
            else:
                hours = _pick_hours(rng, 1, 8)
                add(kind, resource, hours, slot(resource, round(hours * 60)), company=company, ticket=ticket,
                    code=REMOTE, non_billable=rng.random() < 0.04)
        return plans

    def _notes(self, rng: random.Random, kind: str, company: int, resource: int) -> tuple[str | None, str | None]:
        """A summary note (sometimes naming a colleague) and, now and then, an internal note."""
        pool = {"remote": _REMOTE_NOTES, "onsite": _ONSITE_NOTES, "maintenance": _MAINTENANCE_NOTES,
                "after_hours": _AFTER_HOURS_NOTES, "project": _PROJECT_NOTES, "admin": _ADMIN_NOTES,
                "travel": _TRAVEL_NOTES}[kind]
        note = rng.choice(pool).format(company=self.tables["Companies"][company]["companyName"])
        if kind == "travel":
            return note, None
        _, first, last, _ = rng.choice([r for r in _RESOURCES if r[0] != resource])
        names = {"first": first, "full": f"{first} {last}"}
        if rng.random() < 0.15:
            note = f"{note}. {rng.choice(_MENTIONS).format(**names)}"
        internal = rng.choice(_INTERNAL).format(**names) if rng.random() < 0.15 else None
        return note, internal

    # ----------------------------------------------------------------- storage

    def _take_id(self) -> int:
        entry_id, self._next_entry_id = self._next_entry_id, self._next_entry_id + 1
        return entry_id

    def _now(self) -> datetime:
        return _utc(self._clock())

    def _bump(self, *entities: str) -> None:
        for entity in entities:
            self._versions[entity] += 1

    def _wire(
        self, *, entry_id: int, resource_id: int, hours: float, ticket_id: int | None, task_id: int | None,
        billing_code_id: int | None, summary: str | None, internal: str | None, worked: date,
        start: datetime | None, non_billable: bool, role_id: int | None, created: datetime, modified: datetime,
        approved: datetime | None,
    ) -> dict[str, Any]:
        """One entry in the TimeEntryModel's shape and key order (AT-swagger; contractika's sample)."""
        if resource_id not in self.tables["Resources"]:
            raise KeyError(f"unknown resource {resource_id}")
        if ticket_id is not None and ticket_id not in self.tables["Tickets"]:
            raise KeyError(f"unknown ticket {ticket_id}")
        if task_id is not None and task_id not in self.tables["Tasks"]:
            raise KeyError(f"unknown task {task_id}")
        if ticket_id is not None:
            company = self.tables["Tickets"][ticket_id]["companyID"]
        elif task_id is not None:
            company = self.tables["Projects"][self.tables["Tasks"][task_id]["projectID"]]["companyID"]
        else:
            company = OWN_COMPANY
        code = billing_code_id or (REMOTE if ticket_id else PROJECT_WORK if task_id else ADMIN)
        hours = round(float(hours), 4)
        role = role_id or self.tables["Resources"][resource_id]["defaultServiceDeskRoleID"]
        return {
            "id": entry_id,
            "billingApprovalDateTime": _stamp(approved) if approved else None,
            "billingApprovalLevelMostRecent": 1 if approved else 0,
            "billingApprovalResourceID": _RESOURCES[0][0] if approved else None,
            "billingCodeID": code,
            "contractID": self._contract(company) if not non_billable else None,
            "contractServiceBundleID": None,
            "contractServiceID": None,
            "createDateTime": _stamp(created),
            "creatorUserID": resource_id,
            "dateWorked": _day(worked),
            "endDateTime": _whole(start + timedelta(hours=hours)) if start else None,
            "hoursToBill": hours,
            "hoursWorked": hours,
            "impersonatorCreatorResourceID": None,
            "impersonatorUpdaterResourceID": None,
            "internalBillingCodeID": code,
            "internalNotes": internal,
            "isInternalNotesVisibleToComanaged": False,
            "isNonBillable": non_billable,
            "lastModifiedDateTime": _stamp(modified),
            "lastModifiedUserID": resource_id,
            "offsetHours": 0.0,
            "resourceID": resource_id,
            "roleID": role,
            "showOnInvoice": not non_billable,
            "startDateTime": _whole(start) if start else None,
            "summaryNotes": summary,
            "taskID": task_id,
            "ticketID": ticket_id,
            "timeEntryType": TICKET_TIME if ticket_id else TASK_TIME if task_id else REGULAR_TIME,
        }

    def select(self, entity: str, predicate: Predicate, key: str) -> list[int]:
        """Ids of ``entity`` matching ``predicate`` in ascending order, computed once per data version."""
        cached = self._selections.get((entity, key))
        version = self._versions[entity]
        if cached is not None and cached[0] == version:
            return cached[1]
        ids = sorted(i for i, row in self.tables[entity].items() if predicate(row))
        if len(self._selections) >= 64:
            self._selections.clear()
        self._selections[(entity, key)] = (version, ids)
        return ids

    # ----------------------------------------------------------------- HTTP

    def _gate(self, scope: Scope) -> tuple[Response | None, str | None]:
        """Checks every request passes before routing: (refusal, thread-limited endpoint)."""
        parts = _parts(scope["path"])
        endpoint = parts[0] if parts else ""
        if endpoint == "zoneinformation":
            return None, None  # needs no tracking identifier, and is not thread-limited
        headers = Headers(scope=scope)
        user, secret, code = headers.get("username"), headers.get("secret"), headers.get("apiintegrationcode")
        if not (user and secret and code) or (
                user.casefold() == self.username.casefold() and code == self.integration_code
                and secret != self.secret):
            return self._refused(), None
        if user.casefold() != self.username.casefold() or code != self.integration_code:
            # apigrate/autotask-restapi#19: an unknown username or integration code answers 500.
            self.counters["500"] += 1
            return _errors("The user or the API tracking identifier could not be validated.", 500), None
        now = self._now().timestamp()
        while self._hits and self._hits[0] <= now - self.threshold_window:
            self._hits.popleft()
        if len(self._hits) >= self.threshold:
            return self._over_threshold(None, None), None
        if self._in_flight[endpoint] >= self.thread_limit:
            return self._throttled(_thread_message(self.thread_limit), None), None
        self._hits.append(now)
        self._in_flight[endpoint] += 1
        return None, endpoint

    def _release(self, endpoint: str) -> None:
        self._in_flight[endpoint] -= 1

    def _refused(self, asked: Asked | None = None) -> Response | None:
        """A revoked API user's answer (zone discovery needs no credentials)."""
        if asked is not None and _parts(asked.path)[:1] == ["zoneinformation"]:
            return None
        self.counters["401"] += 1
        return _errors("Unauthorized: the credentials provided are not valid.", 401)

    def _thread_limited(self, asked: Asked | None, retry_after: int | None) -> Response:
        return self._throttled(_thread_message(self.thread_limit), retry_after)

    def _over_threshold(self, asked: Asked | None, retry_after: int | None) -> Response:
        minutes = round(self.threshold_window / 60)
        return self._throttled(f"The request threshold of {self.threshold} requests per {minutes} minutes has "
                               "been exceeded for this database.", retry_after)

    def _throttled(self, message: str, retry_after: int | None) -> Response:
        self.counters["429"] += 1
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        return JSONResponse({"errors": [message]}, status_code=429, headers=headers)

    async def _dispatch(self, request: Request) -> Response:
        parts = _parts(request.url.path)
        if not parts:
            return _errors("The requested resource was not found.", 404)
        if parts == ["zoneinformation"] and request.method == "GET":
            return self._zone(request)
        if parts == ["thresholdinformation"] and request.method == "GET":
            return self._threshold_information()
        entity = ENTITIES.get(parts[0])
        if entity is None:
            return _errors("The requested resource was not found.", 404)
        if parts[1:] == ["entityinformation", "fields"] and request.method == "GET":
            self.counters["lookups"] += 1
            return JSONResponse({"fields": _field_information(entity)})
        if parts[1:] == ["query"]:
            return await self._query(request, entity, next_page=False)
        if parts[1:] == ["query", "next"]:
            if request.method == "GET" and not self.next_page_by_get:
                # ASP.NET Web API's answer when a route takes POST only.
                self.counters["405"] += 1
                return JSONResponse({"Message": "The requested resource does not support http method 'GET'."},
                                    status_code=405)
            return await self._query(request, entity, next_page=True)
        return _errors("The requested resource was not found.", 404)

    def _zone(self, request: Request) -> Response:
        self.counters["zone"] += 1
        user = request.query_params.get("user", "")
        if user.casefold() != self.username.casefold():
            self.counters["500"] += 1
            return _errors(f"Zone information could not be found for user {user!r}.", 500)
        base = str(request.base_url).rstrip("/")
        return JSONResponse({"zoneName": "Sandbox (loopback)", "url": f"{base}/{ROOT}/",
                             "webUrl": f"{base}/", "ci": 0})

    def _threshold_information(self) -> Response:
        self.counters["threshold_reads"] += 1
        now = self._now().timestamp()
        used = sum(1 for hit in self._hits if hit > now - self.threshold_window)
        return JSONResponse({"externalRequestThreshold": self.threshold,
                             "requestThresholdTimeframe": round(self.threshold_window / 60),
                             "currentTimeframeRequestCount": used})

    async def _query(self, request: Request, entity: str, *, next_page: bool) -> Response:
        entries = entity == "TimeEntries"
        self.counters["time_entries" if entries else "lookups"] += 1
        if self.hold is not None:
            await self.hold.wait()
        try:
            spec = await _spec(request)
            predicate, max_records, include, key = parse_query(spec, entity)
            after, starts = _paging(request.query_params.get("paging")) if next_page else (0, [])
        except QueryError as exc:
            self.counters["500"] += 1
            return _errors(str(exc), 500)
        ids = [] if entries and self.faults.answering_empty else self.select(entity, predicate, key)
        begin = bisect.bisect_right(ids, after)
        page = ids[begin:begin + max_records]
        table = self.tables[entity]
        items = [_project(table[i], include) for i in page]
        base = f"{str(request.base_url).rstrip('/')}/ATServicesRest/V1.0/{entity}/query/next"
        search = quote(json.dumps(spec, separators=(",", ":")), safe="")

        def link(after_id: int, history: list[int]) -> str:
            paging = json.dumps({"pageSize": max_records, "afterId": after_id, "starts": history},
                                separators=(",", ":"))
            return f"{base}?paging={quote(paging, safe='')}&search={search}"

        more = begin + max_records < len(ids)
        return JSONResponse({
            "items": items,
            "pageDetails": {
                "count": len(items),
                "requestCount": max_records,
                "prevPageUrl": link(starts[-1], starts[:-1]) if starts else None,
                "nextPageUrl": link(page[-1], [*starts, after]) if more and page else None,
            },
        })


class _Gate:
    """Pure ASGI middleware: :meth:`AutotaskSandbox._gate` before routing, thread slots released after."""

    def __init__(self, app: ASGIApp, sandbox: AutotaskSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, endpoint = self.sandbox._gate(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            if endpoint is not None:
                self.sandbox._release(endpoint)


def _thread_message(limit: int) -> str:
    return f"API thread threshold of {limit} threads has been exceeded."


def _parts(path: str) -> list[str]:
    """Path segments under /atservicesrest/v1.0/, case-folded (IIS routes ignore case); [] elsewhere."""
    parts = [p for p in path.casefold().split("/") if p]
    if parts[:2] != [ROOT, API]:
        return []
    return parts[2:]


async def _spec(request: Request) -> Any:
    """The QueryModel: a POST body, else the ``search`` parameter (GET queries and next pages)."""
    if request.method == "POST":
        raw = await request.body()
        if raw.strip():
            try:
                return json.loads(raw)
            except ValueError:
                raise QueryError("The request body is not valid JSON.") from None
    search = request.query_params.get("search")
    if not search:
        raise QueryError("A query needs a search parameter or a body.")
    try:
        return json.loads(search)
    except ValueError:
        raise QueryError("The search parameter is not valid JSON.") from None


def _paging(raw: str | None) -> tuple[int, list[int]]:
    """The next page's position: the last id already sent, and where earlier pages began."""
    try:
        paging = json.loads(raw or "")
        after, starts = int(paging["afterId"]), [int(s) for s in paging.get("starts", [])]
    except (ValueError, TypeError, KeyError):
        raise QueryError("The paging parameter is not valid.") from None
    return after, starts


def _project(record: Mapping[str, Any], include: Sequence[str]) -> dict[str, Any]:
    if not include:
        return dict(record)
    return {"id": record["id"], **{f: record.get(f) for f in include}}


def _field_information(entity: str) -> list[dict[str, Any]]:
    """``entityInformation/fields``: each field's FieldInformationModel, picklists with their values."""
    out = []
    for name, kind in FIELDS[entity].items():
        picklist = PICKLISTS.get(entity, {}).get(name)
        out.append({
            "name": name, "dataType": kind, "length": 0, "isRequired": name == "id", "isReadOnly": name == "id",
            "isQueryable": True, "isReference": name.endswith("ID") and name != "id", "referenceEntityType": "",
            "isPickList": picklist is not None,
            "picklistValues": [
                {"value": str(value), "label": label, "isDefaultValue": False, "sortOrder": n,
                 "parentValue": "", "isActive": True, "isSystem": True}
                for n, (value, label) in enumerate((picklist or {}).items())
            ] if picklist else None,
            "picklistParentValueField": "", "isSupportedWebhookField": False,
        })
    return out


def _pick_hours(rng: random.Random, low_quarters: int, high_quarters: int) -> float:
    """Mostly quarter hours; now and then an odd timer value like 0.17 or 1.33."""
    if rng.random() < 0.12:
        return rng.choice(_ODD_HOURS)
    return rng.randint(low_quarters, high_quarters) * 0.25


class AutotaskDriver(DrivesFaults):
    """The contract suite's vendor-neutral handle on a seeded AutotaskSandbox."""

    vendor = "autotask"
    max_page_size = MAX_RECORDS
    idle_poll_requests = 1
    # Per poll: one batched query each for tickets, tasks, projects, resources, roles and
    # billing codes (each ceil(distinct unknown ids / 500), and the seed's reference data is
    # tens of records), the ticket-type picklist once per connector, and one
    # ThresholdInformation reading at most once per threshold_check_every.
    max_lookup_requests = 8

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.sandbox = AutotaskSandbox(clock=clock)
        self.sandbox.seed(now=clock() - timedelta(days=1), days=40, per_day=6)
        self.app = self.sandbox.app
        self._clients = [174, 175, 176]
        # Each client's work lands on its first ticket; a move re-points the entry's ticket.
        self._tickets = [self.sandbox.tickets_of(company)[0] for company in self._clients]
        self._resources = [r[0] for r in _RESOURCES]
        self.workers = [f"{r[1]} {r[2]}" for r in _RESOURCES]

    def requests(self) -> int:
        return self.sandbox.counters["requests"]

    def account(self, base_url: str) -> dict[str, Any]:
        return {"vendor": "autotask", "base_url": f"{base_url.rstrip('/')}/{ROOT}",
                "username": self.sandbox.username, "secret": self.sandbox.secret,
                "integration_code": self.sandbox.integration_code}

    def selectors(self) -> list[dict[str, Any]]:
        return [{"company_id": company} for company in self._clients]

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        begin = datetime.combine(day, start, UTC) if start is not None else None
        entry = self.sandbox.add_entry(
            resource_id=self._resources[worker], hours=hours, ticket_id=self._tickets[client],
            billing_code_id=REMOTE, summary_notes=notes, internal_notes=internal_notes,
            date_worked=day, start=begin)
        return str(entry["id"])

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if hours is not None:
            changes["hoursWorked"] = hours
        if client is not None:
            changes["ticketID"] = self._tickets[client]
        if notes is not None:
            changes["summaryNotes"] = notes
        self.sandbox.edit_entry(int(vendor_id), **changes)

    def delete_entry(self, vendor_id: str) -> None:
        self.sandbox.delete_entry(int(vendor_id))


def make_driver(clock: Callable[[], datetime]) -> AutotaskDriver:
    """A seeded Autotask sandbox behind the contract suite's driver interface."""
    return AutotaskDriver(clock)


__all__ = ["AutotaskDriver", "AutotaskSandbox", "QueryError", "compile_filter", "make_driver", "parse_query"]
