"""The Autotask sandbox speaks ATServicesRest V1.0: auth, zone, queries, paging, limits, faults, data."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.autotask.sandbox import (
    ADMIN,
    INCIDENT,
    ONSITE,
    REMOTE,
    REMOTE_AH,
    TRAVEL,
    AutotaskSandbox,
    make_driver,
)

NOW = datetime(2026, 11, 20, 15, 4, 5, tzinfo=UTC)  # a Friday
BASE = "https://webservices5.autotask.net"
API = "/atservicesrest/V1.0"
HEADERS = {"ApiIntegrationCode": "SANDBOXTRACKINGID0001", "UserName": "syncd-api@northbridge-it.example",
           "Secret": "sandbox-secret"}
TECHNICIANS = ("Ingrid Halvorsen", "Kwame Asante", "Rafael Quintero", "Dmitri Volkov", "Siobhan Gallagher")
INGRID = 29682885


class Clock:
    """A settable clock for the sandbox; tests move it instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def sandbox(clock: Clock) -> AutotaskSandbox:
    return AutotaskSandbox(clock=clock)


def _client(sandbox: AutotaskSandbox, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=BASE,
                             headers=HEADERS if headers is None else headers)


@pytest.fixture
async def client(sandbox: AutotaskSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(sandbox) as http:
        yield http


def q(*filters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"filter": list(filters), **extra}


def since(moment: datetime) -> dict[str, Any]:
    return {"op": "gte", "field": "lastModifiedDateTime", "value": moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")}


async def query(http: httpx.AsyncClient, entity: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post(f"{API}/{entity}/query", json=body)


async def query_all(http: httpx.AsyncClient, entity: str,
                    body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow pageDetails.nextPageUrl with GET from the first page; returns (items, page envelopes)."""
    response = await query(http, entity, body)
    pages = []
    while True:
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_url = pages[-1]["pageDetails"]["nextPageUrl"]
        if next_url is None:
            break
        response = await http.get(next_url)
    return [item for page in pages for item in page["items"]], pages


def entry_ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


# ------------------------------------------------------------------------------------ auth


@pytest.mark.parametrize("missing", ["ApiIntegrationCode", "UserName", "Secret"])
async def test_a_request_without_one_of_the_three_credential_headers_is_401(sandbox: AutotaskSandbox,
                                                                            missing: str) -> None:
    async with _client(sandbox, {k: v for k, v in HEADERS.items() if k != missing}) as http:
        response = await query(http, "Tickets", q({"op": "gte", "field": "id", "value": 0}))
    assert response.status_code == 401 and "errors" in response.json()
    assert sandbox.counters["401"] == 1


async def test_a_wrong_secret_is_401(sandbox: AutotaskSandbox) -> None:
    async with _client(sandbox, {**HEADERS, "Secret": "nope"}) as http:
        assert (await query(http, "Tickets", q({"op": "gte", "field": "id", "value": 0}))).status_code == 401


@pytest.mark.parametrize("header", ["UserName", "ApiIntegrationCode"])
async def test_an_unknown_username_or_integration_code_is_500_as_autotask_answers(sandbox: AutotaskSandbox,
                                                                                  header: str) -> None:
    async with _client(sandbox, {**HEADERS, header: "someone-else"}) as http:
        response = await query(http, "Tickets", q({"op": "gte", "field": "id", "value": 0}))
    assert response.status_code == 500 and response.json()["errors"]
    assert sandbox.counters["401"] == 0


async def test_header_names_and_the_username_ignore_case(sandbox: AutotaskSandbox) -> None:
    headers = {"apiintegrationcode": HEADERS["ApiIntegrationCode"], "USERNAME": HEADERS["UserName"].upper(),
               "secret": HEADERS["Secret"]}
    async with _client(sandbox, headers) as http:
        assert (await query(http, "Roles", q({"op": "gte", "field": "id", "value": 0}))).status_code == 200


async def test_fail_auth_refuses_good_credentials_until_switched_off(sandbox: AutotaskSandbox,
                                                                     client: httpx.AsyncClient) -> None:
    sandbox.fail_auth(True)
    assert (await query(client, "Roles", q({"op": "gte", "field": "id", "value": 0}))).status_code == 401
    sandbox.fail_auth(False)
    assert (await query(client, "Roles", q({"op": "gte", "field": "id", "value": 0}))).status_code == 200


# ------------------------------------------------------------------------------------ zone


async def test_zone_information_needs_no_credentials_and_answers_this_hosts_rest_root(
        sandbox: AutotaskSandbox) -> None:
    async with _client(sandbox, {}) as http:
        response = await http.get("/atservicesrest/v1.0/zoneInformation",
                                  params={"user": "syncd-api@northbridge-it.example"})
    assert response.status_code == 200
    assert response.json()["url"] == f"{BASE}/atservicesrest/"
    assert set(response.json()) == {"zoneName", "url", "webUrl", "ci"}


async def test_zone_information_for_an_unknown_user_is_an_error(client: httpx.AsyncClient) -> None:
    response = await client.get("/atservicesrest/v1.0/zoneInformation", params={"user": "nobody@example.com"})
    assert response.status_code == 500


# ------------------------------------------------------------------------------------ queries


async def test_a_query_answers_items_and_page_details(sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    response = await query(client, "Roles", q({"op": "gte", "field": "id", "value": 0}))
    doc = response.json()
    assert set(doc) == {"items", "pageDetails"}
    assert doc["pageDetails"] == {"count": 3, "requestCount": 500, "prevPageUrl": None, "nextPageUrl": None}
    assert [r["name"] for r in doc["items"]] == ["Technician", "Senior Engineer", "Field Engineer"]
    assert sandbox.counters["lookups"] == 1


async def test_a_get_query_takes_the_model_in_the_search_parameter(client: httpx.AsyncClient) -> None:
    search = json.dumps(q({"op": "eq", "field": "name", "value": "technician"}))
    response = await client.get(f"{API}/Roles/query", params={"search": search})
    assert [r["id"] for r in response.json()["items"]] == [29683355]


async def test_paths_and_entity_names_ignore_case(client: httpx.AsyncClient) -> None:
    response = await client.post("/ATSERVICESREST/v1.0/roles/QUERY", json=q({"op": "gte", "field": "ID", "value": 0}))
    assert response.status_code == 200 and len(response.json()["items"]) == 3


async def test_query_model_keys_ignore_case(client: httpx.AsyncClient) -> None:
    response = await query(client, "Roles", {"Filter": [{"op": "gte", "field": "id", "value": 0}], "maxRecords": 1})
    assert len(response.json()["items"]) == 1


async def test_include_fields_narrows_each_item_and_keeps_its_id(client: httpx.AsyncClient) -> None:
    response = await query(client, "Tickets", q({"op": "in", "field": "id", "value": [7401, 7402]},
                                                 IncludeFields=["companyID", "ticketNumber"]))
    assert [set(item) for item in response.json()["items"]] == [{"id", "companyID", "ticketNumber"}] * 2


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(q({"op": "gte", "field": "id", "value": 0}, MaxRecords=501), "MaxRecords", id="max-records-over-500"),
    pytest.param(q({"op": "gte", "field": "id", "value": 0}, MaxRecords=0), "MaxRecords", id="max-records-zero"),
    pytest.param({"MaxRecords": 10}, "at least one filter", id="no-filter"),
    pytest.param(q({"op": "gte", "field": "lastModified", "value": 0}), "Unable to find the field", id="unknown-field"),
    pytest.param(q({"op": "like", "field": "id", "value": 0}), "Unknown operator", id="unknown-operator"),
    pytest.param(q({"op": "in", "field": "id", "value": 7}), "array", id="in-without-array"),
    pytest.param(q({"op": "or", "items": []}), "non-empty items", id="empty-or"),
    pytest.param(q({"op": "eq", "field": "id", "value": "seven"}), "not valid", id="value-of-the-wrong-type"),
    pytest.param(q({"op": "gte", "field": "id", "value": 0}, IncludeFields=["nope"]), "Unable to find",
                 id="bad-include"),
])
async def test_a_query_autotask_refuses_is_500_with_an_errors_list(sandbox: AutotaskSandbox, client: httpx.AsyncClient,
                                                                  body: dict[str, Any], message: str) -> None:
    response = await query(client, "TimeEntries", body)
    assert response.status_code == 500
    assert message in response.json()["errors"][0]


async def test_a_filter_on_last_modified_is_inclusive_and_compares_instants(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient, clock: Clock) -> None:
    first = sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    clock.advance(seconds=1)
    second = sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    items, _ = await query_all(client, "TimeEntries", q(since(NOW)))
    assert entry_ids(items) == [first["id"], second["id"]]
    after = {"op": "gt", "field": "lastModifiedDateTime", "value": "2026-11-20T16:04:05+01:00"}  # = NOW in UTC
    items, _ = await query_all(client, "TimeEntries", q(after))
    assert entry_ids(items) == [second["id"]]


async def test_a_date_worked_range_selects_entries_by_their_day(sandbox: AutotaskSandbox,
                                                               client: httpx.AsyncClient) -> None:
    days = [date(2026, 11, d) for d in (2, 3, 4, 5)]
    ids = [sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401, date_worked=d)["id"] for d in days]
    items, _ = await query_all(client, "TimeEntries", q(
        {"op": "gte", "field": "dateWorked", "value": "2026-11-03"},
        {"op": "lte", "field": "dateWorked", "value": "2026-11-04T00:00:00Z"}))
    assert entry_ids(items) == ids[1:3]


async def test_nested_and_or_in_and_noteq_filters_are_honoured(sandbox: AutotaskSandbox,
                                                             client: httpx.AsyncClient) -> None:
    response = await query(client, "Tickets", q(
        {"op": "or", "items": [
            {"op": "and", "items": [{"op": "eq", "field": "companyID", "value": 174},
                                    {"op": "eq", "field": "ticketType", "value": INCIDENT}]},
            {"op": "in", "field": "id", "value": [7409, 7410]}]},
        {"op": "noteq", "field": "title", "value": "patient check-in kiosk frozen"}))
    tickets = sandbox.tables["Tickets"]
    expected = sorted(t for t, row in tickets.items()
                      if ((row["companyID"] == 174 and row["ticketType"] == INCIDENT) or t in (7409, 7410))
                      and row["title"] != "Patient check-in kiosk frozen")
    assert [t["id"] for t in response.json()["items"]] == expected and expected


async def test_text_operators_and_exist_are_honoured(sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    starts = await query(client, "Tickets", q({"op": "beginsWith", "field": "title", "value": "monthly patching"}))
    assert len(starts.json()["items"]) == 4
    contains = await query(client, "Tickets", q({"op": "contains", "field": "title", "value": "PRINTER"}))
    assert {t["title"] for t in contains.json()["items"]} >= {"Reception printer dropping off the network"}
    sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401, internal_notes="note")
    sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    items, _ = await query_all(client, "TimeEntries", q(since(NOW), {"op": "exist", "field": "internalNotes"}))
    assert [i["internalNotes"] for i in items] == ["note"]
    items, _ = await query_all(client, "TimeEntries", q(since(NOW), {"op": "notExist", "field": "internalNotes"}))
    assert [i["internalNotes"] for i in items] == [None]


# ------------------------------------------------------------------------------------ paging


async def test_pages_hold_500_records_in_id_order_and_next_page_urls_cover_every_match_once(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    ids = [sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)["id"] for _ in range(1201)]
    items, pages = await query_all(client, "TimeEntries", q(since(NOW)))
    assert entry_ids(items) == ids
    assert [p["pageDetails"]["count"] for p in pages] == [500, 500, 201]
    assert pages[0]["pageDetails"]["prevPageUrl"] is None
    assert pages[-1]["pageDetails"]["nextPageUrl"] is None
    assert sandbox.counters["time_entries"] == 3


async def test_a_next_page_url_is_an_absolute_query_next_get_url_carrying_paging_and_search(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    for _ in range(3):
        sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)
    body = q(since(NOW), MaxRecords=2)
    first = (await query(client, "TimeEntries", body)).json()
    link = urlsplit(first["pageDetails"]["nextPageUrl"])
    assert (link.scheme, link.netloc, link.path) == ("https", "webservices5.autotask.net",
                                                    "/ATServicesRest/V1.0/TimeEntries/query/next")
    params = parse_qs(link.query)
    assert json.loads(params["search"][0]) == body
    assert json.loads(params["paging"][0])["pageSize"] == 2


async def test_prev_page_url_leads_back_to_the_page_before(sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    for _ in range(5):
        sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)
    body = q(since(NOW), MaxRecords=2)
    first = (await query(client, "TimeEntries", body)).json()
    second = (await client.get(first["pageDetails"]["nextPageUrl"])).json()
    third = (await client.get(second["pageDetails"]["nextPageUrl"])).json()
    back = (await client.get(third["pageDetails"]["prevPageUrl"])).json()
    assert back["items"] == second["items"]
    back_again = (await client.get(second["pageDetails"]["prevPageUrl"])).json()
    assert back_again["items"] == first["items"]


async def test_a_next_page_can_be_posted_with_the_same_body(sandbox: AutotaskSandbox,
                                                            client: httpx.AsyncClient) -> None:
    for _ in range(3):
        sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)
    body = q(since(NOW), MaxRecords=2)
    first = (await query(client, "TimeEntries", body)).json()
    second = await client.post(first["pageDetails"]["nextPageUrl"], json=body)
    assert len(second.json()["items"]) == 1


async def test_a_sandbox_taking_next_pages_by_post_only_answers_get_405(clock: Clock) -> None:
    sandbox = AutotaskSandbox(clock=clock, next_page_by_get=False)
    for _ in range(3):
        sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)
    async with _client(sandbox) as http:
        first = (await query(http, "TimeEntries", q(since(NOW), MaxRecords=2))).json()
        response = await http.get(first["pageDetails"]["nextPageUrl"])
    assert response.status_code == 405 and "does not support http method 'GET'" in response.json()["Message"]


async def test_entries_added_while_paging_do_not_shift_the_pages(sandbox: AutotaskSandbox,
                                                                client: httpx.AsyncClient) -> None:
    ids = [sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)["id"] for _ in range(4)]
    first = (await query(client, "TimeEntries", q(since(NOW), MaxRecords=2))).json()
    late = sandbox.add_entry(resource_id=INGRID, hours=0.25, ticket_id=7401)["id"]
    second = (await client.get(first["pageDetails"]["nextPageUrl"])).json()
    assert entry_ids(first["items"] + second["items"]) == ids
    assert second["pageDetails"]["nextPageUrl"] is not None  # the late entry comes on a third page
    third = (await client.get(second["pageDetails"]["nextPageUrl"])).json()
    assert entry_ids(third["items"]) == [late]


# ------------------------------------------------------------------------------------ limits


async def test_the_hourly_threshold_answers_429_on_a_sliding_window_of_the_clock(clock: Clock) -> None:
    sandbox = AutotaskSandbox(clock=clock, threshold=3)
    body = q({"op": "gte", "field": "id", "value": 0})
    async with _client(sandbox) as http:
        for _ in range(3):
            assert (await query(http, "Roles", body)).status_code == 200
            clock.advance(minutes=10)
        refused = await query(http, "Roles", body)
        assert refused.status_code == 429 and "threshold" in refused.json()["errors"][0]
        assert "Retry-After" not in refused.headers
        clock.advance(minutes=30, seconds=1)  # the first request leaves the hour
        assert (await query(http, "Roles", body)).status_code == 200
        assert (await query(http, "Roles", body)).status_code == 429


async def test_threshold_information_reports_the_hours_usage_including_other_integrations(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    sandbox.use_requests(7000)
    await query(client, "Roles", q({"op": "gte", "field": "id", "value": 0}))
    reading = (await client.get(f"{API}/ThresholdInformation")).json()
    assert reading == {"externalRequestThreshold": 10000, "requestThresholdTimeframe": 60,
                       "currentTimeframeRequestCount": 7002}


async def test_a_fourth_concurrent_request_to_one_endpoint_gets_the_thread_limit_answer(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    sandbox.hold = asyncio.Event()
    body = q({"op": "gte", "field": "id", "value": 0})
    held = [asyncio.create_task(query(client, "Roles", body)) for _ in range(3)]
    while sandbox.counters["lookups"] < 3:
        await asyncio.sleep(0)
    fourth = await query(client, "Roles", body)
    other_endpoint = asyncio.create_task(query(client, "Tickets", body))
    assert fourth.status_code == 429
    assert fourth.json() == {"errors": ["API thread threshold of 3 threads has been exceeded."]}
    zone = await client.get("/atservicesrest/v1.0/zoneInformation", params={"user": HEADERS["UserName"]})
    assert zone.status_code == 200  # ZoneInformation is not thread-limited
    sandbox.hold.set()
    assert [r.status_code for r in await asyncio.gather(*held, other_endpoint)] == [200, 200, 200, 200]
    assert (await query(client, "Roles", body)).status_code == 200  # slots were released


# ------------------------------------------------------------------------------------ faults


async def test_throttle_next_answers_the_thread_limit_429_with_a_hint_only_when_given(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    sandbox.throttle_next(1)
    sandbox.throttle_next(1, retry_after=7)
    body = q({"op": "gte", "field": "id", "value": 0})
    plain, hinted, fine = [await query(client, "Roles", body) for _ in range(3)]
    assert plain.status_code == 429 and "Retry-After" not in plain.headers
    assert hinted.status_code == 429 and hinted.headers["Retry-After"] == "7"
    assert fine.status_code == 200 and sandbox.counters["429"] == 2


async def test_fail_next_breaks_time_entry_queries_only(sandbox: AutotaskSandbox,
                                                       client: httpx.AsyncClient) -> None:
    sandbox.fail_next(1, "5xx")
    lookups = await query(client, "Roles", q({"op": "gte", "field": "id", "value": 0}))
    server_error = await query(client, "TimeEntries", q(since(NOW)))
    sandbox.fail_next(1, "malformed")
    malformed = await query(client, "TimeEntries", q(since(NOW)))
    healthy = await query(client, "TimeEntries", q(since(NOW)))
    assert lookups.status_code == 200
    assert server_error.status_code == 500
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    assert healthy.status_code == 200


async def test_fail_next_zero_clears_pending_faults(sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    sandbox.fail_next(3, "5xx")
    sandbox.fail_next(0, "5xx")
    assert (await query(client, "TimeEntries", q(since(NOW)))).status_code == 200


async def test_answer_empty_hides_every_time_entry_but_not_lookups(sandbox: AutotaskSandbox,
                                                                   client: httpx.AsyncClient) -> None:
    sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    sandbox.answer_empty(True)
    empty = (await query(client, "TimeEntries", q(since(NOW)))).json()
    assert empty["items"] == [] and empty["pageDetails"]["nextPageUrl"] is None
    assert (await query(client, "Roles", q({"op": "gte", "field": "id", "value": 0}))).json()["items"]
    sandbox.answer_empty(False)
    assert len((await query(client, "TimeEntries", q(since(NOW)))).json()["items"]) == 1


# ------------------------------------------------------------------------------------ mutations


def test_add_entry_writes_the_time_entry_model(sandbox: AutotaskSandbox) -> None:
    start = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    entry = sandbox.add_entry(resource_id=INGRID, hours=1.5, ticket_id=7401, summary_notes="Fixed it",
                              internal_notes="Sticky note", start=start)
    assert entry["dateWorked"] == "2026-11-20T00:00:00Z"
    assert (entry["startDateTime"], entry["endDateTime"]) == ("2026-11-20T14:00:00Z", "2026-11-20T15:30:00Z")
    assert entry["lastModifiedDateTime"] == entry["createDateTime"] == "2026-11-20T15:04:05.000Z"
    assert (entry["hoursWorked"], entry["billingCodeID"], entry["timeEntryType"]) == (1.5, REMOTE, 2)
    assert (entry["summaryNotes"], entry["internalNotes"], entry["isNonBillable"]) == ("Fixed it", "Sticky note", False)
    assert entry["contractID"] == 29683474 and entry["roleID"] == 29683356


def test_edit_entry_bumps_last_modified_and_moves_the_end_with_the_hours(sandbox: AutotaskSandbox,
                                                                         clock: Clock) -> None:
    entry = sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401,
                              start=datetime(2026, 11, 20, 9, tzinfo=UTC))
    clock.advance(minutes=5)
    sandbox.edit_entry(entry["id"], hoursWorked=2.25, ticketID=7410)
    assert entry["lastModifiedDateTime"] == "2026-11-20T15:09:05.000Z"
    assert (entry["hoursWorked"], entry["hoursToBill"], entry["endDateTime"]) == (2.25, 2.25, "2026-11-20T11:15:00Z")
    assert sandbox.tables["Tickets"][entry["ticketID"]]["companyID"] == 175
    with pytest.raises(TypeError):
        sandbox.edit_entry(entry["id"], hours=3)


async def test_a_deleted_entry_is_no_longer_listed(sandbox: AutotaskSandbox, client: httpx.AsyncClient) -> None:
    kept = sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    gone = sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    sandbox.delete_entry(gone["id"])
    items, _ = await query_all(client, "TimeEntries", q(since(NOW)))
    assert entry_ids(items) == [kept["id"]]


async def test_moving_a_ticket_to_another_company_leaves_its_entries_untouched(
        sandbox: AutotaskSandbox, client: httpx.AsyncClient, clock: Clock) -> None:
    entry = sandbox.add_entry(resource_id=INGRID, hours=1, ticket_id=7401)
    clock.advance(minutes=1)
    sandbox.edit_ticket(7401, companyID=176)
    ticket = (await query(client, "Tickets", q({"op": "eq", "field": "id", "value": 7401}))).json()["items"][0]
    assert ticket["companyID"] == 176
    assert entry["lastModifiedDateTime"] == "2026-11-20T15:04:05.000Z"


async def test_the_ticket_type_picklist_is_served_by_entity_information(client: httpx.AsyncClient) -> None:
    fields = (await client.get(f"{API}/Tickets/entityInformation/fields")).json()["fields"]
    ticket_type = next(f for f in fields if f["name"] == "ticketType")
    assert ticket_type["isPickList"] is True
    assert {v["value"]: v["label"] for v in ticket_type["picklistValues"]}["2"] == "Incident"


# ------------------------------------------------------------------------------------ seed


def test_the_seed_is_deterministic_for_a_seed_and_a_moment(clock: Clock) -> None:
    one, two = AutotaskSandbox(clock=clock), AutotaskSandbox(clock=clock)
    one.seed(now=NOW, days=30)
    two.seed(now=NOW, days=30)
    assert one.tables["TimeEntries"] == two.tables["TimeEntries"]
    three = AutotaskSandbox(clock=clock)
    three.seed(seed=12, now=NOW, days=30)
    assert three.tables["TimeEntries"] != one.tables["TimeEntries"]


def test_the_seed_is_realistic_msp_work(sandbox: AutotaskSandbox) -> None:
    sandbox.seed(now=NOW, days=70)
    entries = list(sandbox.tables["TimeEntries"].values())
    assert len(entries) > 500
    notes = [e["summaryNotes"] or "" for e in entries]
    assert any(name.split()[0] in note for name in TECHNICIANS for note in notes)  # colleagues named in notes
    assert sum(1 for e in entries if e["internalNotes"]) > 20
    assert any(e["billingCodeID"] == TRAVEL for e in entries) and any(e["billingCodeID"] == ONSITE for e in entries)
    evenings = [e for e in entries if e["billingCodeID"] == REMOTE_AH]
    assert evenings and all(e["startDateTime"] for e in evenings)
    assert all(e["ticketID"] is None and e["taskID"] is None and e["isNonBillable"]
               for e in entries if e["billingCodeID"] == ADMIN)
    assert any(e["taskID"] for e in entries)
    assert any(e["billingApprovalDateTime"] for e in entries) and any(not e["billingApprovalDateTime"] for e in entries)
    assert max(e["lastModifiedDateTime"] for e in entries) <= "2026-11-20T15:04:05.000Z"
    assert len({e["id"] for e in entries}) == len(entries)


async def test_twenty_thousand_entries_page_through_at_500_a_query(sandbox: AutotaskSandbox,
                                                                   client: httpx.AsyncClient) -> None:
    sandbox.seed(now=NOW, days=70, per_day=420)
    total = len(sandbox.tables["TimeEntries"])
    assert total >= 20_000
    everything = q({"op": "gte", "field": "dateWorked", "value": "2026-01-01"})
    items, pages = await query_all(client, "TimeEntries", everything)
    assert len(items) == total and len(pages) == -(-total // 500)


# ------------------------------------------------------------------------------------ driver


async def test_the_driver_logs_work_on_each_clients_ticket_and_moves_it_between_clients(clock: Clock) -> None:
    driver = make_driver(clock)
    vendor_id = driver.add_entry(1, hours=0.5, notes="Rebuilt the print server", day=date(2026, 11, 20),
                                 start=time(10, 0), internal_notes="Secret", worker=2)
    entry = driver.sandbox.tables["TimeEntries"][int(vendor_id)]
    tickets = driver.sandbox.tables["Tickets"]
    assert tickets[entry["ticketID"]]["companyID"] == driver.selectors()[1]["company_id"]
    assert (entry["resourceID"], entry["internalNotes"], entry["startDateTime"]) == (
        29682887, "Secret", "2026-11-20T10:00:00Z")
    driver.edit_entry(vendor_id, client=2, hours=1.0, notes="Rebuilt it")
    assert tickets[entry["ticketID"]]["companyID"] == driver.selectors()[2]["company_id"]
    assert (entry["hoursWorked"], entry["summaryNotes"]) == (1.0, "Rebuilt it")
    assert driver.workers == list(TECHNICIANS)
    assert driver.account("http://sandbox.test")["base_url"] == "http://sandbox.test/atservicesrest"
