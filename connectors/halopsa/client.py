"""The HaloPSA connector: ticket actions with time, read through the report route or the ticket route."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from functools import partial
from datetime import date, datetime, timedelta, timezone
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import structlog
from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.auth import OAuth2ClientCredentials
from connectors.base import AccountSettings, Budget, ClientRoute, Connector, SourceSelector
from connectors.halopsa import sql
from connectors.halopsa.normalize import normalize_action, optional_instant
from syncd.errors import AuthError, PayloadError, RateLimited
from syncd.models import TimeEntry

log = structlog.get_logger("syncd")

# Sources: shared/research/vendor-apis.md §3 (HaloPSA), which cites the Halo-spec
# (covenanttechnologysolutions/halopsa-rest generator/spec/swagger.json), HaloAPI-ps
# (homotechsual/HaloAPI) and the rate-limit reports below.

# GET /Tickets: "page_size ... Maximum size: 100" (Halo-spec).
TICKETS_PAGE_SIZE = 100
# POST /Report has no documented row cap (not found); each page is bounded to 1000 rows so
# one report never runs long, and that bound is the report route's page size.
REPORT_PAGE_SIZE = 1000
MAX_PAGES = 100_000
# Hosted Halo: "Rate Limit Reached - 300 Requests per rolling 5 minute window", HTTP 429
# (KelvinTegelaar/PowerShellWarrantyReports#51; homotechsual/HaloAPI#31). Whether the 429
# carries Retry-After was not found, so without one we wait 30 s: HaloAPI#31 found 5 s
# retries never outlast a rolling 5-minute window and asks for at least 30 s.
THROTTLE_WAIT = 30.0
# /Actions is not paged (Halo-spec: no page_no/page_size, only `count`), and a default
# `count` is not documented: ask for far more than one window holds, then check
# record_count so a truncated listing can never pass for a complete one.
ACTIONS_COUNT = 100_000


class HaloSettings(AccountSettings):
    """A HaloPSA tenant: where it lives and the API application's client credentials."""

    vendor: Literal["halopsa"]
    tenant: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Hosted tenant name (https://{tenant}.halopsa.com); sent as ?tenant= on token requests.",
    )
    client_id: str = Field(min_length=1, description="The API application's client ID.")
    client_secret: SecretStr = Field(description="The API application's client secret; give it as ${ENV_VAR}.")
    auth_url: str | None = Field(
        default=None, description="Authorisation server; defaults to {base_url}/auth (see /api/authinfo)."
    )
    route: Literal["auto", "report", "tickets"] = Field(
        default="auto",
        description="report: one SQL report per page of changed actions (cheapest; the API agent needs "
                    "reporting rights, and the report names columns of Halo's database). tickets: changed "
                    "tickets, then each ticket's actions (documented REST API only). auto: report until the "
                    "tenant refuses it, then tickets for good.",
    )
    charge_rates: dict[int, str] = Field(
        default_factory=dict, description="Charge rate id → work type name (Halo returns only the id)."
    )
    requests_per_5min: int = Field(
        default=250, ge=1, le=300, description="Our share of hosted Halo's 300 requests per rolling 5 minutes."
    )
    # Halo's outbound webhooks authenticate with Basic auth or a Bearer token (its webhook
    # settings: authentication type None / Basic / Bearer / API key / certificate; the API
    # key's header name was not found documented, so only Basic and Bearer are accepted).
    webhook_username: str | None = Field(
        default=None, min_length=1, description="The Basic auth user name set on the Halo webhook.")
    webhook_password: SecretStr | None = Field(
        default=None, min_length=16, description="The Basic auth password set on the Halo webhook; ${ENV_VAR}.")
    webhook_token: SecretStr | None = Field(
        default=None, min_length=16, description="The Bearer token set on the Halo webhook; ${ENV_VAR}.")

    @model_validator(mode="before")
    @classmethod
    def _hosted_url(cls, data: Any) -> Any:
        # A hosted tenant needs no base_url: it follows from the tenant name.
        if isinstance(data, dict) and not data.get("base_url") and data.get("tenant"):
            data = {**data, "base_url": f"https://{data['tenant']}.halopsa.com"}
        return data

    @model_validator(mode="after")
    def _somewhere(self) -> HaloSettings:
        if not self.base_url:
            raise ValueError("give tenant (hosted Halo) or base_url (self-hosted Halo, a proxy or a sandbox)")
        if (self.webhook_username is None) != (self.webhook_password is None):
            raise ValueError("give webhook_username and webhook_password together")
        return self

    @field_validator("base_url", "auth_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    def token_url(self) -> str:
        """The token endpoint: ``{auth_url}/token`` (HaloAPI-ps Connect-HaloAPI.ps1)."""
        return f"{self.auth_url or f'{self.base_url}/auth'}/token"


class HaloSelector(SourceSelector):
    """A client's HaloPSA work: every ticket of one Halo client (its client id)."""

    client_id: int = Field(ge=1, description="The Halo client id (Customers → the client → ID).")


class HaloConnector(Connector):
    """HaloPSA: OAuth2 client credentials; time is on ticket actions (timetaken, traveltime).

    Halo has no feed of deleted actions (not found in the spec or any client library), so
    deletions are left to the coordinator's reconcile of the open window; an action whose
    work or travel time drops to zero retires that entry at the next poll (a tombstone).

    Two routes read the same actions. The report route sends one SQL report per page: an
    idle poll is one request and N changed actions cost ceil(N / 1000). The ticket route
    lists changed tickets (100 a page) and then each ticket's actions: an idle poll is one
    request too, but N changed actions on K tickets cost ceil(K / 100) + K. Measured on the
    sandbox in tests/unit/connectors/halopsa/test_client.py. The report is never dearer and,
    beyond a handful of tickets, far cheaper, but some of the database column names its SQL
    reads were found in no public source, and an API agent may lack reporting rights: so
    ``route: auto`` (the default) starts on the report and moves to the ticket route for
    good, within the same poll, the first time the tenant refuses the report.
    """

    vendor: ClassVar[str] = "halopsa"
    display_name: ClassVar[str] = "HaloPSA"
    settings_model = HaloSettings
    selector_model = HaloSelector
    max_page_size: ClassVar[int] = REPORT_PAGE_SIZE
    # 250 of hosted Halo's 300 per rolling 5 minutes: the limit is the tenant's, shared with
    # every other integration and the agents' own API use, and token requests come on top.
    budget: ClassVar[Budget] = Budget(requests=250, per_seconds=300.0, max_concurrency=4)
    # Never used as is: settings derive base_url from the tenant (or require one).
    default_base_url: ClassVar[str] = "https://{tenant}.halopsa.com"

    settings: HaloSettings

    @classmethod
    def http_options(cls, settings: HaloSettings) -> dict[str, Any]:
        return {
            "headers": {"Accept": "application/json"},
            "auth": OAuth2ClientCredentials(
                settings.token_url(), settings.client_id, settings.client_secret, scope="all",
                params={"tenant": settings.tenant} if settings.tenant else None, vendor=cls.display_name,
            ),
        }

    @classmethod
    def budget_for(cls, settings: HaloSettings) -> Budget:
        return Budget(settings.requests_per_5min, 300.0, cls.budget.max_concurrency)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tz = ZoneInfo(self.settings.timezone or self.default_timezone)
        # First selector (by client key) wins when two claim the same Halo client.
        self._clients: dict[int, str] = {}
        for route in sorted(self.routes, key=lambda r: r.client_key):
            self._clients.setdefault(int(route.selector.client_id), route.client_key)
        self._route = "tickets" if self.settings.route == "tickets" else "report"
        hooks = dict(self.http.client.event_hooks)
        hooks["response"] = [*hooks.get("response", []), self._throttle_signal]
        self.http.client.event_hooks = hooks

    # ------------------------------------------------------------------ the interface

    async def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        if not self._clients:
            return
        if since is None:
            report = partial(sql.worked_between, backfill_from, None, self._clients, top=REPORT_PAGE_SIZE)
        else:
            report = partial(sql.changed_since, since, self._clients, top=REPORT_PAGE_SIZE)
        async for page in self._either_route(report, lambda: self._ticket_changes(since, backfill_from)):
            yield page

    async def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        if not self._clients:
            return
        report = partial(sql.worked_between, start, end, self._clients, top=REPORT_PAGE_SIZE)
        async for page in self._either_route(report, lambda: self._ticket_window(start, end)):
            yield page

    async def _either_route(
        self, report: Callable[..., str], tickets: Callable[[], AsyncIterator[list[TimeEntry]]],
    ) -> AsyncIterator[list[TimeEntry]]:
        """The report's pages, or the ticket route's once the report route is (or gets) refused."""
        if self._route == "report":
            read = 0
            try:
                async for page in self._report(lambda after: report(after=after)):
                    read += 1
                    yield page
                return
            except (_ReportRefused, AuthError) as err:
                # A 403 on the report is an agent without reporting rights; any other
                # refusal of our credentials is for a human, whatever the route.
                refused = isinstance(err, _ReportRefused) or err.status == 403
                if self.settings.route != "auto" or read or not refused:
                    raise
                self._route = "tickets"
                # Once, at warning: the account keeps working, at a higher request cost.
                log.warning("halo_report_route_refused", account=self.name, reason=str(err),
                            using="route: tickets")
        async for page in tickets():
            yield page

    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        """An action's main entry: its work, or its travel when it logs travel only.

        Pages carry both parts of every timed action (see :meth:`entries`).
        """
        work, travel = self._parts(raw)
        return travel if work.deleted and not travel.deleted else work

    def entries(self, raw: Mapping[str, Any]) -> list[TimeEntry]:
        """Both entries of one action (work and travel; a part without time is a tombstone)."""
        return list(self._parts(raw))

    def route(self, raw: Mapping[str, Any]) -> str | None:
        """The client key whose selector claims this action's ticket client, or None."""
        client_id = _as_int(raw.get("client_id"))
        return None if client_id is None else self._clients.get(client_id)

    # ------------------------------------------------------------------ report route

    async def _report(self, build: Callable[[sql.After | None], str]) -> AsyncIterator[list[TimeEntry]]:
        """Keyset-page a report: each page continues after the last (ticket, action) read.

        Every row carries how many rows match from its page on (``rows_left``), so whether more
        follow is the report's word, not a guess from the page's length: a page the server
        answers short is followed, and an empty page where rows were promised is a
        PayloadError rather than the end (the entries after it would go unread).
        """
        after: sql.After | None = None
        promised = 0
        for _ in range(MAX_PAGES):
            rows = await self._run_report(build(after))
            if not rows:
                if promised > 0:
                    raise PayloadError(f"HaloPSA report: an empty page where {promised} more rows were promised")
                yield []
                return
            yield self._page(rows)
            promised = _rows_left(rows) - len(rows)
            if promised <= 0:
                return
            last = rows[-1]
            try:
                nxt = sql.After(int(last["ticket_id"]), int(last["id"]))
            except (KeyError, TypeError, ValueError) as err:
                raise PayloadError("HaloPSA report: a row without ticket_id and id") from err
            if after is not None and (nxt.ticket_id, nxt.action_id) <= (after.ticket_id, after.action_id):
                raise PayloadError("HaloPSA report: paging loop, rows out of order, the next page would repeat this one")
            after = nxt
        raise PayloadError(f"HaloPSA report: more than {MAX_PAGES} pages, giving up")

    async def _run_report(self, query: str) -> list[dict[str, Any]]:
        """POST /api/Report with ``_loadreportonly``: run the SQL without saving a report."""
        response = await self.http.request("POST", "/api/Report", json=[{"_loadreportonly": True, "sql": query}])
        try:
            body = response.json()
        except ValueError as err:
            raise PayloadError("HaloPSA POST /api/Report: response is not JSON") from err
        if isinstance(body, list) and len(body) == 1:  # some clients see the posted array echoed
            body = body[0]
        report = body.get("report") if isinstance(body, dict) else None
        if not isinstance(report, dict):
            raise PayloadError("HaloPSA POST /api/Report: no report in the response")
        if report.get("load_error"):
            # Halo answers a query it cannot run with 200 and load_error (e.g. an unknown column).
            raise _ReportRefused(
                f"HaloPSA report rejected: {str(report['load_error'])[:200]} "
                "(if this tenant's API agent may not run reports, set route: tickets)")
        rows = report.get("rows")
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise PayloadError("HaloPSA POST /api/Report: report.rows is not a list of rows")
        return rows

    # ------------------------------------------------------------------ ticket route

    async def _ticket_changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        """Tickets changed since ``since`` (or updated since the backfill start), then each one's actions.

        A ticket is updated whenever an action is added to it, so every ticket with work since
        ``backfill_from`` was updated since then too.
        """
        start = since if since is not None else datetime.combine(backfill_from, datetime.min.time(), timezone.utc)
        async for tickets in self._tickets(start):
            page: list[TimeEntry] = []
            for ticket in tickets:
                actions = await self._actions({"ticket_id": _ticket_id(ticket), "excludesys": "true"})
                for action in actions:
                    row = _flatten(action, ticket)
                    if since is None and not _worked_since(row, backfill_from):
                        continue
                    page.extend(self._timed(row))
            yield page

    async def _ticket_window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        """Every timed action worked in the window: one /Actions listing by date, routed by ticket.

        /Actions filters on dates but carries no client, so the clients' tickets updated since
        the window opened (every ticket with work in it was) give each action its client. This
        costs 1 + ceil(tickets / 100) requests, where an /Actions call per ticket would cost
        one more per ticket.
        """
        tickets: dict[int, dict[str, Any]] = {}
        async for page in self._tickets(datetime.combine(start, datetime.min.time(), timezone.utc)):
            tickets.update({_ticket_id(t): t for t in page})
        actions = await self._actions({
            "startdate": f"{start.isoformat()}T00:00:00", "enddate": f"{(end + timedelta(days=1)).isoformat()}T00:00:00",
            "excludesys": "true", "count": ACTIONS_COUNT,
        })
        entries: list[TimeEntry] = []
        for action in actions:
            ticket = tickets.get(_as_int(action.get("ticket_id")) or -1)
            # An action on a ticket that is not one of our clients' answers as unclaimed, so an
            # entry we held is seen to have moved away rather than being deleted.
            entries.extend(self._timed(_flatten(action, ticket) if ticket else dict(action)))
        yield entries

    async def _tickets(self, updated_from: datetime) -> AsyncIterator[list[dict[str, Any]]]:
        """Pages of the clients' tickets updated at or after ``updated_from`` (GET /api/Tickets)."""
        params: dict[str, Any] = {
            "pageinate": "true", "page_size": TICKETS_PAGE_SIZE,
            "lastupdatefromdate": updated_from.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
            "client_ids": ",".join(str(c) for c in sorted(self._clients)),
        }
        seen = 0
        for page_no in range(1, MAX_PAGES + 1):
            body, _ = await self.http.get_json("/api/Tickets", params=params | {"page_no": page_no})
            tickets = body.get("tickets") if isinstance(body, dict) else None
            total = body.get("record_count") if isinstance(body, dict) else None
            if not isinstance(tickets, list) or not isinstance(total, int) or isinstance(total, bool):
                raise PayloadError("HaloPSA GET /api/Tickets: expected tickets and record_count")
            if not all(isinstance(t, dict) and _as_int(t.get("id")) is not None for t in tickets):
                raise PayloadError("HaloPSA GET /api/Tickets: a ticket without an id")
            seen += len(tickets)
            if not tickets and seen < total:
                # record_count says more follow: an empty page now is a gap, not the end.
                raise PayloadError(f"HaloPSA GET /api/Tickets: page {page_no} is empty but "
                                   f"{total - seen} of {total} tickets are still to come")
            yield tickets
            if seen >= total or not tickets:
                return
        raise PayloadError(f"HaloPSA GET /api/Tickets: more than {MAX_PAGES} pages, giving up")

    async def _actions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """One GET /api/Actions listing, checked to be complete (it is not paged)."""
        body, _ = await self.http.get_json("/api/Actions", params=params)
        actions = body.get("actions") if isinstance(body, dict) else None
        if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
            raise PayloadError("HaloPSA GET /api/Actions: expected a list under 'actions'")
        total = body.get("record_count")
        if isinstance(total, int) and not isinstance(total, bool) and total > len(actions):
            raise PayloadError(f"HaloPSA GET /api/Actions: {len(actions)} of {total} actions returned")
        return actions

    # ------------------------------------------------------------------ shared

    def _page(self, rows: Iterable[Mapping[str, Any]]) -> list[TimeEntry]:
        page: list[TimeEntry] = []
        for row in rows:
            page.extend(self._timed(row))
        return page

    def _timed(self, row: Mapping[str, Any]) -> list[TimeEntry]:
        """Both parts of an action with time; nothing for an action without (emails, notes)."""
        parts = self._parts(row)
        return [] if all(p.deleted for p in parts) else list(parts)

    def _parts(self, row: Mapping[str, Any]) -> tuple[TimeEntry, TimeEntry]:
        if not isinstance(row, Mapping):
            raise PayloadError("HaloPSA: an action that is not an object")
        return normalize_action(row, account=self.name, client_key=self.route(row), tz=self._tz,
                                charge_rates=self.settings.charge_rates)

    async def _throttle_signal(self, response: httpx.Response) -> None:
        """A 429 without Retry-After becomes RateLimited with our own wait (see THROTTLE_WAIT)."""
        if response.status_code != 429 or "retry-after" in response.headers:
            return
        await response.aread()
        self.http.throttles += 1
        if self.http.budget is not None:
            self.http.budget.pause(THROTTLE_WAIT)
        raise RateLimited(
            f"HaloPSA {response.request.method} {response.request.url.path}: rate limited (HTTP 429)",
            retry_after=THROTTLE_WAIT)


def _rows_left(rows: list[dict[str, Any]]) -> int:
    """How many rows matched from this page on, as the report's first row says."""
    left = rows[0].get("rows_left")
    if not isinstance(left, int) or isinstance(left, bool) or left < 0:
        raise PayloadError("HaloPSA report: no rows_left count on the page")
    return left


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
        return None


def _ticket_id(ticket: Mapping[str, Any]) -> int:
    return int(ticket["id"])


def _flatten(action: Mapping[str, Any], ticket: Mapping[str, Any]) -> dict[str, Any]:
    """An API action with its ticket's client, summary and type, in the report row's keys."""
    return {
        **action,
        "ticket_id": action.get("ticket_id", ticket.get("id")),
        "client_id": ticket.get("client_id"),
        "ticket_summary": ticket.get("summary"),
        "tickettype_id": ticket.get("tickettype_id"),
        "tickettype_name": ticket.get("tickettype_name"),
    }


def _worked_since(row: Mapping[str, Any], start: date) -> bool:
    """Whether the action's work started on or after ``start`` (unreadable dates are kept for normalize to reject)."""
    try:
        moment = optional_instant(row.get("actionarrivaldate")) or optional_instant(row.get("datetime"))
    except ValueError:
        return True
    return moment is None or moment.date() >= start


__all__ = ["ClientRoute", "HaloConnector", "HaloSelector", "HaloSettings"]


class _ReportRefused(PayloadError):
    """The tenant would not run the report's SQL (an unknown column, no reporting rights)."""
