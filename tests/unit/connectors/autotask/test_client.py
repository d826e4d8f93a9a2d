"""The Autotask connector's requests: header credentials, zone, query bodies, paging, lookups, throttles, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.autotask.client import (
    DEFAULT_ZONE_URL,
    THREAD_LIMIT_WAIT,
    THRESHOLD_WAIT,
    AutotaskConnector,
    AutotaskSelector,
    AutotaskSettings,
)
from connectors.base import ClientRoute
from connectors.http import Funnel
from syncd.errors import AuthError, PayloadError, RateLimited, TransientError

ROOT = "https://webservices5.autotask.net/atservicesrest"
ENTRIES = f"{ROOT}/V1.0/TimeEntries/query"
NEXT = "https://webservices5.autotask.net/ATServicesRest/V1.0/TimeEntries/query/next"
SINCE = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=timezone.utc)

TABLES: dict[str, dict[int, dict[str, Any]]] = {
    "Tickets": {
        7401: {"id": 7401, "ticketNumber": "T20261102.0004", "title": "Printer offline", "companyID": 174,
               "ticketType": 2},
        7402: {"id": 7402, "ticketNumber": "T20261102.0005", "title": "Label printer", "companyID": 176,
               "ticketType": 1},
    },
    "Tasks": {41011: {"id": 41011, "title": "Migrate records", "projectID": 4101}},
    "Projects": {4101: {"id": 4101, "projectName": "Practice system upgrade", "companyID": 175}},
    "Resources": {29682885: {"id": 29682885, "firstName": "Ingrid", "lastName": "Halvorsen"}},
    "Roles": {29683355: {"id": 29683355, "name": "Technician"}},
    "BillingCodes": {
        29682801: {"id": 29682801, "name": "Remote Support", "afterHoursWorkType": 29682806},
        29682806: {"id": 29682806, "name": "Remote Support - After Hours", "afterHoursWorkType": None},
    },
}
TICKET_FIELDS = {"fields": [{"name": "ticketType", "isPickList": True, "picklistValues": [
    {"value": "1", "label": "Service Request"}, {"value": "2", "label": "Incident"}]}]}


class Sleeps:
    """A recorded stand-in for asyncio.sleep: the funnel's waits, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def settings(**changes: Any) -> AutotaskSettings:
    data = {"vendor": "autotask", "username": "syncd-api@northbridge.example", "secret": "s3cr3t-VALUE",
            "integration_code": "TRACKINGID123", "base_url": ROOT, "threshold_check_every": None}
    return AutotaskSettings.model_validate({**data, **changes})


def connector(companies: dict[str, int] | None = None, sleeps: Sleeps | None = None,
              **changes: Any) -> AutotaskConnector:
    companies = {"acme": 174, "birchwood": 175, "cobalt": 176} if companies is None else companies
    routes = [ClientRoute(key, AutotaskSelector(account="at", company_id=cid)) for key, cid in companies.items()]
    account = settings(**changes)
    # No request budget: its wait runs on the real monotonic clock, which a recorded sleep never moves.
    http = Funnel(vendor=AutotaskConnector.display_name, base_url=account.base_url or DEFAULT_ZONE_URL,
                  sleep=sleeps or Sleeps(), **AutotaskConnector.http_options(account))
    return AutotaskConnector("at", account, routes, http)


def page(items: list[Any], next_url: str | None = None) -> dict[str, Any]:
    return {"items": items, "pageDetails": {"count": len(items), "requestCount": 500,
                                            "prevPageUrl": None, "nextPageUrl": next_url}}


def wire(entry_id: int, **changes: Any) -> dict[str, Any]:
    return {"id": entry_id, "ticketID": 7401, "taskID": None, "resourceID": 29682885, "roleID": 29683355,
            "billingCodeID": 29682801, "dateWorked": "2026-11-20T00:00:00Z", "hoursWorked": 1.0,
            "startDateTime": "2026-11-20T15:00:00Z", "endDateTime": "2026-11-20T16:00:00Z",
            "summaryNotes": f"Work {entry_id}", "internalNotes": None, "isNonBillable": False,
            "lastModifiedDateTime": "2026-11-20T16:05:00.000Z", "createDateTime": "2026-11-20T16:05:00.000Z",
            **changes}


def body(call: Any) -> Any:
    return json.loads(call.request.content)


