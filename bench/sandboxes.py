"""Vendor sandboxes holding many clients on one account, and the config that points syncd at them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from connectors.autotask.client import MAX_RECORDS as AUTOTASK_PAGE
from connectors.autotask.sandbox import ROOT as AUTOTASK_ROOT
from connectors.autotask.sandbox import AutotaskSandbox
from connectors.connectwise.sandbox import MAX_PAGE_SIZE as CW_PAGE
from connectors.connectwise.sandbox import ConnectWiseSandbox
from connectors.halopsa.client import REPORT_PAGE_SIZE as HALO_PAGE
from connectors.halopsa.sandbox import CHARGE_RATES, HaloSandbox
from connectors.harvest.sandbox import MAX_PER_PAGE as HARVEST_PAGE
from connectors.harvest.sandbox import HarvestSandbox
from connectors.toggl.sandbox import MAX_PAGE_SIZE as TOGGL_PAGE
from connectors.toggl.sandbox import TogglSandbox

Clock = Callable[[], datetime]
UNLIMITED = 10**9  # a vendor limit lifted, so a count measures what a design asks for
USER_AGENT = "syncd bench (bench@example.com)"
RETAINER = {"cycle": {"monthly": "2026-01-01"}, "pools": {"support": {"cap_hours": 20}}}


@dataclass
class Fleet:
    """One vendor sandbox with ``len(ids)`` clients on one account.

    ``ids`` are the vendor's client ids (companies for the PSAs), ``page_size`` the most
    entries one time-entry listing request returns, and ``listing`` tells a time-entry
    listing request (by path) from a lookup, a token or a discovery request.
    """

    vendor: str
    sandbox: Any
    ids: list[int]
    selector_key: str
    page_size: int
    listing: Callable[[str], bool]
    _account: Callable[[str], dict[str, Any]]
    _add: Callable[[int, str, float], Any]

    def account(self, base_url: str) -> dict[str, Any]:
        """The account's syncd.yaml mapping for the sandbox served at ``base_url``."""
        return self._account(base_url)

    def selector(self, client: int) -> dict[str, Any]:
        """Client number ``client``'s source selector (without ``account``)."""
        return {self.selector_key: self.ids[client]}

    def add_work(self, client: int, notes: str, hours: float = 0.5) -> Any:
        """Log ``hours`` of work that ends now for client number ``client``; returns the vendor's record."""
        return self._add(client, notes, hours)

    def requests(self) -> int:
        """Every request the sandbox has answered."""
        return int(self.sandbox.counters["requests"])


def harvest(clock: Clock, clients: int, **_: Any) -> Fleet:
    """Harvest: one client id per client; entries carry their client."""
    sandbox = HarvestSandbox(clock=clock, rate_limit=UNLIMITED)
    ids = [sandbox.add_client(f"Client {i}") for i in range(clients)]

    def add(client: int, notes: str, hours: float) -> Any:
        return sandbox.add_entry(client_id=ids[client], hours=hours, spent_date=clock().date(), notes=notes)

    return Fleet("harvest", sandbox, ids, "client_id", HARVEST_PAGE, lambda p: p == "/v2/time_entries",
                 lambda url: {"vendor": "harvest", "base_url": url, "account_id": sandbox.account_id,
                              "token": sandbox.token, "user_agent": USER_AGENT}, add)


def connectwise(clock: Clock, clients: int, **_: Any) -> Fleet:
    """ConnectWise PSA: one company per client; each entry on a new service ticket."""
    sandbox = ConnectWiseSandbox(clock=clock, rate_limit=UNLIMITED)
    ids = [sandbox.add_company(f"Client {i}") for i in range(clients)]

    def add(client: int, notes: str, hours: float) -> Any:
        return sandbox.add_entry(company_id=ids[client], hours=hours, notes=notes)

    return Fleet("connectwise", sandbox, ids, "company_id", CW_PAGE, lambda p: p.endswith("/time/entries"),
                 lambda url: {"vendor": "connectwise", "base_url": url, "company": sandbox.company,
                              "public_key": sandbox.public_key, "private_key": sandbox.private_key,
                              "client_id": sandbox.client_id}, add)


