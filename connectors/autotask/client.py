"""The Autotask PSA REST connector: one TimeEntries stream per account, routed through tickets and projects."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from connectors.autotask.normalize import References, after_hours_codes, as_id, company_of, folded, normalize
from connectors.base import AccountSettings, Budget, ClientRoute, Connector, SourceSelector
from connectors.http import parse_retry_after
from syncd.durations import Interval
from syncd.errors import AuthError, PayloadError, RateLimited
from syncd.models import TimeEntry

# Sources: shared/research/vendor-apis.md §2 (Autotask), which cites the AT-swagger
# (api-evangelist/kaseya), the Autotask Developer Help (REST_Basic_Query_Calls,
# REST_Advanced_Query_Features, ThreadLimiting, REST_Thresholds_Limits) and contractika.

DEFAULT_ZONE_URL = "https://webservices.autotask.net/atservicesrest/"
MAX_RECORDS = 500  # "MaxRecords" 1..500 (REST_Advanced_Query_Features)
MAX_IDS = 500  # ids per "in" filter; one lookup request answers at most a page anyway
MAX_PAGES = 100_000
# Autotask's 429 carries a message; whether it carries Retry-After was not found in the
# docs. Without one we wait: a thread-limit answer clears as soon as one of the three
# in-flight requests ends; the hourly threshold is a rolling 60-minute count shared by every
# integration of the database, so we stay away for minutes, not seconds.
THREAD_LIMIT_WAIT = 5.0
THRESHOLD_WAIT = 600.0

TICKET_FIELDS = ("id", "ticketNumber", "title", "companyID", "ticketType")
TASK_FIELDS = ("id", "title", "projectID")
PROJECT_FIELDS = ("id", "projectName", "companyID")
RESOURCE_FIELDS = ("id", "firstName", "lastName")
ROLE_FIELDS = ("id", "name")
BILLING_CODE_FIELDS = ("id", "name", "afterHoursWorkType")


def stamp(moment: datetime) -> str:
    """An instant as a filter value: UTC with milliseconds, the precision Autotask stores."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _noon_before(day: date) -> str:
    return f"{(day - timedelta(days=1)).isoformat()}T12:00:00Z"


def changed_since(since: datetime) -> list[dict[str, Any]]:
    """The incremental filter: everything modified at or after ``since``.

    ``gte`` rather than ``gt``: re-reading the newest entry is absorbed by the upsert, while
    a strict bound could lose an entry modified in the cursor's own millisecond.
    """
    return [{"op": "gte", "field": "lastModifiedDateTime", "value": stamp(since)}]


def worked_between(start: date, end: date | None = None) -> list[dict[str, Any]]:
    """Entries whose work date is in [start, end] (open-ended without ``end``).

    ``dateWorked`` is midnight UTC; bounds at noon match :func:`parse_work_date`, which takes
    the nearest midnight, so a tenant sending local midnights is listed on the same days.
    """
    filters = [{"op": "gte", "field": "dateWorked", "value": _noon_before(start)}]
    if end is not None:
        filters.append({"op": "lt", "field": "dateWorked", "value": _noon_before(end + timedelta(days=1))})
    return filters


def query_body(filters: list[dict[str, Any]], include: Iterable[str] = ()) -> dict[str, Any]:
    """A QueryModel body at the maximum page size, optionally narrowed to some fields."""
    body: dict[str, Any] = {"MaxRecords": MAX_RECORDS, "filter": filters}
    fields = list(include)
    if fields:
        body["IncludeFields"] = fields
    return body


def ids_query(ids: list[int], include: Iterable[str]) -> dict[str, Any]:
    """One batched lookup: the records whose id is in ``ids`` (at most :data:`MAX_IDS`)."""
    return query_body([{"op": "in", "field": "id", "value": ids}], include)