def lookups(tables: dict[str, dict[int, dict[str, Any]]] = TABLES) -> dict[str, respx.Route]:
    """Lookup endpoints answering ``in`` filters (and ``gte id 0`` for billing codes) from ``tables``."""
    routes: dict[str, respx.Route] = {}
    for entity, rows in tables.items():
        def answer(request: httpx.Request, rows: dict[int, dict[str, Any]] = rows) -> httpx.Response:
            condition = json.loads(request.content)["filter"][0]
            if condition["op"] == "in":
                items = [rows[i] for i in condition["value"] if i in rows]
            else:
                items = list(rows.values())
            return httpx.Response(200, json=page(items))
        routes[entity] = respx.post(f"{ROOT}/V1.0/{entity}/query").mock(side_effect=answer)
    routes["fields"] = respx.get(f"{ROOT}/V1.0/Tickets/entityInformation/fields").mock(
        return_value=httpx.Response(200, json=TICKET_FIELDS))
    return routes


async def collect(pages: AsyncIterator[list[Any]]) -> list[Any]:
    return [item async for page_ in pages for item in page_]


@pytest.fixture
async def at() -> AsyncIterator[AutotaskConnector]:
    opened = connector()
    yield opened
    await opened.aclose()


# --- settings -------------------------------------------------------------------------


def test_secrets_never_show_in_reprs() -> None:
    text = repr(settings()) + str(settings())
    assert "s3cr3t-VALUE" not in text and "TRACKINGID123" not in text


@pytest.mark.parametrize(("given", "stored"), [
    ("https://webservices5.autotask.net", "https://webservices5.autotask.net/atservicesrest/"),
    ("https://webservices5.autotask.net/ATServicesRest", "https://webservices5.autotask.net/ATServicesRest/"),
    ("http://proxy.internal:8080/autotask/", "http://proxy.internal:8080/autotask/"),
])
def test_base_url_is_the_zones_rest_root_and_a_bare_autotask_host_means_atservicesrest(given: str, stored: str) -> None:
    assert settings(base_url=given).base_url == stored


@pytest.mark.parametrize("field", ["base_url", "zone_url"])
def test_urls_other_than_http_are_refused(field: str) -> None:
    with pytest.raises(ValidationError):
        settings(**{field: "ftp://webservices5.autotask.net/"})


def test_the_budget_follows_requests_per_hour_with_autotasks_three_threads() -> None:
    budget = AutotaskConnector.budget_for(settings(requests_per_hour=1200))
    assert (budget.requests, budget.per_seconds, budget.max_concurrency) == (1200, 3600.0, 3)
    assert AutotaskConnector.budget_for(settings()).requests == 3000


def test_the_threshold_check_interval_reads_like_other_intervals_or_null() -> None:
    assert settings(threshold_check_every="30m").threshold_check_every == 1800
    assert settings(threshold_check_every=None).threshold_check_every is None
    assert AutotaskSettings.model_validate({k: v for k, v in settings().model_dump().items()
                                            if k != "threshold_check_every"} | {
        "secret": "x", "integration_code": "y"}).threshold_check_every == 3600


def test_the_selector_takes_a_company_id_including_the_msps_own() -> None:
    assert AutotaskSelector.model_validate({"account": "at", "company_id": 0}).company_id == 0
    with pytest.raises(ValidationError):
        AutotaskSelector.model_validate({"account": "at", "company_id": -1})
    with pytest.raises(ValidationError):
        AutotaskSelector.model_validate({"account": "at", "account_id": 174})


# --- request shapes -------------------------------------------------------------------


@respx.mock
async def test_every_request_carries_the_integration_code_username_and_secret(at: AutotaskConnector) -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    headers = route.calls.last.request.headers
    assert headers["ApiIntegrationCode"] == "TRACKINGID123"
    assert headers["UserName"] == "syncd-api@northbridge.example"
    assert headers["Secret"] == "s3cr3t-VALUE"
    assert headers["Content-Type"] == "application/json"


@respx.mock
async def test_an_idle_incremental_poll_is_one_last_modified_query_at_500_records(at: AutotaskConnector) -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    assert await collect(at.changes(SINCE, date(2026, 1, 1))) == []
    assert route.call_count == 1 and at.http.requests == 1
    assert body(route.calls.last) == {
        "MaxRecords": 500,
        "filter": [{"op": "gte", "field": "lastModifiedDateTime", "value": "2026-11-20T10:00:00.123Z"}],
    }