def autotask(clock: Clock, clients: int, **_: Any) -> Fleet:
    """Autotask PSA: one company per client; each entry on a new ticket (so every poll with
    changes needs a batched ticket lookup to learn the entries' companies)."""
    sandbox = AutotaskSandbox(clock=clock, threshold=UNLIMITED)
    ids = [sandbox.add_company(f"Client {i}") for i in range(clients)]
    for cid in ids:
        sandbox.add_ticket(cid, "Onboarding")  # every client has tickets (and so its contract) already
    technician = next(r for r, row in sandbox.tables["Resources"].items() if row["resourceType"] == "Employee")

    def add(client: int, notes: str, hours: float) -> Any:
        ticket = sandbox.add_ticket(ids[client], notes)
        return sandbox.add_entry(resource_id=technician, hours=hours, ticket_id=ticket, summary_notes=notes,
                                 start=clock() - timedelta(hours=hours))

    return Fleet("autotask", sandbox, ids, "company_id", AUTOTASK_PAGE,
                 lambda p: p.casefold().startswith(f"/{AUTOTASK_ROOT}/v1.0/timeentries/query"),
                 lambda url: {"vendor": "autotask", "base_url": f"{url.rstrip('/')}/{AUTOTASK_ROOT}",
                              "username": sandbox.username, "secret": sandbox.secret,
                              "integration_code": sandbox.integration_code}, add)


def halopsa(clock: Clock, clients: int, **_: Any) -> Fleet:
    """HaloPSA: one Halo client per client; each entry a timed action on a new ticket."""
    sandbox = HaloSandbox(clock=clock, rate_limit=UNLIMITED)
    ids = [sandbox.add_client(f"Client {i}") for i in range(clients)]
    agent = next(iter(sandbox.agents))

    def add(client: int, notes: str, hours: float) -> Any:
        ticket = sandbox.add_ticket(client_id=ids[client], summary=notes)
        action = sandbox.add_action(ticket, agent_id=agent, note=notes, hours=hours,
                                    start=clock() - timedelta(hours=hours))
        return ticket, action

    return Fleet("halopsa", sandbox, ids, "client_id", HALO_PAGE, lambda p: p == "/api/Report",
                 lambda url: {"vendor": "halopsa", "base_url": url, "tenant": sandbox.tenant,
                              "client_id": sandbox.client_id, "client_secret": sandbox.client_secret,
                              "charge_rates": dict(CHARGE_RATES)}, add)


def toggl(clock: Clock, clients: int, *, plan: str = "starter", quota: int = UNLIMITED, **_: Any) -> Fleet:
    """Toggl Track: one Toggl client per client (each with its projects); ``plan`` sets the
    hourly budget syncd keeps to, ``quota`` what the sandbox itself allows an hour."""
    sandbox = TogglSandbox(clock=clock, requests_per_hour=quota)
    ids = [sandbox.add_client(f"Client {i}") for i in range(clients)]
    user = next(iter(sandbox.users))

    def add(client: int, notes: str, hours: float) -> Any:
        seconds = round(hours * 3600)
        return sandbox.add_entry(user_id=user, project_id=sandbox.client_projects[ids[client]][0],
                                 start=clock() - timedelta(seconds=seconds), seconds=seconds, description=notes)

    return Fleet("toggl", sandbox, ids, "client_id", TOGGL_PAGE, lambda p: p.endswith("/search/time_entries"),
                 lambda url: {"vendor": "toggl", "base_url": url, "workspace_id": sandbox.workspace_id,
                              "api_token": sandbox.token, "plan": plan, "user_agent": USER_AGENT}, add)


FLEETS: dict[str, Callable[..., Fleet]] = {
    "connectwise": connectwise, "autotask": autotask, "halopsa": halopsa, "harvest": harvest, "toggl": toggl,
}


@dataclass(frozen=True)
class ClientFile:
    """One client's file: which account it reads with which selector, and how fresh its page must be."""

    key: str
    account: str
    selector: Mapping[str, Any]
    refresh: str | None = None
    timezone: str = "UTC"


def write_config(folder: Path, accounts: Mapping[str, Mapping[str, Any]], clients: Sequence[ClientFile], *,
                 refresh: str = "5m", extra: Mapping[str, Any] | None = None) -> Path:
    """A config directory: ``syncd.yaml`` with ``accounts`` and one file per client; returns ``folder``."""
    (folder / "clients").mkdir(parents=True)
    main = {"accounts": {k: dict(v) for k, v in accounts.items()},
            "defaults": {"refresh": refresh, "timezone": "UTC"}, **(extra or {})}
    (folder / "syncd.yaml").write_text(yaml.safe_dump(main))
    for client in clients:
        body: dict[str, Any] = {"name": client.key.replace("-", " ").title(), "timezone": client.timezone,
                                "sources": [{"account": client.account, **client.selector}], "retainer": RETAINER}
        if client.refresh:
            body["refresh"] = client.refresh
        (folder / "clients" / f"{client.key}.yaml").write_text(yaml.safe_dump(body))
    return folder


def client_files(fleet: Fleet, account: str, *, prefix: str = "c", refresh: str | None = None) -> list[ClientFile]:
    """One client file per client of ``fleet``, keyed ``{prefix}0000``, ``{prefix}0001``…"""
    return [ClientFile(f"{prefix}{i:04d}", account, fleet.selector(i), refresh) for i in range(len(fleet.ids))]