def page_of(body: Any) -> tuple[list[Any], str | None]:
    """A query answer's items and its ``pageDetails.nextPageUrl`` (None on the last page)."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise PayloadError("Autotask PSA: expected a list under 'items' in the query answer")
    details = body.get("pageDetails") or {}
    next_url = details.get("nextPageUrl") if isinstance(details, dict) else None
    if next_url is not None and not isinstance(next_url, str):
        raise PayloadError("Autotask PSA: pageDetails.nextPageUrl is not a string")
    return body["items"], next_url or None


def error_text(response: httpx.Response) -> str:
    """The vendor's own words from an error answer: ``{"errors": [...]}`` joined, else the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        parts = [e if isinstance(e, str) else str(e.get("message", "")) if isinstance(e, dict) else ""
                 for e in body["errors"]]
        text = "; ".join(p for p in parts if p)
    else:
        try:
            text = response.text
        except UnicodeDecodeError:
            text = ""
    return " ".join(text.split())[:300]


def throttle_kind(text: str) -> Literal["thread", "threshold"] | None:
    """Whether an error answer is Autotask's thread limit, its request threshold, or neither.

    Observed thread-limit text: "API thread threshold of 3 threads has been exceeded"
    (HTTP 429; several integrators' issue trackers). The hourly threshold's wording was not
    found, so any mention of a threshold or rate limit counts.
    """
    lowered = text.casefold()
    if "thread" in lowered:
        return "thread"
    if any(word in lowered for word in ("threshold", "rate limit", "too many requests")):
        return "threshold"
    return None


def threshold_usage(body: Any) -> tuple[int, int] | None:
    """(requests used, allowance) from ``GET /ThresholdInformation``, or None if unreadable."""
    if not isinstance(body, dict):
        return None
    used, limit = body.get("currentTimeframeRequestCount"), body.get("externalRequestThreshold")
    if isinstance(used, int) and isinstance(limit, int) and limit > 0:
        return used, limit
    return None


def picklist_labels(body: Any, field: str) -> dict[int, str]:
    """A picklist's value → label from ``/{Entity}/entityInformation/fields``."""
    fields = body.get("fields") if isinstance(body, dict) else None
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, dict) and str(item.get("name", "")).casefold() == field.casefold():
            values = item.get("picklistValues") or []
            return {int(v["value"]): str(v["label"]) for v in values
                    if isinstance(v, dict) and as_id(v.get("value")) is not None and v.get("label")}
    return {}