@respx.mock
async def test_the_backfill_filters_on_date_worked_from_noon_the_day_before(at: AutotaskConnector) -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    await collect(at.changes(None, date(2026, 10, 1)))
    assert body(route.calls.last)["filter"] == [
        {"op": "gte", "field": "dateWorked", "value": "2026-09-30T12:00:00Z"}]


@respx.mock
async def test_the_window_lists_date_worked_between_noons_around_its_days(at: AutotaskConnector) -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    await collect(at.window(date(2026, 11, 1), date(2026, 11, 30)))
    assert body(route.calls.last) == {"MaxRecords": 500, "filter": [
        {"op": "gte", "field": "dateWorked", "value": "2026-10-31T12:00:00Z"},
        {"op": "lt", "field": "dateWorked", "value": "2026-11-30T12:00:00Z"}]}


@respx.mock
async def test_an_account_no_client_reads_sends_no_request() -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    at = connector(companies={})
    assert await collect(at.changes(SINCE, date(2026, 1, 1))) == []
    assert await collect(at.window(date(2026, 11, 1), date(2026, 11, 30))) == []
    await at.aclose()
    assert not route.called


# --- paging ---------------------------------------------------------------------------


@respx.mock
async def test_paging_follows_next_page_url_with_get_until_it_is_null(at: AutotaskConnector) -> None:
    lookups()
    first = f"{NEXT}?paging=%7B%22afterId%22%3A2%7D&search=%7B%7D"
    second = f"{NEXT}?paging=%7B%22afterId%22%3A3%7D&search=%7B%7D"
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1), wire(2)], first)))
    follow = respx.get(url__startswith=NEXT).mock(side_effect=[
        httpx.Response(200, json=page([wire(3)], second)), httpx.Response(200, json=page([wire(4)]))])
    entries = await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert [e.vendor_id for e in entries] == ["1", "2", "3", "4"]
    assert [str(c.request.url) for c in follow.calls] == [first, second]


@respx.mock
async def test_a_405_on_the_next_page_switches_to_posting_the_same_body_for_good(at: AutotaskConnector) -> None:
    lookups()
    link = f"{NEXT}?paging=%7B%22afterId%22%3A1%7D"
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1)], link)))
    get_next = respx.get(url__startswith=NEXT).mock(return_value=httpx.Response(
        405, json={"Message": "The requested resource does not support http method 'GET'."}))
    post_next = respx.post(url__startswith=NEXT).mock(return_value=httpx.Response(200, json=page([wire(2)])))
    assert len(await collect(at.changes(SINCE, date(2026, 1, 1)))) == 2
    assert len(await collect(at.changes(SINCE, date(2026, 1, 1)))) == 2
    assert get_next.call_count == 1 and post_next.call_count == 2
    assert body(post_next.calls.last) == body(respx.calls[0])


@respx.mock
async def test_a_next_page_on_another_host_is_refused(at: AutotaskConnector) -> None:
    lookups()
    respx.post(ENTRIES).mock(return_value=httpx.Response(
        200, json=page([wire(1)], "https://evil.example/ATServicesRest/V1.0/TimeEntries/query/next?paging=x")))
    with pytest.raises(PayloadError, match="another host"):
        await collect(at.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_a_next_page_repeating_one_already_read_is_a_paging_loop(at: AutotaskConnector) -> None:
    lookups()
    link = f"{NEXT}?paging=same"
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1)], link)))
    respx.get(url__startswith=NEXT).mock(return_value=httpx.Response(200, json=page([wire(2)], link)))
    with pytest.raises(PayloadError, match="paging loop"):
        await collect(at.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_an_empty_page_that_links_to_a_next_one_is_a_payload_error(at: AutotaskConnector) -> None:
    lookups()
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1)], f"{NEXT}?paging=2")))
    respx.get(url__startswith=NEXT).mock(return_value=httpx.Response(200, json=page([], f"{NEXT}?paging=3")))
    with pytest.raises(PayloadError, match="empty page that says more follow"):
        await collect(at.changes(SINCE, date(2026, 1, 1)))


