"""The Toggl Track connector: workspace-wide entries from Reports API v3, names from API v9."""

from __future__ import annotations

import base64
import math
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from contextlib import aclosing
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, SecretStr, model_validator

from connectors.base import AccountSettings, Budget, ClientRoute, Connector, SourceSelector
from connectors.http import VendorQuota
from connectors.toggl.normalize import (
    VENDOR,
    Conventions,
    Lookups,
    ProjectRef,
    flatten_rows,
    is_running,
    normalize_api_entry,
    normalize_report_entry,
    parse_instant,
    route,
    route_order,
)
from connectors.toggl.webhooks import WebhookEvent, parse_event, verify_signature
from syncd.durations import Interval
from syncd.errors import PayloadError, RateLimited
from syncd.models import TimeEntry

SEARCH_PATH = "/reports/api/v3/workspace/{workspace_id}/search/time_entries"
PROJECTS_PATH = "/api/v9/workspaces/{workspace_id}/projects"
TAGS_PATH = "/api/v9/workspaces/{workspace_id}/tags"

# Reports API v3 documents page_size only as "default 50"; no maximum is published
# (research: not found). 50 is the one value known to be accepted, so we never ask for more.
PAGE_SIZE = 50
# A report spans at most a year (Toggl support, toggl/toggl_api_docs#162; toggl/mobileapp#970);
# evrone/toggl-python's live tests use spans of at most 364 days, so we chunk to that.
MAX_SPAN_DAYS = 364
PROJECTS_PER_PAGE = 200  # API v9: "Number of items per page, default 151. Cannot exceed 200."
MAX_PAGES = 10_000
# Hourly quota per user per organization since 2025-09-05 (support.toggl.com article 11484112).
PLAN_QUOTAS: dict[str, int] = {"free": 30, "starter": 240, "premium": 600}
QUOTA_REMAINING = "X-Toggl-Quota-Remaining"
QUOTA_RESETS_IN = "X-Toggl-Quota-Resets-In"


class TogglSettings(AccountSettings):
    """A Toggl Track workspace read with one user's API token (a workspace admin sees everyone's time)."""

    vendor: Literal["toggl"]
    workspace_id: int = Field(gt=0, description="The workspace's numeric id.")
    api_token: SecretStr = Field(description="The user's API token (Profile settings); give it as ${ENV_VAR}.")
    plan: Literal["free", "starter", "premium"] = Field(
        default="free", description="The organization's plan: sets the hourly quota (30, 240 or 600 requests)."
    )
    requests_per_hour: int | None = Field(
        default=None, ge=1, description="The hourly quota when it is not the plan's (Enterprise); overrides plan."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="The webhook subscription's secret, to check X-Webhook-Signature-256."
    )
    reconcile_every: Interval = Field(
        default=6 * 3600,
        description="How often the open cycles are re-listed; webhooks carry deletions sooner, and a re-list "
                    "costs a request per 50 entries of a tiny hourly quota.",
    )
    internal_note_prefix: str = Field(
        default="Internal:", description='From this word on, a description is internal ("" turns it off).'
    )
    travel_tags: list[str] = Field(default_factory=lambda: ["Travel", "Drive Time"])
    onsite_tags: list[str] = Field(default_factory=lambda: ["On-site", "Onsite"])
    remote_tags: list[str] = Field(default_factory=lambda: ["Remote"])
    use_billable_flag: bool = Field(
        default=True,
        description="Billable is a paid-plan feature; on a Free workspace every entry reads non-billable, so "
                    "set false to treat all work as billable.",
    )
    lookup_refresh: Interval = Field(
        default=3600, description="How long project and tag names are cached before they are read again."
    )
    user_agent: str = Field(default="syncd", min_length=1, description="Toggl asks for an app name or e-mail.")

    @property
    def quota(self) -> int:
        """Requests per hour Toggl allows this account."""
        return self.requests_per_hour or PLAN_QUOTAS[self.plan]


class TogglSelector(SourceSelector):
    """A client's Toggl work: a Toggl client id, project ids, or both (projects narrow it)."""

    client_id: int | None = Field(default=None, gt=0)
    project_ids: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> TogglSelector:
        if self.client_id is None and not self.project_ids:
            raise ValueError("give client_id, project_ids, or both")
        return self


class TogglAuth(httpx.Auth):
    """HTTP Basic with ``{api_token}:api_token``; the token never appears in a repr."""

    def __init__(self, api_token: SecretStr) -> None:
        credential = f"{api_token.get_secret_value()}:api_token".encode()
        self._header = "Basic " + base64.b64encode(credential).decode("ascii")

    def __repr__(self) -> str:
        return "TogglAuth(api_token=**********)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def spans(start: date, end: date, days: int = MAX_SPAN_DAYS) -> Iterator[tuple[date, date]]:
    """[start, end] cut into consecutive inclusive spans of at most ``days`` days past their start."""
    while start <= end:
        stop = min(end, start + timedelta(days=days))
        yield start, stop
        start = stop + timedelta(days=1)


