"""The Harvest connector's routing: which client's selector claims an entry."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import ClientRoute
from connectors.harvest.client import HarvestConnector, HarvestSelector, HarvestSettings
from connectors.http import Funnel

SELECTORS: dict[str, dict[str, Any]] = {
    "acme": {"client_id": 5001},
    "acme-maintenance": {"client_id": 5001, "project_ids": [7101]},
    "birch": {"client_id": 5002},
    "shared-project": {"project_ids": [7900]},
}


def connector(selectors: dict[str, dict[str, Any]] = SELECTORS) -> HarvestConnector:
    account = HarvestSettings.model_validate({"vendor": "harvest", "account_id": "100200", "token": "t"})
    routes = [ClientRoute(key, HarvestSelector(account="h", **sel)) for key, sel in selectors.items()]
    http = Funnel(vendor="Harvest", base_url="https://api.harvestapp.com", **HarvestConnector.http_options(account))
    return HarvestConnector("h", account, routes, http, default_timezone="UTC")


@pytest.mark.parametrize(("client", "project", "claimed_by"), [
    ({"id": 5001}, {"id": 7001}, "acme"),
    ({"id": 5001}, {"id": 7101}, "acme-maintenance"),  # a project selector beats its whole client
    ({"id": 5002}, {"id": 7101}, "birch"),  # the project belongs to another client's selector
    ({"id": 5003}, {"id": 7900}, "shared-project"),  # a project-only selector, whatever the client
    ({"id": 5001}, {"id": 7900}, "shared-project"),
    ({"id": 5003}, {"id": 7003}, None),  # no selector claims it
    ({"id": [5001]}, {"id": 7001}, None),  # a malformed client id matches nobody
    ("5001", {"id": 7001}, None),
    (None, {"id": 7900}, "shared-project"),
])
def test_the_most_specific_selector_claims_an_entry(client: Any, project: Any, claimed_by: str | None) -> None:
    harvest = connector()
    assert harvest.route({"client": client, "project": project}) == claimed_by
    # Asked again (the per-client lookup is remembered), the answer is the same.
    assert harvest.route({"client": client, "project": project}) == claimed_by


def test_five_hundred_clients_each_claim_their_own_entries() -> None:
    harvest = connector({f"c{cid}": {"client_id": cid} for cid in range(600_000, 600_500)})
    assert [harvest.route({"client": {"id": cid}, "project": {"id": 1}}) for cid in (600_000, 600_321, 600_499)] \
        == ["c600000", "c600321", "c600499"]
    assert harvest.route({"client": {"id": 600_500}, "project": {"id": 1}}) is None