@respx.mock
@pytest.mark.parametrize("answer", [
    pytest.param(httpx.Response(200, json={"pageDetails": {}}), id="no-items"),
    pytest.param(httpx.Response(200, json={"items": [7]}), id="item-not-an-object"),
    pytest.param(httpx.Response(200, json=page([], next_url=5)), id="next-url-not-a-string"),  # type: ignore[arg-type]
    pytest.param(httpx.Response(200, text='{"items": [', headers={"Content-Type": "application/json"}), id="not-json"),
])
async def test_an_answer_we_cannot_read_is_a_payload_error(at: AutotaskConnector, answer: httpx.Response) -> None:
    respx.post(ENTRIES).mock(return_value=answer)
    with pytest.raises(PayloadError):
        await collect(at.changes(SINCE, date(2026, 1, 1)))


# --- lookups and routing --------------------------------------------------------------


@respx.mock
async def test_what_entries_point_at_is_fetched_in_one_batched_query_per_kind(at: AutotaskConnector) -> None:
    routes = lookups()
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([
        wire(1), wire(2, ticketID=7402), wire(3, ticketID=None, taskID=41011)])))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert {name: r.call_count for name, r in routes.items()} == {
        "Tickets": 1, "Tasks": 1, "Projects": 1, "Resources": 1, "Roles": 1, "BillingCodes": 1, "fields": 1}
    assert body(routes["Tickets"].calls.last) == {
        "MaxRecords": 500, "filter": [{"op": "in", "field": "id", "value": [7401, 7402]}],
        "IncludeFields": ["id", "ticketNumber", "title", "companyID", "ticketType"]}
    assert body(routes["Projects"].calls.last)["filter"] == [{"op": "in", "field": "id", "value": [4101]}]
    assert body(routes["BillingCodes"].calls.last)["filter"] == [{"op": "gte", "field": "id", "value": 0}]


@respx.mock
async def test_entries_route_to_clients_through_ticket_and_task_project_companies(at: AutotaskConnector) -> None:
    lookups()
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([
        wire(1), wire(2, ticketID=7402), wire(3, ticketID=None, taskID=41011), wire(4, ticketID=None)])))
    entries = await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert {e.vendor_id: e.client_key for e in entries} == {"1": "acme", "2": "cobalt", "3": "birchwood", "4": None}
    first = entries[0]
    assert (first.worker_name, first.role, first.ticket_type, first.ticket_number) == (
        "Ingrid Halvorsen", "Technician", "Incident", "T20261102.0004")


@respx.mock
async def test_lookups_are_cached_so_a_later_poll_costs_only_its_query(at: AutotaskConnector) -> None:
    routes = lookups()
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1), wire(2, ticketID=7402)])))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    before = at.http.requests
    entries = await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert at.http.requests - before == 1
    assert routes["Tickets"].call_count == 1 and entries[1].client_key == "cobalt"


@respx.mock
async def test_ids_autotask_does_not_return_are_not_asked_for_again(at: AutotaskConnector) -> None:
    routes = lookups()
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1, ticketID=9999)])))
    first = await collect(at.changes(SINCE, date(2026, 1, 1)))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert routes["Tickets"].call_count == 1
    assert first[0].client_key is None and first[0].ticket_number is None


@respx.mock
async def test_more_than_500_distinct_ids_are_fetched_in_batches_of_500(at: AutotaskConnector) -> None:
    tickets = {i: {"id": i, "ticketNumber": f"T{i}", "title": "t", "companyID": 174} for i in range(1, 602)}
    routes = lookups({**TABLES, "Tickets": tickets})
    first = f"{NEXT}?paging=1"
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page(
        [wire(i, ticketID=i) for i in range(1, 501)], first)))
    respx.get(url__startswith=NEXT).mock(return_value=httpx.Response(200, json=page(
        [wire(i, ticketID=i) for i in range(501, 602)])))
    entries = await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert len(entries) == 601 and all(e.client_key == "acme" for e in entries)
    assert [len(body(c)["filter"][0]["value"]) for c in routes["Tickets"].calls] == [500, 101]


@respx.mock
async def test_billing_codes_are_read_whole_once_and_again_only_for_an_unknown_code(at: AutotaskConnector) -> None:
    routes = lookups()
    entries_route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1)])))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    entries_route.mock(return_value=httpx.Response(200, json=page([wire(2, billingCodeID=29682806)])))
    after_hours = await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert routes["BillingCodes"].call_count == 1 and after_hours[0].tags == ("after-hours",)
    entries_route.mock(return_value=httpx.Response(200, json=page([wire(3, billingCodeID=777)])))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert routes["BillingCodes"].call_count == 2