class TogglConnector(Connector):
    """Toggl Track: one Reports API stream per workspace, filtered to the account's clients.

    The Reports API has no "modified since" filter and lists no deleted entries. An
    incremental poll therefore lists the workspace's recent year ordered by last update,
    newest first, and stops at the first entry older than the cursor: an idle poll is one
    request. Deletions come from webhooks or from the reconcile's re-list of the window.
    """

    vendor: ClassVar[str] = "toggl"
    display_name: ClassVar[str] = "Toggl Track"
    settings_model = TogglSettings
    selector_model = TogglSelector
    max_page_size: ClassVar[int] = PAGE_SIZE
    budget: ClassVar[Budget] = Budget(requests=27, per_seconds=3600.0, max_concurrency=2)
    default_base_url: ClassVar[str] = "https://api.track.toggl.com"

    settings: TogglSettings

    @classmethod
    def http_options(cls, settings: TogglSettings) -> dict[str, Any]:
        return {
            "headers": {"User-Agent": settings.user_agent, "Accept": "application/json"},
            "auth": TogglAuth(settings.api_token),
            # A spent quota is answered 402 with the wait in X-Toggl-Quota-Resets-In: the funnel
            # waits a short one out and hands a long one to the coordinator. We send no
            # premium-only filter, so a 402 on these requests is the quota, not the plan.
            "rate_limit_statuses": (402, 429),
            "retry_after_headers": (QUOTA_RESETS_IN, "Retry-After"),
            "quota_remaining_header": QUOTA_REMAINING,
            "quota_resets_header": QUOTA_RESETS_IN,
        }

    @classmethod
    def budget_for(cls, settings: TogglSettings) -> Budget:
        """The plan's hourly quota less a tenth (at least one request) for other tools on the token."""
        quota = settings.quota
        return Budget(max(1, quota - max(1, math.ceil(quota / 10))), 3600.0, cls.budget.max_concurrency)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tz = ZoneInfo(self.settings.timezone or self.default_timezone)
        self._routes = route_order(self.routes)
        self._conventions = Conventions.of(
            internal_prefix=self.settings.internal_note_prefix, travel_tags=self.settings.travel_tags,
            onsite_tags=self.settings.onsite_tags, remote_tags=self.settings.remote_tags,
            use_billable_flag=self.settings.use_billable_flag,
        )
        self._projects: dict[int, ProjectRef] = {}
        self._tags: dict[int, str] = {}
        self._users: dict[int, str] = {}
        self._loaded_at: dict[str, float] = {}
        # Replaceable in tests; the coordinator's clock does not reach connectors.
        self.monotonic: Callable[[], float] = time.monotonic
        self.today: Callable[[], date] = lambda: datetime.now(UTC).date()

    # ------------------------------------------------------------------ listings

    async def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        # Toggl evaluates dates in each user's own timezone; a day past today covers them all.
        end = self.today() + timedelta(days=1)
        if since is None:
            for start, stop in spans(backfill_from, end):
                async for page in self._listing(start, stop, ("date", "ASC")):
                    yield page
            return
        since = since.astimezone(UTC)
        end = max(end, since.date() + timedelta(days=1))
        # One report spans a year at most: an edit to work dated earlier than that reaches
        # us by webhook only (and an entry that old is outside every page's history).
        start = min(max(backfill_from, end - timedelta(days=MAX_SPAN_DAYS)), end)
        async for page in self._listing(start, end, ("last_update", "DESC"), changed_since=since):
            yield page

    async def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        # Toggl files an entry under its user's local date, ours is the account's: list a
        # day wider on each side so nothing we hold in [start, end] goes unlisted.
        for lo, hi in spans(start - timedelta(days=1), end + timedelta(days=1)):
            async for page in self._listing(lo, hi, ("date", "ASC")):
                yield page

    async def _listing(
        self, start: date, end: date, order: tuple[str, str], *, changed_since: datetime | None = None
    ) -> AsyncIterator[list[TimeEntry]]:
        """Pages of live entries in [start, end]; with ``changed_since`` (newest-first order),
        only those updated since then, and no page is read past the first older one."""
        refreshed: set[str] = set()
        async with aclosing(self._search(start, end, order)) as pages:
            async for flat in pages:
                await self._ensure_lookups(flat, refreshed)
                entries, older_seen = [], False
                for raw in flat:
                    if changed_since is not None and _updated_at(raw) < changed_since:
                        older_seen = True
                        continue
                    if is_running(raw):
                        continue  # not counted until it stops; the stop bumps its last update
                    entries.append(self.normalize(raw))
                yield entries
                if older_seen:
                    return

    async def _search(self, start: date, end: date, order: tuple[str, str]) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a Reports API search, flattened to one dict per time entry."""
        url = SEARCH_PATH.format(workspace_id=self.settings.workspace_id)
        body: dict[str, Any] = {
            "start_date": start.isoformat(), "end_date": end.isoformat(),
            "page_size": self.max_page_size, "grouped": False,
            # Raw durations: the rules apply the client's own rounding once.
            "rounding": 0,
            "order_by": order[0], "order_dir": order[1], **self._server_filter(),
        }
        last_row = 0
        for _ in range(MAX_PAGES):
            response = await self.http.request("POST", url, json=body)
            rows = _json_list(response)
            cursor = _next_cursor(response)
            if cursor is not None and not rows:
                raise PayloadError(f"{VENDOR}: an empty report page that says more follow")
            flat = flatten_rows(rows)
            self._remember_users(flat)
            yield flat
            if cursor is None:
                return
            first_id, row_number = cursor
            if row_number <= last_row:
                raise PayloadError(f"{VENDOR}: paging loop, the next row {row_number} was already read")
            last_row = row_number
            self._check_quota()
            body = {k: v for k, v in body.items() if k not in ("first_id", "first_row_number")}
            body["first_row_number"] = row_number
            if first_id is not None:
                body["first_id"] = first_id
        raise PayloadError(f"{VENDOR}: more than {MAX_PAGES} report pages, giving up")

    def _server_filter(self) -> dict[str, list[int]]:
        """The account's clients in Toggl's terms. Filters are ANDed, so only a filter every
        selector can be expressed in narrows the stream; otherwise it is workspace-wide."""
        selectors = [r.selector for r in self._routes]
        if selectors and all(s.project_ids for s in selectors):
            return {"project_ids": sorted({p for s in selectors for p in s.project_ids})}
        if selectors and all(s.client_id is not None for s in selectors):
            return {"client_ids": sorted({s.client_id for s in selectors})}
        return {}

    def _check_quota(self) -> None:
        # Toggl said the quota is spent: the next page would only earn a 402, so defer now.
        quota = self.quota
        if quota.remaining == 0:
            raise RateLimited(f"{VENDOR}: the hourly API quota is used up", retry_after=quota.resets_in)

    # ------------------------------------------------------------------ lookups

    async def _ensure_lookups(self, flat: list[dict[str, Any]], refreshed: set[str]) -> None:
        """Read project and tag names when a page needs ones we lack or hold too long;
        each at most once per listing, so a listing's extra requests stay bounded."""
        projects = {p for raw in flat if isinstance(p := raw.get("project_id"), int)}
        tags = {t for raw in flat if "tag_names" not in raw for t in _int_list(raw.get("tag_ids"))}
        if self._due("projects", projects, self._projects, refreshed):
            self._projects = await self._load_projects()
        if self._due("tags", tags, self._tags, refreshed):
            self._tags = await self._load_tags()

    def _due(self, kind: str, wanted: set[int], held: dict[int, Any], refreshed: set[str]) -> bool:
        if not wanted or kind in refreshed:
            return False
        loaded = self._loaded_at.get(kind)
        stale = loaded is None or self.monotonic() - loaded >= self.settings.lookup_refresh
        if stale or not wanted <= held.keys():
            refreshed.add(kind)
            return True
        return False

    async def _load_projects(self) -> dict[int, ProjectRef]:
        url = PROJECTS_PATH.format(workspace_id=self.settings.workspace_id)
        params: dict[str, Any] = {"active": "both", "per_page": PROJECTS_PER_PAGE}
        if self._routes and all(r.selector.client_id is not None for r in self._routes):
            # Only the account's clients' projects can appear in its listings then.
            clients = sorted({r.selector.client_id for r in self._routes})
            params["client_ids"] = ",".join(str(c) for c in clients)
        found: dict[int, ProjectRef] = {}
        for page in range(1, MAX_PAGES):
            body, _ = await self.http.get_json(url, params={**params, "page": page})
            items = _as_list(body, "projects")
            for item in items:
                pid, ref = _project(item)
                found[pid] = ref
            if len(items) < PROJECTS_PER_PAGE:
                break
        self._loaded_at["projects"] = self.monotonic()
        return found

    async def _load_tags(self) -> dict[int, str]:
        body, _ = await self.http.get_json(TAGS_PATH.format(workspace_id=self.settings.workspace_id))
        found = {}
        for item in _as_list(body, "tags"):
            if not isinstance(item, dict) or not isinstance(item.get("id"), int) or not isinstance(
                    item.get("name"), str):
                raise PayloadError(f"{VENDOR}: a tag without an id and a name")
            found[item["id"]] = item["name"]
        self._loaded_at["tags"] = self.monotonic()
        return found

    def _remember_users(self, flat: Iterable[dict[str, Any]]) -> None:
        # Webhook payloads name no user; the report rows we read do.
        for raw in flat:
            uid, name = raw.get("user_id"), raw.get("username")
            if isinstance(uid, int) and isinstance(name, str) and name:
                self._users[uid] = name

    @property
    def lookups(self) -> Lookups:
        """The names this connector has read so far (projects, tags, users)."""
        return Lookups(projects=self._projects, tags=self._tags, users=self._users)

    @property
    def quota(self) -> VendorQuota:
        """Toggl's last word on the hourly quota (X-Toggl-Quota-Remaining / -Resets-In)."""
        return self.http.quota

    # ------------------------------------------------------------------ entries

    def route(self, project_id: int | None) -> str | None:
        """The client key whose selector claims work on this project, or None."""
        project = self._projects.get(project_id) if project_id is not None else None
        return route(self._routes, project_id, project.client_id if project else None)

    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        """A flattened Reports row (``seconds``) or an API v9 entry (``duration``) as a TimeEntry."""
        if not isinstance(raw, dict):
            raise PayloadError(f"{VENDOR}: a time entry that is not an object")
        project_id = raw.get("project_id") if raw.get("project_id") is not None else raw.get("pid")
        client_key = self.route(project_id if isinstance(project_id, int) else None)
        # API v9 entries carry their workspace and a duration; Reports rows carry seconds.
        v9 = "seconds" not in raw and any(k in raw for k in ("duration", "workspace_id", "wid"))
        convert = normalize_api_entry if v9 else normalize_report_entry
        return convert(raw, account=self.name, client_key=client_key, tz=self._tz, lookups=self.lookups,
                       conventions=self._conventions)

    # ------------------------------------------------------------------ webhooks

    def verify_webhook(self, body: bytes, header: str | None) -> bool:
        """Whether a pushed event carries this account's subscription signature."""
        secret = self.settings.webhook_secret
        return secret is not None and verify_signature(secret.get_secret_value(), body, header)

    def parse_webhook(self, body: bytes) -> WebhookEvent:
        """A pushed event read with this account's routes, timezone and cached names."""
        return parse_event(body, account=self.name, routes=self._routes, tz=self._tz,
                           workspace_id=self.settings.workspace_id, lookups=self.lookups,
                           conventions=self._conventions)


