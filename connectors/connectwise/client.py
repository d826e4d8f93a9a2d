"""The ConnectWise PSA (Manage) REST 3.0 connector: one incremental time-entry stream per account."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import AccountSettings, Budget, ClientRoute, Connector, SourceSelector
from connectors.connectwise.normalize import normalize
from connectors.pagination import walk_pages
from syncd.errors import AuthError, PayloadError
from syncd.models import TimeEntry

# Sources: shared/research/vendor-apis.md §1 (ConnectWise), which cites djcw
# (KerkhoffTechnologies/django-connectwise api.py), pyconnectwise, christaylorcodes/
# ConnectWiseManageAPI and the CW "PSA Pagination" guide.

# The user-facing cloud hosts and their API hosts (djcw CW_CLOUD_URLS, citing the CW
# Developer Guide "Cloud_URLs"): an admin who pastes the address from the browser still works.
CLOUD_API_HOSTS = {
    "na.myconnectwise.net": "api-na.myconnectwise.net",
    "eu.myconnectwise.net": "api-eu.myconnectwise.net",
    "au.myconnectwise.net": "api-au.myconnectwise.net",
    "aus.myconnectwise.net": "api-aus.myconnectwise.net",
    "za.myconnectwise.net": "api-za.myconnectwise.net",
    "staging.connectwisedev.com": "api-staging.connectwisedev.com",
}
DEFAULT_SITE = "api-na.myconnectwise.net"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?$")
# "v4_6_release/", "v2025_1/": one path segment. Anything else from companyinfo is refused
# rather than spliced into our URLs.
_CODEBASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/$")
MAX_PAGES = 100_000


def site_host(site: str) -> str:
    """The API host for a configured site: scheme and path dropped, cloud UI hosts mapped to api- hosts."""
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", site.strip(), flags=re.IGNORECASE).split("/")[0].lower()
    if not _HOST.match(host):
        raise ValueError(f"not a host name: {site!r}")
    return CLOUD_API_HOSTS.get(host, host)


def parse_codebase(value: Any) -> str:
    """A codebase as ConnectWise writes it ("v4_6_release/"); a missing slash is added."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("no codebase given")
    codebase = value.strip().strip("/") + "/"
    if not _CODEBASE.match(codebase):
        raise ValueError(f"not a ConnectWise codebase: {value!r}")
    return codebase


def stamp(moment: datetime) -> str:
    """An instant as ConnectWise conditions write it: ``2026-11-20T10:00:00Z`` (whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ConnectWiseSettings(AccountSettings):
    """A ConnectWise PSA account: site, company id, an API member's key pair and the integration's clientId."""

    vendor: Literal["connectwise"]
    site: str | None = Field(
        default=None,
        description="API host, e.g. api-na.myconnectwise.net (na.myconnectwise.net is mapped to it); "
                    "base_url overrides it for on-premise servers, proxies and sandboxes.",
    )
    company: str = Field(min_length=1, max_length=100, description="The company id you sign in to ConnectWise with.")
    public_key: SecretStr = Field(description="The API member's public key; give it as ${ENV_VAR}.")
    private_key: SecretStr = Field(description="The API member's private key; give it as ${ENV_VAR}.")
    client_id: SecretStr = Field(description="The clientId from developer.connectwise.com; give it as ${ENV_VAR}.")
    codebase: str | None = Field(
        default=None,
        description='e.g. "v4_6_release/"; asked of /login/companyinfo once per start when not given.',
    )
    api_version: str | None = Field(
        default=None, pattern=r"^\d{4}\.\d{1,2}$",
        description='Pin the response version (Accept: …; version=2025.1); by default the server\'s own.',
    )
    requests_per_minute: int = Field(
        default=60, ge=1, le=1000,
        description="ConnectWise publishes no limit (Cloudflare answers 429 past an unstated one).",
    )
    travel_names: tuple[str, ...] = Field(
        default=("Travel", "Drive Time"),
        description="Work type or work role names that mean travel (ConnectWise has no travel field).",
    )
    callback_key: SecretStr | None = Field(
        default=None, min_length=16,
        description="A random string of your own, put in the callback URL (/webhooks/connectwise/<account>/<key>); "
                    "give it as ${ENV_VAR}. Callbacks are refused while it is unset.",
    )

    @model_validator(mode="before")
    @classmethod
    def _base_url_from_site(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("base_url"):
            return data
        site = data.get("site")
        if not site:
            raise ValueError(f"give site (e.g. {DEFAULT_SITE}) or base_url")
        if not isinstance(site, str):
            return data  # the field's own type check reports it
        return {**data, "base_url": f"https://{site_host(site)}"}

    @field_validator("codebase")
    @classmethod
    def _codebase(cls, value: str | None) -> str | None:
        return None if value is None else parse_codebase(value)

    @field_validator("company")
    @classmethod
    def _company(cls, value: str) -> str:
        # It goes into the Basic credential ("company+public:private") and a URL path.
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
            raise ValueError("a ConnectWise company id is letters, digits, _ . or -")
        return value


class ConnectWiseSelector(SourceSelector):
    """A client's ConnectWise work: every time entry of one company (its RecID, ``company/id``)."""

    company_id: int = Field(ge=1, description="The company's id (RecID) in ConnectWise, not its identifier.")