@respx.mock
async def test_the_reconcile_rereads_tickets_so_a_ticket_moved_to_another_company_moves_its_entries(
        at: AutotaskConnector) -> None:
    tables = {**TABLES, "Tickets": {k: dict(v) for k, v in TABLES["Tickets"].items()}}
    routes = lookups(tables)
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([wire(1)])))
    assert (await collect(at.changes(SINCE, date(2026, 1, 1))))[0].client_key == "acme"
    tables["Tickets"][7401]["companyID"] = 175
    assert (await collect(at.changes(SINCE, date(2026, 1, 1))))[0].client_key == "acme"  # cached
    assert (await collect(at.window(date(2026, 11, 1), date(2026, 11, 30))))[0].client_key == "birchwood"
    assert routes["Tickets"].call_count == 2 and routes["Resources"].call_count == 1


# --- zone discovery -------------------------------------------------------------------


@respx.mock
async def test_without_base_url_the_zone_is_discovered_once_and_queries_go_there() -> None:
    zone = respx.get("https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation").mock(
        return_value=httpx.Response(200, json={"zoneName": "Pre-Release", "url": f"{ROOT}/",
                                               "webUrl": "https://ww5.autotask.net/", "ci": 5}))
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    at = connector(base_url=None)
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert zone.call_count == 1 and route.call_count == 2
    assert zone.calls.last.request.url.params["user"] == "syncd-api@northbridge.example"


@respx.mock
@pytest.mark.parametrize("url", ["https://webservices5.evil.example/atservicesrest/",
                                 "http://webservices5.autotask.net/atservicesrest/", None])
async def test_a_zone_answer_our_credentials_may_not_follow_is_refused(url: str | None) -> None:
    respx.get("https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation").mock(
        return_value=httpx.Response(200, json={"url": url}))
    at = connector(base_url=None)
    with pytest.raises(PayloadError, match="zoneInformation"):
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()


@respx.mock
async def test_zone_url_points_discovery_at_a_proxy_whose_own_zone_is_accepted() -> None:
    proxy = "http://at-proxy.internal:8080/atservicesrest/"
    zone = respx.get(f"{proxy}v1.0/zoneInformation").mock(return_value=httpx.Response(200, json={"url": proxy}))
    route = respx.post(f"{proxy}V1.0/TimeEntries/query").mock(return_value=httpx.Response(200, json=page([])))
    at = connector(base_url=None, zone_url=proxy)
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert zone.called and route.called


# --- thresholds and throttles ---------------------------------------------------------

THRESHOLD = f"{ROOT}/V1.0/ThresholdInformation"


@respx.mock
async def test_threshold_information_is_read_at_most_once_per_interval() -> None:
    reading = respx.get(THRESHOLD).mock(return_value=httpx.Response(200, json={
        "externalRequestThreshold": 10000, "requestThresholdTimeframe": 60, "currentTimeframeRequestCount": 120}))
    respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    at = connector(threshold_check_every="1h")
    now = [1000.0]
    at.monotonic = lambda: now[0]
    for step in (0, 1800, 1799, 1):  # at 0, 1800, 3599, 3600 seconds
        now[0] += step
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert reading.call_count == 2


@respx.mock
async def test_polling_holds_back_while_the_database_nears_its_hourly_allowance() -> None:
    respx.get(THRESHOLD).mock(return_value=httpx.Response(200, json={
        "externalRequestThreshold": 10000, "requestThresholdTimeframe": 60, "currentTimeframeRequestCount": 8000}))
    listing = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    at = connector(threshold_check_every="1h", threshold_pause_percent=80)
    with pytest.raises(RateLimited, match="8000 of its 10000") as caught:
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert caught.value.retry_after == THRESHOLD_WAIT and not listing.called


@respx.mock
async def test_after_holding_back_the_next_poll_reads_the_threshold_again_before_listing() -> None:
    reading = respx.get(THRESHOLD).mock(side_effect=[
        httpx.Response(200, json={"externalRequestThreshold": 10000, "currentTimeframeRequestCount": 9000}),
        httpx.Response(200, json={"externalRequestThreshold": 10000, "currentTimeframeRequestCount": 4000})])
    listing = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    at = connector(threshold_check_every="1h")
    at.monotonic = lambda: 50.0  # no time passes: only the pause makes the second reading due
    with pytest.raises(RateLimited):
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert reading.call_count == 2 and listing.call_count == 1