def _http_url(value: str | None) -> str | None:
    if value is None:
        return None
    url = httpx.URL(value.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    if url.host.endswith(".autotask.net") and url.path in ("", "/"):
        # The API never lives at an Autotask host's root: a pasted zone host means its REST root.
        url = url.copy_with(path="/atservicesrest/")
    return str(url.copy_with(path=url.path.rstrip("/") + "/"))


class AutotaskSettings(AccountSettings):
    """An Autotask database: an API-only user's credentials and its API tracking identifier."""

    vendor: Literal["autotask"]
    username: str = Field(min_length=1, description="The API-only user's username (an e-mail address).")
    secret: SecretStr = Field(description="The API user's secret (password); give it as ${ENV_VAR}.")
    integration_code: SecretStr = Field(
        description="The API tracking identifier (ApiIntegrationCode); give it as ${ENV_VAR}."
    )
    zone_url: str | None = Field(
        default=None,
        description="Where zone discovery (v1.0/zoneInformation) is asked when base_url is not given; "
                    f"by default {DEFAULT_ZONE_URL}. base_url, e.g. https://webservices5.autotask.net/"
                    "atservicesrest, skips discovery.",
    )
    requests_per_hour: int = Field(
        default=3000, ge=1, le=10_000,
        description="Our share of the database's 10,000 requests per hour, which every integration "
                    "of the MSP draws on; a poll needs one.",
    )
    threshold_check_every: Interval | None = Field(
        default=3600,
        description="How often a poll first reads ThresholdInformation (null: never).",
    )
    threshold_pause_percent: int = Field(
        default=80, ge=1, le=100,
        description="Hold polling back while the database has used this share of its hourly allowance.",
    )
    travel_work_types: tuple[str, ...] = Field(
        default=("Travel", "Travel Time", "Drive Time"),
        description="Work type (billing code) names that mean travel; Autotask has no travel field.",
    )
    onsite_work_types: tuple[str, ...] = Field(
        default=("On-site", "On-site Support", "Onsite", "Onsite Support"),
        description="Work type names that mean on-site work.",
    )
    remote_work_types: tuple[str, ...] = Field(
        default=("Remote", "Remote Support"), description="Work type names that mean remote work."
    )

    @field_validator("base_url", "zone_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)


class AutotaskSelector(SourceSelector):
    """A client's Autotask work: the time on tickets of, and projects for, one company."""

    company_id: int = Field(ge=0, description="The company's id in Autotask (0 is the MSP's own company).")


class AutotaskConnector(Connector):
    """Autotask PSA: header credentials, zone discovery, ``lastModifiedDateTime`` queries,
    ``nextPageUrl`` paging, and batched, cached lookups that route entries to companies.

    Autotask cannot filter time entries by company (they carry none: the company is on the
    ticket, or on the task's project), so one stream serves every client of the account and
    entries are routed here, client-side.
    """

    vendor: ClassVar[str] = "autotask"
    display_name: ClassVar[str] = "Autotask PSA"
    settings_model = AutotaskSettings
    selector_model = AutotaskSelector
    max_page_size: ClassVar[int] = MAX_RECORDS
    # 10,000 requests per rolling hour per database, shared with every other integration
    # (RMM, backup, quoting, e-mail-to-ticket…), with latency added from 50% usage on: we
    # take under a third. Three concurrent threads per endpoint (ThreadLimiting.htm).
    budget: ClassVar[Budget] = Budget(requests=3000, per_seconds=3600.0, max_concurrency=3)
    default_base_url: ClassVar[str] = DEFAULT_ZONE_URL

    settings: AutotaskSettings

    @classmethod
    def http_options(cls, settings: AutotaskSettings) -> dict[str, Any]:
        return {
            "headers": {
                "ApiIntegrationCode": settings.integration_code.get_secret_value(),
                "UserName": settings.username,
                "Secret": settings.secret.get_secret_value(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        }

    @classmethod
    def budget_for(cls, settings: AutotaskSettings) -> Budget:
        return Budget(settings.requests_per_hour, 3600.0, cls.budget.max_concurrency)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # company id → client key; two clients naming one company: the first key wins, always the same one.
        self._companies: dict[int, str] = {}
        for route in sorted(self.routes, key=lambda r: r.client_key):
            self._companies.setdefault(route.selector.company_id, route.client_key)
        self._discovery = httpx.URL(self.settings.zone_url or DEFAULT_ZONE_URL)
        self._root: httpx.URL | None = httpx.URL(self.settings.base_url) if self.settings.base_url else None
        self._point_at(self._root or self._discovery)
        hooks = dict(self.http.client.event_hooks)
        hooks["response"] = [*hooks.get("response", []), self._vendor_signals]
        self.http.client.event_hooks = hooks
        self._tickets: dict[int, dict[str, Any]] = {}
        self._tasks: dict[int, dict[str, Any]] = {}
        self._projects: dict[int, dict[str, Any]] = {}
        self._resources: dict[int, dict[str, Any]] = {}
        self._roles: dict[int, dict[str, Any]] = {}
        self._codes: dict[int, dict[str, Any]] | None = None
        self._after_hours: dict[int, int] = {}
        self._ticket_types: dict[int, str] | None = None
        self._missing: dict[str, set[int]] = {}
        self._next_by_post = False
        self._threshold_read_at: float | None = None
        self.monotonic: Callable[[], float] = time.monotonic
        self._names = {
            "travel": folded(self.settings.travel_work_types),
            "onsite": folded(self.settings.onsite_work_types),
            "remote": folded(self.settings.remote_work_types),
        }

    # --- the two listings -------------------------------------------------------------

    async def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        if not self._companies:
            return
        await self._zone()
        await self._check_threshold()
        filters = changed_since(since) if since is not None else worked_between(backfill_from)
        async for page in self._listing(filters, refresh=False):
            yield page

    async def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        if not self._companies:
            return
        await self._zone()
        # The reconcile re-reads tickets, tasks and projects: an entry whose ticket moved to
        # another company (which does not touch the entry's lastModifiedDateTime) follows it.
        async for page in self._listing(worked_between(start, end), refresh=True):
            yield page

    async def _listing(self, filters: list[dict[str, Any]], *, refresh: bool) -> AsyncIterator[list[TimeEntry]]:
        refreshed: dict[str, set[int]] | None = {} if refresh else None
        async for items in self._query("TimeEntries", query_body(filters)):
            raws = [raw for raw in items if isinstance(raw, dict)]
            if len(raws) != len(items):
                raise PayloadError("Autotask PSA TimeEntries: an item is not an object")
            await self._resolve(raws, refreshed)
            refs = self.references()
            yield [self._normalize(raw, refs) for raw in raws]

    # --- routing and normalizing ------------------------------------------------------

    def references(self) -> References:
        """What normalizing sees: the lookups cached so far and the account's naming settings."""
        return References(
            tickets=self._tickets, tasks=self._tasks, projects=self._projects,
            resources=self._resources, roles=self._roles, billing_codes=self._codes or {},
            after_hours=self._after_hours, ticket_types=self._ticket_types or {},
            travel_work_types=self._names["travel"], onsite_work_types=self._names["onsite"],
            remote_work_types=self._names["remote"],
        )

    def route(self, raw: dict[str, Any], refs: References | None = None) -> str | None:
        """The client key whose selector names this entry's company (via ticket or project), or None."""
        company = company_of(raw, refs or self.references())
        return self._companies.get(company) if company is not None else None

    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        return self._normalize(raw, self.references())

    def _normalize(self, raw: Any, refs: References) -> TimeEntry:
        client_key = self.route(raw, refs) if isinstance(raw, dict) else None
        return normalize(raw, account=self.name, client_key=client_key, refs=refs)

    # --- lookups ----------------------------------------------------------------------

    async def _resolve(self, raws: list[dict[str, Any]], refreshed: dict[str, set[int]] | None) -> None:
        """Fetch what this page's entries point at and the cache lacks, one batched query per kind."""
        await self._fetch("Tickets", self._tickets, _ids(raws, "ticketID"), TICKET_FIELDS, refreshed)
        await self._fetch("Tasks", self._tasks, _ids(raws, "taskID"), TASK_FIELDS, refreshed)
        tasks = (self._tasks.get(t) for t in _ids(raws, "taskID"))
        await self._fetch("Projects", self._projects, _ids([t for t in tasks if t], "projectID"),
                          PROJECT_FIELDS, refreshed)
        await self._fetch("Resources", self._resources, _ids(raws, "resourceID"), RESOURCE_FIELDS, None)
        await self._fetch("Roles", self._roles, _ids(raws, "roleID"), ROLE_FIELDS, None)
        await self._billing_codes(_ids(raws, "billingCodeID"))
        if self._ticket_types is None and any(
            self._tickets.get(t, {}).get("ticketType") is not None for t in _ids(raws, "ticketID")
        ):
            body, _ = await self.http.get_json(self._path("V1.0/Tickets/entityInformation/fields"))
            self._ticket_types = picklist_labels(body, "ticketType")

    async def _fetch(self, entity: str, cache: dict[int, dict[str, Any]], ids: set[int],
                     fields: tuple[str, ...], refreshed: dict[str, set[int]] | None) -> None:
        missing = self._missing.setdefault(entity, set())
        if refreshed is None:
            wanted = ids - cache.keys() - missing
        else:
            done = refreshed.setdefault(entity, set())
            wanted = ids - done
            done |= wanted
        ordered = sorted(wanted)
        for start in range(0, len(ordered), MAX_IDS):
            chunk = ordered[start:start + MAX_IDS]
            found = await self._records(entity, ids_query(chunk, fields))
            cache.update(found)
            gone = set(chunk) - found.keys()
            missing.difference_update(found)
            missing.update(gone)
            for record_id in gone:
                # Deleted, or hidden from the API user: its entries belong to no client.
                cache.pop(record_id, None)

    async def _billing_codes(self, ids: set[int]) -> None:
        """Every billing code, read once and again only when an entry names an unknown one.

        All of them, not just the ones named: whether a code is an after-hours work type is
        said by another code's ``afterHoursWorkType``.
        """
        missing = self._missing.setdefault("BillingCodes", set())
        unknown = ids - (self._codes or {}).keys() - missing
        if not unknown and (self._codes is not None or not ids):
            return
        codes = await self._records("BillingCodes", query_body(
            [{"op": "gte", "field": "id", "value": 0}], BILLING_CODE_FIELDS))
        self._codes = codes
        self._after_hours = after_hours_codes(codes)
        missing.update(unknown - codes.keys())

    async def _records(self, entity: str, body: dict[str, Any]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        async for items in self._query(entity, body):
            for item in items:
                record_id = as_id(item.get("id")) if isinstance(item, dict) else None
                if record_id is None:
                    raise PayloadError(f"Autotask PSA {entity}: a record without an integer id")
                found[record_id] = item
        return found

    # --- querying and paging ----------------------------------------------------------

    async def _query(self, entity: str, body: dict[str, Any]) -> AsyncIterator[list[Any]]:
        """Each page of ``POST /V1.0/{entity}/query``, following ``pageDetails.nextPageUrl``.

        The next-page URL is read with GET, as the REST docs describe. Some integrators report
        that a page opened by POST must be continued by POST with the same body (GET → 405),
        so a 405 switches this connector to that for good. A next link to another host, one
        that repeats a page, an empty page that links to a next one, or a runaway page count
        is a PayloadError, so a sync never spins and never passes a gap for complete.
        """
        await self._zone()
        url = self._path(f"V1.0/{entity}/query")
        answer, response = await self._post_json(url, body)
        followed: set[str] = {str(response.request.url)}
        for _ in range(MAX_PAGES):
            items, next_url = page_of(answer)
            if not items and next_url is not None:
                raise PayloadError(f"Autotask PSA {entity}: an empty page that says more follow")
            yield items
            if next_url is None:
                return
            target = response.request.url.join(next_url)
            if target.copy_with(path="/", query=None, fragment=None) != \
                    response.request.url.copy_with(path="/", query=None, fragment=None):
                raise PayloadError(f"Autotask PSA: refusing to follow a next page on another host ({target.host})")
            if str(target) in followed:
                raise PayloadError("Autotask PSA: paging loop, the next page repeats one already read")
            followed.add(str(target))
            answer, response = await self._next_page(target.raw_path.decode("ascii"), body)
        raise PayloadError(f"Autotask PSA: more than {MAX_PAGES} pages, giving up")

    async def _next_page(self, url: str, body: dict[str, Any]) -> tuple[Any, httpx.Response]:
        if not self._next_by_post:
            try:
                return await self.http.get_json(url)
            except PayloadError as err:
                if err.status != 405:
                    raise
                self._next_by_post = True
        return await self._post_json(url, body)

    async def _post_json(self, url: str, body: dict[str, Any]) -> tuple[Any, httpx.Response]:
        response = await self.http.request("POST", url, json=body)
        try:
            return response.json(), response
        except ValueError as err:
            raise PayloadError(f"Autotask PSA POST {response.request.url.path}: response is not JSON") from err

    # --- zone, thresholds and the vendor's throttle answers ---------------------------

    def _point_at(self, url: httpx.URL) -> None:
        # Requests go out as absolute paths against the zone's origin: a next-page URL
        # ("…/ATServicesRest/V1.0/…") then keeps its own path, whatever case the zone's root has.
        self.http.client.base_url = url.copy_with(path="/", query=None, fragment=None)

    def _path(self, relative: str, root: httpx.URL | None = None) -> str:
        base = root or self._root
        assert base is not None
        return base.path.rstrip("/") + "/" + relative

    async def _zone(self) -> httpx.URL:
        """The zone's REST root: base_url, or asked of ``zoneInformation`` once per connector."""
        if self._root is None:
            body, _ = await self.http.get_json(self._path("v1.0/zoneInformation", self._discovery),
                                               params={"user": self.settings.username})
            self._root = self._accept_zone(body.get("url") if isinstance(body, dict) else None)
            self._point_at(self._root)
        return self._root

    def _accept_zone(self, value: Any) -> httpx.URL:
        """The zone URL from discovery, if our credentials may go there: an https Autotask host,
        or the host discovery itself was asked of (a proxy or a sandbox)."""
        if not isinstance(value, str) or not value.strip():
            raise PayloadError("Autotask PSA zoneInformation: no url in the answer")
        try:
            url = httpx.URL(value.strip())
        except httpx.InvalidURL as err:
            raise PayloadError("Autotask PSA zoneInformation: the url is not a URL") from err
        autotask = url.scheme == "https" and (url.host or "").endswith(".autotask.net")
        same = (url.scheme, url.host, url.port) == (self._discovery.scheme, self._discovery.host, self._discovery.port)
        if not (autotask or same):
            raise PayloadError(f"Autotask PSA zoneInformation: refusing zone host {url.host!r}")
        return url.copy_with(path=url.path.rstrip("/") + "/", query=None, fragment=None)

    async def _check_threshold(self) -> None:
        """Hold back while the database nears its hourly allowance (read at most once per
        ``threshold_check_every``, so an idle poll stays one request)."""
        every = self.settings.threshold_check_every
        now = self.monotonic()
        if every is None or (self._threshold_read_at is not None and now - self._threshold_read_at < every):
            return
        self._threshold_read_at = now
        try:
            body, _ = await self.http.get_json(self._path("V1.0/ThresholdInformation"))
        except (AuthError, PayloadError):
            return  # a reading we may not take is no reason to stop: the listing says what is wrong
        usage = threshold_usage(body)
        if usage is not None and usage[0] * 100 >= usage[1] * self.settings.threshold_pause_percent:
            self._threshold_read_at = None  # look again before the next listing
            raise RateLimited(
                f"Autotask PSA: the database has used {usage[0]} of its {usage[1]} requests this hour "
                f"(pausing at {self.settings.threshold_pause_percent}%)", retry_after=THRESHOLD_WAIT)

    async def _vendor_signals(self, response: httpx.Response) -> None:
        """Turn Autotask's throttle answers into RateLimited before the funnel maps the status.

        The thread limit and the request threshold come as 429 with a message (and possibly
        as a 500 carrying the same message, which the funnel would retry as a plain server
        error); the wait is Retry-After when sent, else our own by kind.
        """
        status = response.status_code
        if status != 429 and status < 500:
            return
        await response.aread()
        kind = throttle_kind(error_text(response))
        if kind is None and status != 429:
            return
        wait = parse_retry_after(response.headers.get("Retry-After"))
        if wait is None:
            wait = THRESHOLD_WAIT if kind == "threshold" else THREAD_LIMIT_WAIT
        self.http.throttles += 1
        if self.http.budget is not None:
            self.http.budget.pause(wait)
        what = {"thread": "thread limit reached", "threshold": "request threshold reached"}.get(
            kind or "", "rate limited")
        raise RateLimited(
            f"Autotask PSA {response.request.method} {response.request.url.path}: {what} (HTTP {status})",
            retry_after=wait).with_status(status)


def _ids(records: Iterable[Mapping[str, Any]], key: str) -> set[int]:
    return {i for i in (as_id(r.get(key)) for r in records) if i is not None}



__all__ = ["AutotaskConnector", "AutotaskSelector", "AutotaskSettings", "ClientRoute"]
