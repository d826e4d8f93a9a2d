"""The connector interface: what every vendor connector declares and implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from connectors.http import Funnel
from syncd.config import Timezone
from syncd.durations import Interval
from syncd.models import TimeEntry


def _base_url(value: str) -> str:
    # Checked here: the connector's HTTP client is built when the daemon starts or reloads.
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as err:
        raise ValueError(f"not a URL ({err})") from err
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("expected an http:// or https:// address such as https://api.example.com")
    return value


class AccountSettings(BaseModel):
    """Settings every account takes; a vendor's own model adds its credentials and options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vendor: str
    base_url: Annotated[str, AfterValidator(_base_url)] | None = Field(
        default=None, description="Point at a self-hosted instance, a proxy or a sandbox."
    )
    timezone: Timezone | None = Field(
        default=None, description="Timezone of the vendor's local times; defaults to defaults.timezone."
    )
    lookback: Interval = Field(
        default=600, description="How far behind the cursor each poll re-reads, to catch late edits."
    )
    reconcile_every: Interval = Field(
        default=3600, description="How often the open cycles are re-listed to catch deletions."
    )
    hourly_budget: int | None = Field(
        default=None, ge=1,
        description="Requests an hour syncd may send this account, however many clients read it; by "
                    "default the vendor's limit less a safety margin. Refreshes are stretched to fit.",
    )


class SourceSelector(BaseModel):
    """How a client's file picks its entries out of an account; vendors add their own keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account: str


@dataclass(frozen=True, slots=True)
class ClientRoute:
    """One client of an account and the selector that says which entries are its own."""

    client_key: str
    selector: Any


@dataclass(frozen=True, slots=True)
class Budget:
    """A vendor's request allowance already reduced by our safety margin."""

    requests: int
    per_seconds: float
    max_concurrency: int = 4


@dataclass(frozen=True, slots=True)
class Replacement:
    """What a page stands for in full: every live entry whose vendor id starts with ``scope``
    and whose work date lies in [start, end]. Held entries of that scope and period that the
    page does not carry are gone upstream."""

    scope: str
    start: date
    end: date


class ReplacingPage(list[TimeEntry]):
    """A page that replaces a period of one source (a CSV export), stored in one transaction.

    ``on_commit`` runs once the page is committed, never before (a drop folder archives
    its file then, so nothing is lost if the process stops in between).
    """

    def __init__(self, entries: Iterable[TimeEntry], replaces: Replacement,
                 on_commit: Callable[[], None] = lambda: None) -> None:
        super().__init__(entries)
        self.replaces = replaces
        self.on_commit = on_commit


class Connector(ABC):
    """One vendor account: listing changed entries, listing a window, normalizing payloads.

    A connector knows nothing of retainers. Subclasses declare the class attributes and
    implement :meth:`changes`, :meth:`window` and :meth:`normalize`; every request goes
    through ``self.http`` (the funnel), which maps failures to syncd's error vocabulary.
    """

    vendor: ClassVar[str]
    display_name: ClassVar[str]
    settings_model: ClassVar[type[AccountSettings]]
    selector_model: ClassVar[type[SourceSelector]]
    max_page_size: ClassVar[int]
    budget: ClassVar[Budget]
    default_base_url: ClassVar[str]
    # How the source is read: "http" for vendor APIs (requests, throttles, 5xx apply),
    # "files" for a drop folder. The contract suite runs HTTP promises on HTTP sources only.
    transport: ClassVar[Literal["http", "files"]] = "http"
    # Whether :meth:`window` can re-list every live entry of a period (the deletion
    # reconcile). A drop folder cannot: its deletions come with each export it replaces.
    lists_window: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        settings: AccountSettings,
        routes: Sequence[ClientRoute],
        http: Funnel,
        *,
        default_timezone: str = "UTC",
    ) -> None:
        self.name = name
        self.settings = settings
        self.routes = tuple(routes)
        self.http = http
        self.default_timezone = default_timezone

    @classmethod
    @abstractmethod
    def http_options(cls, settings: Any) -> dict[str, Any]:
        """Keyword arguments for the funnel: ``headers`` and optionally ``auth``."""

    @classmethod
    def budget_for(cls, settings: Any) -> Budget:
        """The request budget for an account; vendors may let settings lower it."""
        return cls.budget

    @abstractmethod
    def changes(self, since: datetime | None, backfill_from: date) -> AsyncIterator[list[TimeEntry]]:
        """Pages of entries changed since ``since``; with no cursor, all work from ``backfill_from``."""

    @abstractmethod
    def window(self, start: date, end: date) -> AsyncIterator[list[TimeEntry]]:
        """Pages of every live entry worked between ``start`` and ``end`` inclusive (reconcile)."""

    @abstractmethod
    def normalize(self, raw: dict[str, Any]) -> TimeEntry:
        """One vendor payload as a TimeEntry (pure); raise PayloadError when it cannot be read."""

    async def aclose(self) -> None:
        """Release the connection pool."""
        await self.http.aclose()