@respx.mock
@pytest.mark.parametrize("answer", [httpx.Response(403, json={"errors": ["Forbidden"]}),
                                    httpx.Response(200, json={"unexpected": True})])
async def test_a_threshold_reading_we_cannot_take_or_read_does_not_stop_the_poll(answer: httpx.Response) -> None:
    respx.get(THRESHOLD).mock(return_value=answer)
    listing = respx.post(ENTRIES).mock(return_value=httpx.Response(200, json=page([])))
    at = connector(threshold_check_every="1h")
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert listing.called


@respx.mock
async def test_the_thread_limit_answer_is_waited_out_and_retried() -> None:
    sleeps = Sleeps()
    route = respx.post(ENTRIES).mock(side_effect=[
        httpx.Response(429, json={"errors": ["API thread threshold of 3 threads has been exceeded."]}),
        httpx.Response(200, json=page([]))])
    at = connector(sleeps=sleeps)
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert route.call_count == 2 and sleeps.calls == [THREAD_LIMIT_WAIT] and at.http.throttles == 1


@respx.mock
async def test_retry_after_is_honoured_when_autotask_sends_it() -> None:
    sleeps = Sleeps()
    respx.post(ENTRIES).mock(side_effect=[
        httpx.Response(429, json={"errors": ["API thread threshold of 3 threads has been exceeded."]},
                       headers={"Retry-After": "12"}),
        httpx.Response(200, json=page([]))])
    at = connector(sleeps=sleeps)
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert sleeps.calls == [12.0]


@respx.mock
@pytest.mark.parametrize("status", [429, 500])
async def test_the_hourly_threshold_answer_is_rate_limited_for_minutes_without_retrying(status: int) -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(status, json={
        "errors": ["The request threshold of 10000 requests per 60 minutes has been exceeded."]}))
    at = connector()
    with pytest.raises(RateLimited) as caught:
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert caught.value.retry_after == THRESHOLD_WAIT and route.call_count == 1


@respx.mock
async def test_a_500_carrying_the_thread_limit_message_is_rate_limited_not_a_server_error() -> None:
    sleeps = Sleeps()
    respx.post(ENTRIES).mock(side_effect=[
        httpx.Response(500, json={"errors": ["API thread threshold of 3 threads has been exceeded."]}),
        httpx.Response(200, json=page([]))])
    at = connector(sleeps=sleeps)
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert sleeps.calls == [THREAD_LIMIT_WAIT]


@respx.mock
async def test_a_429_without_a_known_message_is_still_rate_limited() -> None:
    sleeps = Sleeps()
    respx.post(ENTRIES).mock(side_effect=[httpx.Response(429, text=""), httpx.Response(200, json=page([]))])
    at = connector(sleeps=sleeps)
    await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert sleeps.calls == [THREAD_LIMIT_WAIT]


@respx.mock
async def test_refused_credentials_are_an_auth_error_without_retrying(at: AutotaskConnector) -> None:
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(401, json={"errors": ["Unauthorized"]}))
    with pytest.raises(AuthError):
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 1


@respx.mock
async def test_a_plain_server_error_is_retried_then_transient() -> None:
    sleeps = Sleeps()
    route = respx.post(ENTRIES).mock(return_value=httpx.Response(
        500, json={"errors": ["An unexpected error occurred while processing the request."]}))
    at = connector(sleeps=sleeps)
    with pytest.raises(TransientError):
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    await at.aclose()
    assert route.call_count == 4 and len(sleeps.calls) == 3


@respx.mock
async def test_a_rejected_query_is_a_payload_error_naming_autotasks_reason(at: AutotaskConnector) -> None:
    respx.post(ENTRIES).mock(return_value=httpx.Response(
        400, json={"errors": ["Unable to find the field 'lastModified' in the TimeEntries entity."]}))
    with pytest.raises(PayloadError, match="Unable to find the field"):
        await collect(at.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_error_messages_never_carry_the_secret(at: AutotaskConnector) -> None:
    respx.post(ENTRIES).mock(return_value=httpx.Response(401, json={"errors": ["Unauthorized"]}))
    with pytest.raises(AuthError) as caught:
        await collect(at.changes(SINCE, date(2026, 1, 1)))
    assert "s3cr3t-VALUE" not in str(caught.value) and "TRACKINGID123" not in str(caught.value)
