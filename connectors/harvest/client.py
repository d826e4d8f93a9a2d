"""The Harvest API v2 connector: one incremental stream of time entries per account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, timezone
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, SecretStr, model_validator

from connectors.base import AccountSettings, Budget, ClientRoute, Connector, SourceSelector
from connectors.harvest.normalize import normalize
from connectors.pagination import BodyLinkPaginator, walk_pages
from syncd.models import TimeEntry

IdString = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)]


class HarvestSettings(AccountSettings):
    """A Harvest account: its id, a personal access token, and how we identify ourselves."""

    vendor: Literal["harvest"]
    account_id: IdString = Field(pattern=r"^\d+$", description="Harvest-Account-Id.")
    token: SecretStr = Field(description="Personal access token; give it as ${ENV_VAR}.")
    user_agent: str = Field(
        default="syncd", min_length=1,
        description='Harvest asks for "AppName (contact e-mail or URL)".',
    )
    internal_note_prefix: str = Field(
        default="Internal:", description="Notes from a line starting with this on are internal."
    )
    requests_per_15s: int = Field(
        default=90, ge=1, le=100, description="Our share of Harvest's 100 requests per 15 s."
    )


class HarvestSelector(SourceSelector):
    """A client's Harvest work: a Harvest client id, project ids, or both (projects narrow it)."""

    client_id: int | None = None
    project_ids: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> HarvestSelector:
        if self.client_id is None and not self.project_ids:
            raise ValueError("give client_id, project_ids, or both")
        return self


class HarvestConnector(Connector):
    """Harvest: Bearer token + Harvest-Account-Id, ``updated_since`` polling, ``links.next`` paging."""

    vendor: ClassVar[str] = "harvest"
    display_name: ClassVar[str] = "Harvest"
    settings_model = HarvestSettings
    selector_model = HarvestSelector
    max_page_size: ClassVar[int] = 2000
    budget: ClassVar[Budget] = Budget(requests=90, per_seconds=15.0, max_concurrency=4)
    default_base_url: ClassVar[str] = "https://api.harvestapp.com"

    settings: HarvestSettings

    @classmethod
    def http_options(cls, settings: HarvestSettings) -> dict[str, Any]:
        return {
            "headers": {
                "Authorization": f"Bearer {settings.token.get_secret_value()}",
                "Harvest-Account-Id": settings.account_id,
                "User-Agent": settings.user_agent,
                "Accept": "application/json",
            }
        }

    @classmethod
    def budget_for(cls, settings: HarvestSettings) -> Budget:
        return Budget(settings.requests_per_15s, 15.0, cls.budget.max_concurrency)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tz = ZoneInfo(self.settings.timezone or self.default_timezone)
        # Most specific selectors first: a project match beats a whole-client match.
        self._routes = sorted(
            self.routes, key=lambda r: (not r.selector.project_ids, r.selector.client_id is None, r.client_key)
        )
        # The routes that can claim an entry of one Harvest client (its own and the
        # project-only ones), in that order, found once per client id: with hundreds of
        # clients, scanning every route for every entry would dominate a backfill.
        self._routes_by_client: dict[object, list[ClientRoute]] = {}

    def _base_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"per_page": self.max_page_size}
        # Harvest filters on one client id only; with exactly one whole-client selector we
        # let the server narrow the stream, otherwise one stream serves every client.
        if len(self._routes) == 1 and self._routes[0].selector.client_id is not None:
            params["client_id"] = self._routes[0].selector.client_id
        return params

    async def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        params = self._base_params()
        if since is not None:
            params["updated_since"] = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            params["from"] = backfill_from.isoformat()
        async for page in self._pages(params):
            yield page

    async def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        params = self._base_params() | {"from": start.isoformat(), "to": end.isoformat()}
        async for page in self._pages(params):
            yield page

    async def _pages(self, params: dict[str, Any]) -> AsyncIterator[list[TimeEntry]]:
        async for items in walk_pages(
            self.http, "/v2/time_entries", params=params,
            paginator=BodyLinkPaginator("links", "next"), items_key="time_entries",
        ):
            yield list(self._entries(items))

    def _entries(self, items: Iterable[dict[str, Any]]) -> Iterable[TimeEntry]:
        for raw in items:
            # A running timer is not counted until it stops; its stop bumps updated_at.
            if isinstance(raw, dict) and raw.get("is_running"):
                continue
            yield self.normalize(raw)

    def route(self, raw: dict[str, Any]) -> str | None:
        """The client key whose selector claims this entry, or None."""
        client = raw.get("client") if isinstance(raw.get("client"), dict) else {}
        project = raw.get("project") if isinstance(raw.get("project"), dict) else {}
        for route in self._candidates(client.get("id")):
            if route.selector.project_ids and project.get("id") not in route.selector.project_ids:
                continue
            return route.client_key
        return None

    def _candidates(self, client_id: object) -> list[ClientRoute]:
        """The routes whose client id is ``client_id`` or unset, most specific first."""
        try:
            return self._routes_by_client[client_id]
        except KeyError:
            found = [r for r in self._routes if r.selector.client_id is None or r.selector.client_id == client_id]
            self._routes_by_client[client_id] = found
            return found
        except TypeError:  # an unhashable id from a malformed payload matches no client's id
            return [r for r in self._routes if r.selector.client_id is None]

    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        return normalize(
            raw, account=self.name, client_key=self.route(raw) if isinstance(raw, dict) else None,
            tz=self._tz, internal_prefix=self.settings.internal_note_prefix,
        )


__all__ = ["ClientRoute", "HarvestConnector", "HarvestSelector", "HarvestSettings"]