def _updated_at(raw: dict[str, Any]) -> datetime:
    try:
        return parse_instant(raw.get("at"))
    except (TypeError, ValueError) as err:
        raise PayloadError(f"{VENDOR} time entry {raw.get('id')!r}: unreadable last update") from err


def _json_list(response: httpx.Response) -> list[Any]:
    try:
        body = response.json()
    except ValueError as err:
        raise PayloadError(f"{VENDOR} {response.request.method} {response.request.url.path}: "
                           "response is not JSON") from err
    return _as_list(body, "report rows")


def _as_list(body: Any, what: str) -> list[Any]:
    if not isinstance(body, list):
        raise PayloadError(f"{VENDOR}: expected a list of {what} as the response")
    return body


def _next_cursor(response: httpx.Response) -> tuple[int | None, int] | None:
    """(first_id, first_row_number) for the next page, from X-Next-ID / X-Next-Row-Number."""
    row, first = response.headers.get("X-Next-Row-Number"), response.headers.get("X-Next-ID")
    if not row:
        if first:
            raise PayloadError(f"{VENDOR}: X-Next-ID without X-Next-Row-Number")
        return None
    try:
        number = int(row)
        first_id = int(first) if first else None
    except ValueError as err:
        raise PayloadError(f"{VENDOR}: unreadable paging headers") from err
    if number < 1 or (first_id is not None and first_id < 0):
        raise PayloadError(f"{VENDOR}: unreadable paging headers")
    return first_id, number


def _int_list(value: Any) -> list[int]:
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


def _project(item: Any) -> tuple[int, ProjectRef]:
    if not isinstance(item, dict) or not isinstance(item.get("id"), int):
        raise PayloadError(f"{VENDOR}: a project without an id")
    client = item.get("client_id", item.get("cid"))
    name = item.get("name")
    return item["id"], ProjectRef(name if isinstance(name, str) else None, client if isinstance(client, int) else None)


__all__ = ["ClientRoute", "TogglAuth", "TogglConnector", "TogglSelector", "TogglSettings"]