class ConnectWiseConnector(Connector):
    """ConnectWise PSA: Basic key pair + clientId, ``lastUpdated`` conditions, forward-only paging."""

    vendor: ClassVar[str] = "connectwise"
    display_name: ClassVar[str] = "ConnectWise PSA"
    settings_model = ConnectWiseSettings
    selector_model = ConnectWiseSelector
    max_page_size: ClassVar[int] = 1000  # CW's hard limit (CW "PSA Pagination"; djcw CW_RESPONSE_MAX_RECORDS)
    # No published limit; a third-party page claims 60/min and pyconnectwise PR #41 reports
    # Cloudflare 429s with a wait hint. 60/min keeps us under that claim; a poll needs one.
    budget: ClassVar[Budget] = Budget(requests=60, per_seconds=60.0, max_concurrency=2)
    default_base_url: ClassVar[str] = f"https://{DEFAULT_SITE}"

    settings: ConnectWiseSettings

    @classmethod
    def http_options(cls, settings: ConnectWiseSettings) -> dict[str, Any]:
        public, private = settings.public_key.get_secret_value(), settings.private_key.get_secret_value()
        credential = f"{settings.company}+{public}:{private}"
        accept = "application/vnd.connectwise.com+json"
        if settings.api_version:
            accept += f"; version={settings.api_version}"
        return {
            "headers": {
                "Authorization": "Basic " + base64.b64encode(credential.encode("utf-8")).decode("ascii"),
                "clientId": settings.client_id.get_secret_value(),
                "Accept": accept,
                "Cache-Control": "no-cache",
                # Sent on every request (the funnel takes no per-request headers); CW ignores it
                # where it does not apply, and /login/companyinfo is not paged.
                "pagination-type": "forward-only",
            }
        }

    @classmethod
    def budget_for(cls, settings: ConnectWiseSettings) -> Budget:
        return Budget(settings.requests_per_minute, 60.0, cls.budget.max_concurrency)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tz = ZoneInfo(self.settings.timezone or self.default_timezone)
        # company id → client key; two clients naming one company: the first key wins, always the same one.
        self._companies: dict[int, str] = {}
        for route in sorted(self.routes, key=lambda r: r.client_key):
            self._companies.setdefault(route.selector.company_id, route.client_key)
        self._codebase: str | None = self.settings.codebase

    # --- the two listings -------------------------------------------------------------

    async def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        # ">=" rather than ">": CW stamps whole seconds, so an edit in the cursor's own second
        # is re-read (the upsert absorbs it) instead of lost when lookback is 0.
        if since is None:
            clause = f"timeStart>=[{stamp(self._midnight(backfill_from))}]"
        else:
            clause = f"lastUpdated>=[{stamp(since)}]"
        async for page in self._listing(clause):
            yield page

    async def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        # Bounds are local midnights in the account's timezone, the one work_date is taken in,
        # so an evening entry near a bound is listed exactly when its work date is inside.
        clauses = (f"timeStart>=[{stamp(self._midnight(start))}]",
                   f"timeStart<[{stamp(self._midnight(end + timedelta(days=1)))}]")
        async for page in self._listing(*clauses):
            yield page

    def conditions(self, *clauses: str) -> str | None:
        """The ``conditions`` string: the clauses and the account's companies, in one query.

        Wrapped in parentheses and joined with " and ", as djcw's ``prepare_conditions`` does.
        None when no client reads this account: there is nothing to ask for.
        """
        if not self._companies:
            return None
        companies = ",".join(str(c) for c in sorted(self._companies))
        return "(" + " and ".join((*clauses, f"company/id in ({companies})")) + ")"

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), tzinfo=self._tz)

    async def _listing(self, *clauses: str) -> AsyncIterator[list[TimeEntry]]:
        conditions = self.conditions(*clauses)
        if conditions is None:
            return
        params = {"conditions": conditions, "pageSize": self.max_page_size}
        async for items in self._walk(params):
            yield [self.normalize(raw) for raw in items]

    # --- paging -----------------------------------------------------------------------

    async def _walk(self, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
        """Each page of ``GET /time/entries``, forward-only: follow Link rel="next" (it carries pageId).

        A 404 on the first page refreshes a discovered codebase once and starts again (djcw
        does the same: hosted ConnectWise moves a company to a new codebase on upgrade, and
        the old path then answers 404).
        """
        codebase = await self._current_codebase()
        started = False
        try:
            async for items in self._pages(codebase, params):
                started = True
                yield items
            return
        except PayloadError as err:
            if started or err.status != 404 or self.settings.codebase is not None:
                raise
            await self._discover()
            if self._codebase == codebase:
                raise PayloadError(
                    f"{err} (codebase {codebase!r} is still current; ConnectWise cloud also answers "
                    "404 for a wrong company id or key pair)"
                ).with_status(404) from err
        assert self._codebase is not None
        async for items in self._pages(self._codebase, params):
            yield items

    def _pages(self, codebase: str, params: dict[str, Any]) -> AsyncIterator[list[Any]]:
        return walk_pages(self.http, self._entries_path(codebase), params=params, paginator=self,
                          items_key=None, max_pages=MAX_PAGES)

    def next_url(self, body: Any, response: httpx.Response) -> str | None:
        """The Paginator hook: the next forward-only page (see :meth:`_next_url`)."""
        return self._next_url(body, response)

    def _next_url(self, body: list[Any], response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if link:
            return link
        if "link" in response.headers or len(body) < self.max_page_size:
            # Forward-only answers carry a Link header, empty on the last page
            # (ConnectWiseManageAPI's Invoke-CWMAllResult relies on that).
            return None
        # A full page and no Link header at all: the server ignored forward-only paging.
        # Not documented either way, so rather than stop at 1000 entries we ask for the
        # rest by pageId, which CW documents as "id > pageId".
        last = max((e.get("id") for e in body if isinstance(e, dict) and isinstance(e.get("id"), int)), default=None)
        if last is None:
            raise PayloadError("ConnectWise PSA: a full page without ids or a next link")
        return str(response.request.url.copy_set_param("pageId", last))

    # --- codebase discovery -----------------------------------------------------------

    async def _current_codebase(self) -> str:
        if self._codebase is None:
            await self._discover()
        assert self._codebase is not None
        return self._codebase

    async def _discover(self) -> None:
        """Ask ``GET /login/companyinfo/{company}`` (unauthenticated) for the codebase.

        Only ``Codebase`` is used: ``SiteUrl`` names a host, and our credentials never go to a
        host the configuration did not name.
        """
        try:
            body, _ = await self.http.get_json(f"/login/companyinfo/{quote(self.settings.company, safe='')}")
        except PayloadError as err:
            if err.status == 404:
                raise PayloadError(
                    f"{err} (a server without /login/companyinfo needs codebase: in its account)"
                ).with_status(404) from err
            raise
        if body is None:
            # djcw: "CW returns None if company ID is unknown". A human must fix the company id.
            raise AuthError(f"ConnectWise PSA does not know company {self.settings.company!r} "
                            "(/login/companyinfo answered null)")
        if not isinstance(body, dict):
            raise PayloadError("ConnectWise PSA /login/companyinfo: expected an object")
        try:
            self._codebase = parse_codebase(body.get("Codebase"))
        except ValueError as err:
            raise PayloadError(f"ConnectWise PSA /login/companyinfo: {err}") from err

    async def entry_gone(self, vendor_id: str) -> bool:
        """Whether ConnectWise no longer has this time entry (``GET /time/entries/{id}`` is 404).

        A "deleted" callback is only a claim (its signature check needs a key round trip CW
        documents elsewhere), so the entity is asked for rather than the body believed.
        """
        if not vendor_id.isdigit():
            return False
        codebase = await self._current_codebase()
        try:
            await self.http.get_json(f"{self._entries_path(codebase)}/{vendor_id}")
        except PayloadError as err:
            if err.status == 404:
                return True
            raise
        return False

    @staticmethod
    def _entries_path(codebase: str) -> str:
        return f"/{codebase}apis/3.0/time/entries"

    # --- normalizing ------------------------------------------------------------------

    def route(self, raw: dict[str, Any]) -> str | None:
        """The client key whose selector names this entry's company, or None."""
        company = raw.get("company")
        company_id = company.get("id") if isinstance(company, dict) else None
        if isinstance(company_id, str) and company_id.isdigit():
            company_id = int(company_id)
        return self._companies.get(company_id) if isinstance(company_id, int) else None

    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        return normalize(
            raw, account=self.name, client_key=self.route(raw) if isinstance(raw, dict) else None,
            tz=self._tz, travel_names=self.settings.travel_names,
        )


__all__ = ["ClientRoute", "ConnectWiseConnector", "ConnectWiseSelector", "ConnectWiseSettings"]
