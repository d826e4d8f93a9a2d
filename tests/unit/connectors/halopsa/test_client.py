"""The HaloPSA connector's requests: settings, OAuth2, report SQL and paging, the ticket route, errors, costs."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs
from pydantic import ValidationError

from connectors.base import ClientRoute
from connectors.halopsa import sql
from connectors.halopsa.client import (
    ACTIONS_COUNT,
    REPORT_PAGE_SIZE,
    THROTTLE_WAIT,
    HaloConnector,
    HaloSelector,
    HaloSettings,
)
from connectors.halopsa.sandbox import HaloSandbox, parse_report_sql
from connectors.http import Funnel
from syncd.errors import AuthError, PayloadError, RateLimited, TransientError
from syncd.models import TimeEntry

BASE = "https://northbridge.halopsa.com"
TOKEN = f"{BASE}/auth/token"
REPORT = f"{BASE}/api/Report"
TICKETS = f"{BASE}/api/Tickets"
ACTIONS = f"{BASE}/api/Actions"
SECRET = "Sup3r-secret-halo"
SINCE = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)


class Sleeps:
    """A recorded stand-in for asyncio.sleep: the funnel's waits, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def settings(**changes: Any) -> HaloSettings:
    data = {"vendor": "halopsa", "tenant": "northbridge", "client_id": "app-1", "client_secret": SECRET,
            "charge_rates": {1: "Remote Support"}}
    return HaloSettings.model_validate({**data, **changes})


def connector(clients: dict[str, int] | None = None, sleeps: Sleeps | None = None,
              transport: httpx.AsyncBaseTransport | None = None, **changes: Any) -> HaloConnector:
    clients = {"acme": 12, "birchwood": 13} if clients is None else clients
    routes = [ClientRoute(key, HaloSelector(account="halo", client_id=cid)) for key, cid in clients.items()]
    account = settings(**changes)
    # No request budget: its wait runs on the real monotonic clock, which a recorded sleep never moves.
    http = Funnel(vendor=HaloConnector.display_name, base_url=account.base_url or "", sleep=sleeps or Sleeps(),
                  transport=transport, **HaloConnector.http_options(account))
    return HaloConnector("halo", account, routes, http, default_timezone="UTC")


def row(ticket: int, action: int, client: int = 12, **changes: Any) -> dict[str, Any]:
    return {"ticket_id": ticket, "id": action, "who": "Farah Haddad", "who_agentid": 21,
            "datetime": "2026-11-20T11:00:00", "actionarrivaldate": "2026-11-20T10:00:00", "timetaken": 1.0,
            "nonbilltime": 0, "actionchargehours": 0, "traveltime": 0, "actionoohtime": 0,
            "hiddenfromuser": False, "note": f"Work {ticket}:{action}", "chargerate": 1,
            "last_updated": "2026-11-20T11:05:00", "client_id": client, "ticket_summary": "Printer",
            "tickettype_id": 1, "tickettype_name": "Incident", **changes}


def report(rows: list[dict[str, Any]], *, left: int | None = None, **extra: Any) -> httpx.Response:
    """A report answer; each row says ``left`` rows match from this page on (by default: this page's)."""
    rows = [{**r, "rows_left": len(rows) if left is None else left} for r in rows]
    return httpx.Response(200, json={"id": 0, "report": {"rows": rows, "loaded": True, "load_error": "", **extra}})


def token_ok() -> httpx.Response:
    return httpx.Response(200, json={"access_token": "tok-1", "token_type": "Bearer", "expires_in": 3600})


def posted_sql(request: httpx.Request) -> str:
    body = json.loads(request.content)
    assert isinstance(body, list) and len(body) == 1 and body[0]["_loadreportonly"] is True
    return str(body[0]["sql"])


async def collect(pages: AsyncIterator[list[TimeEntry]]) -> list[TimeEntry]:
    return [entry async for page in pages for entry in page]


@pytest.fixture
async def halo() -> AsyncIterator[HaloConnector]:
    opened = connector()
    yield opened
    await opened.aclose()


# ------------------------------------------------------------------------------------ settings


def test_a_hosted_tenant_gives_the_base_url_and_the_token_url() -> None:
    account = settings()
    assert account.base_url == "https://northbridge.halopsa.com"
    assert account.token_url() == "https://northbridge.halopsa.com/auth/token"


def test_a_self_hosted_instance_takes_base_url_and_an_optional_auth_url() -> None:
    account = settings(tenant=None, base_url="https://halo.example.com/", auth_url="https://sso.example.com/auth/")
    assert account.base_url == "https://halo.example.com"
    assert account.token_url() == "https://sso.example.com/auth/token"
    assert settings(tenant=None, base_url="https://halo.example.com").token_url() == "https://halo.example.com/auth/token"


@pytest.mark.parametrize(("changes", "message"), [
    ({"tenant": None}, "give tenant"),
    ({"client_secret": None}, "client_secret"),
    ({"client_id": ""}, "client_id"),
    ({"tenant": "bad tenant"}, "tenant"),
    ({"base_url": "halo.example.com"}, "http"),
    ({"route": "sql"}, "route"),
    ({"requests_per_5min": 301}, "requests_per_5min"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_settings_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**changes)


def test_the_secret_never_appears_in_the_settings_repr_or_the_http_options() -> None:
    account = settings()
    assert SECRET not in repr(account)
    assert SECRET not in repr(HaloConnector.http_options(account))


def test_the_budget_stays_under_hosted_halos_rolling_limit() -> None:
    assert HaloConnector.budget_for(settings()).requests == 250
    assert HaloConnector.budget_for(settings()).per_seconds == 300
    assert HaloConnector.budget_for(settings(requests_per_5min=100)).requests == 100


@pytest.mark.parametrize("selector", [{"account": "halo"}, {"account": "halo", "client_id": 0},
                                      {"account": "halo", "client_id": 12, "site_id": 1}])
def test_a_selector_needs_one_positive_client_id(selector: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        HaloSelector.model_validate(selector)


# ------------------------------------------------------------------------------------ report route


@respx.mock
async def test_an_incremental_poll_posts_one_unsaved_report_for_every_client_with_a_bearer_token(
        halo: HaloConnector) -> None:
    token = respx.post(TOKEN).mock(return_value=token_ok())
    route = respx.post(REPORT).mock(return_value=report([row(4101, 1), row(4102, 2, client=13)]))
    entries = await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert token.call_count == 1 and token.calls.last.request.url.params["tenant"] == "northbridge"
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["Content-Type"] == "application/json"
    query = parse_report_sql(posted_sql(request))
    assert query.clients == {12, 13}  # both clients in the one query, filtered server-side
    assert query.top == REPORT_PAGE_SIZE
    assert query.since == SINCE.replace(microsecond=123000).timestamp() and query.after is None
    assert "f.Areaint IN (12, 13)" in posted_sql(request)
    assert [(e.vendor_id, e.client_key, e.deleted) for e in entries] == [
        ("4101:1", "acme", False), ("4101:1:travel", "acme", True),
        ("4102:2", "birchwood", False), ("4102:2:travel", "birchwood", True)]
    assert route.call_count == 1


@respx.mock
async def test_the_sql_is_exactly_the_builders(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    route = respx.post(REPORT).mock(return_value=report([]))
    await collect(halo.changes(SINCE, date(2026, 1, 1)))
    await collect(halo.window(date(2026, 11, 1), date(2026, 11, 30)))
    await collect(halo.changes(None, date(2026, 10, 1)))
    sent = [posted_sql(c.request) for c in route.calls]
    assert sent == [
        sql.changed_since(SINCE, [12, 13], top=REPORT_PAGE_SIZE),
        sql.worked_between(date(2026, 11, 1), date(2026, 11, 30), [12, 13], top=REPORT_PAGE_SIZE),
        sql.worked_between(date(2026, 10, 1), None, [12, 13], top=REPORT_PAGE_SIZE),
    ]
    assert "'2026-12-01T00:00:00.000'" in sent[1]  # the end day is inclusive
    assert all(";" not in s and "--" not in s for s in sent)


@respx.mock
async def test_full_report_pages_continue_after_the_last_ticket_and_action(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    first = [row(4100 + i // 3, i % 3 + 1) for i in range(REPORT_PAGE_SIZE)]
    route = respx.post(REPORT).mock(side_effect=[report(first, left=REPORT_PAGE_SIZE + 1), report([row(9000, 1)])])
    entries = await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 2
    second = parse_report_sql(posted_sql(route.calls[1].request))
    assert second.after == (first[-1]["ticket_id"], first[-1]["id"])
    assert len([e for e in entries if not e.deleted]) == REPORT_PAGE_SIZE + 1


@respx.mock
async def test_a_full_last_page_needs_no_more_request_when_its_count_says_nothing_follows(
        halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    full = [row(5000 + i, 1) for i in range(REPORT_PAGE_SIZE)]
    route = respx.post(REPORT).mock(side_effect=[report(full)])
    await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 1


@respx.mock
async def test_a_short_page_whose_count_says_more_follow_is_followed(halo: HaloConnector) -> None:
    # A server that answers fewer rows than TOP asked for does not end the listing early.
    respx.post(TOKEN).mock(return_value=token_ok())
    route = respx.post(REPORT).mock(side_effect=[report([row(5000, 1), row(5001, 1)], left=3),
                                                 report([row(5002, 1)])])
    entries = await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 2
    assert {e.vendor_id for e in entries if not e.deleted} == {"5000:1", "5001:1", "5002:1"}


@respx.mock
async def test_an_empty_page_where_rows_were_promised_is_a_payload_error_not_the_end(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    full = [row(5000 + i, 1) for i in range(REPORT_PAGE_SIZE)]
    respx.post(REPORT).mock(side_effect=[report(full, left=2500), report([])])
    with pytest.raises(PayloadError, match="empty page where 1500 more rows were promised"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_a_page_without_its_row_count_is_a_payload_error(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(return_value=httpx.Response(200, json={"report": {"rows": [row(5000, 1)]}}))
    with pytest.raises(PayloadError, match="rows_left"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_rows_that_go_backwards_are_a_payload_error_not_a_loop(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    page = [row(5000 + i, 1) for i in range(REPORT_PAGE_SIZE)]
    respx.post(REPORT).mock(side_effect=[report(page, left=2 * REPORT_PAGE_SIZE),
                                         report(page, left=2 * REPORT_PAGE_SIZE)])
    with pytest.raises(PayloadError, match="paging loop, rows out of order"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_actions_of_unrouted_clients_come_back_unclaimed(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(return_value=report([row(4101, 1, client=99)]))
    [work, _] = await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert work.client_key is None


async def test_an_account_without_clients_sends_nothing() -> None:
    lonely = connector(clients={})
    with respx.mock(assert_all_called=False) as mock:
        assert await collect(lonely.changes(SINCE, date(2026, 1, 1))) == []
        assert await collect(lonely.window(date(2026, 11, 1), date(2026, 11, 2))) == []
        assert mock.calls.call_count == 0
    await lonely.aclose()


def test_two_selectors_on_one_halo_client_route_to_the_first_client_key() -> None:
    both = connector(clients={"zeta": 12, "alpha": 12})
    assert both.route({"client_id": 12}) == "alpha"
    assert both.route({"client_id": "12"}) == "alpha"
    assert both.route({"client_id": None}) is None


def test_normalize_gives_the_actions_main_entry() -> None:
    halo = connector()
    assert halo.normalize(row(1, 2)).vendor_id == "1:2"
    assert halo.normalize(row(1, 2, timetaken=0, traveltime=0.5)).vendor_id == "1:2:travel"
    assert [e.vendor_id for e in halo.entries(row(1, 2, traveltime=0.5))] == ["1:2", "1:2:travel"]


# ------------------------------------------------------------------------------------ vendor errors


@pytest.mark.parametrize(("response", "error", "message"), [
    (report([], load_error="Invalid column name 'ActionLastUpdated'."), PayloadError, "route: tickets"),
    (httpx.Response(200, json={"id": 0}), PayloadError, "no report"),
    (httpx.Response(200, json={"report": {"rows": "nope"}}), PayloadError, "not a list"),
    (httpx.Response(200, text="<html>maintenance</html>"), PayloadError, "not JSON"),
    (httpx.Response(400, json="Invalid SQL"), PayloadError, "HTTP 400"),
    (httpx.Response(403, json="You do not have permission to run reports"), AuthError, "HTTP 403"),
    (httpx.Response(500, json="An unexpected error occurred"), TransientError, "HTTP 500"),
])
@respx.mock
async def test_report_failures_map_onto_the_error_vocabulary(
        response: httpx.Response, error: type[Exception], message: str) -> None:
    halo = connector(route="report")
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(return_value=response)
    with pytest.raises(error, match=message) as caught:
        await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("refusal", [
    pytest.param(report([], load_error="Invalid column name 'ActionLastUpdated'."), id="unknown-column"),
    pytest.param(httpx.Response(403, json="You do not have permission to run reports"), id="no-reporting-rights"),
])
@respx.mock
async def test_by_default_a_refused_report_moves_the_account_to_the_ticket_route_for_good(
        refusal: httpx.Response) -> None:
    halo = connector()
    respx.post(TOKEN).mock(return_value=token_ok())
    reports = respx.post(REPORT).mock(return_value=refusal)
    tickets = respx.get(TICKETS).mock(return_value=httpx.Response(200, json={
        "page_no": 1, "page_size": 100, "record_count": 1, "tickets": [ticket(4101)]}))
    respx.get(ACTIONS).mock(return_value=httpx.Response(200, json={"record_count": 1, "actions": [action(4101, 1)]}))
    with capture_logs() as logs:
        first = await collect(halo.changes(SINCE, date(2026, 1, 1)))
        again = await collect(halo.window(date(2026, 11, 1), date(2026, 11, 30)))
    assert [e.vendor_id for e in first if not e.deleted] == ["4101:1"] == [e.vendor_id for e in again if not e.deleted]
    assert reports.call_count == 1 and tickets.call_count == 2
    assert [e["event"] for e in logs] == ["halo_report_route_refused"]
    await halo.aclose()


@respx.mock
async def test_by_default_a_refusal_of_the_credentials_themselves_is_not_taken_for_a_route_problem() -> None:
    halo = connector()
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(return_value=httpx.Response(401, json="Unauthorized"))
    tickets = respx.get(TICKETS).mock(return_value=httpx.Response(200, json={"tickets": []}))
    with pytest.raises(AuthError):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert tickets.call_count == 0
    await halo.aclose()


@respx.mock
async def test_a_row_without_ids_is_a_payload_error_naming_the_action(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(return_value=report([row(4101, 1, last_updated=None)]))
    with pytest.raises(PayloadError, match="4101"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_halos_429_without_retry_after_is_waited_out_for_30_seconds() -> None:
    sleeps = Sleeps()
    halo = connector(sleeps=sleeps)
    respx.post(TOKEN).mock(return_value=token_ok())
    route = respx.post(REPORT).mock(side_effect=[
        httpx.Response(429, text="Rate Limit Reached - 300 Requests per rolling 5 minute window"), report([])])
    await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 2
    assert sleeps.calls == [THROTTLE_WAIT]
    assert halo.http.throttles == 1
    await halo.aclose()


@respx.mock
async def test_a_429_that_keeps_coming_is_rate_limited_with_halos_wait() -> None:
    halo = connector()
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(return_value=httpx.Response(429, text="Rate Limit Reached"))
    with pytest.raises(RateLimited) as caught:
        await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert caught.value.retry_after == THROTTLE_WAIT
    await halo.aclose()


@respx.mock
async def test_a_429_with_retry_after_keeps_the_vendors_hint() -> None:
    sleeps = Sleeps()
    halo = connector(sleeps=sleeps)
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.post(REPORT).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "4"}), report([])])
    await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert sleeps.calls == [4.0]
    await halo.aclose()


@respx.mock
async def test_an_expired_token_answered_401_is_refreshed_and_the_report_retried(halo: HaloConnector) -> None:
    token = respx.post(TOKEN).mock(side_effect=[
        token_ok(), httpx.Response(200, json={"access_token": "tok-2", "token_type": "Bearer", "expires_in": 3600})])
    route = respx.post(REPORT).mock(side_effect=[httpx.Response(401), report([row(4101, 1)])])
    entries = await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert token.call_count == 2 and len(entries) == 2
    assert route.calls[1].request.headers["Authorization"] == "Bearer tok-2"


@respx.mock
async def test_refused_client_credentials_are_an_auth_error(halo: HaloConnector) -> None:
    respx.post(TOKEN).mock(return_value=httpx.Response(400, json={"error": "invalid_client"}))
    with pytest.raises(AuthError, match="client credentials refused"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))


# ------------------------------------------------------------------------------------ ticket route


def ticket(ticket_id: int, client: int = 12) -> dict[str, Any]:
    return {"id": ticket_id, "summary": f"Ticket {ticket_id}", "client_id": client, "tickettype_id": 1}


def action(ticket_id: int, action_id: int, **changes: Any) -> dict[str, Any]:
    data = row(ticket_id, action_id, **changes)
    for key in ("client_id", "ticket_summary", "tickettype_id", "tickettype_name"):
        data.pop(key)
    return data


@respx.mock
async def test_the_ticket_route_lists_changed_tickets_of_all_clients_then_each_tickets_actions() -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    tickets = respx.get(TICKETS).mock(return_value=httpx.Response(200, json={
        "page_no": 1, "page_size": 100, "record_count": 2, "tickets": [ticket(4101), ticket(4102, client=13)]}))
    actions = respx.get(ACTIONS).mock(side_effect=[
        httpx.Response(200, json={"record_count": 2, "actions": [
            action(4101, 1), action(4101, 2, timetaken=0, note="Email received")]}),
        httpx.Response(200, json={"record_count": 1, "actions": [action(4102, 1, traveltime=0.5)]}),
    ])
    entries = await collect(halo.changes(SINCE, date(2026, 1, 1)))
    params = tickets.calls.last.request.url.params
    assert dict(params) == {"pageinate": "true", "page_size": "100", "page_no": "1",
                            "lastupdatefromdate": "2026-11-20T10:00:00", "client_ids": "12,13"}
    assert [c.request.url.params["ticket_id"] for c in actions.calls] == ["4101", "4102"]
    assert all(c.request.url.params["excludesys"] == "true" for c in actions.calls)
    assert [(e.vendor_id, e.client_key, e.ticket_title, e.deleted) for e in entries] == [
        ("4101:1", "acme", "Ticket 4101", False), ("4101:1:travel", "acme", "Ticket 4101", True),
        ("4102:1", "birchwood", "Ticket 4102", False), ("4102:1:travel", "birchwood", "Ticket 4102", False)]
    await halo.aclose()


@respx.mock
async def test_the_ticket_route_pages_tickets_100_at_a_time_until_record_count() -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    pages = [[ticket(5000 + i) for i in range(100)], [ticket(6000)]]
    tickets = respx.get(TICKETS).mock(side_effect=[
        httpx.Response(200, json={"page_no": n + 1, "page_size": 100, "record_count": 101, "tickets": page})
        for n, page in enumerate(pages)])
    respx.get(ACTIONS).mock(return_value=httpx.Response(200, json={"record_count": 0, "actions": []}))
    await collect(halo.changes(SINCE, date(2026, 1, 1)))
    assert [c.request.url.params["page_no"] for c in tickets.calls] == ["1", "2"]
    await halo.aclose()


@respx.mock
async def test_the_ticket_route_refuses_an_empty_tickets_page_while_record_count_says_more_follow() -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.get(TICKETS).mock(side_effect=[
        httpx.Response(200, json={"page_no": 1, "page_size": 100, "record_count": 150,
                                  "tickets": [ticket(5000 + i) for i in range(100)]}),
        httpx.Response(200, json={"page_no": 2, "page_size": 100, "record_count": 150, "tickets": []})])
    respx.get(ACTIONS).mock(return_value=httpx.Response(200, json={"record_count": 0, "actions": []}))
    with pytest.raises(PayloadError, match="page 2 is empty but 50 of 150 tickets are still to come"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))
    await halo.aclose()


@respx.mock
async def test_the_ticket_route_backfill_keeps_only_work_from_the_backfill_start() -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    tickets = respx.get(TICKETS).mock(return_value=httpx.Response(200, json={
        "page_no": 1, "page_size": 100, "record_count": 1, "tickets": [ticket(4101)]}))
    respx.get(ACTIONS).mock(return_value=httpx.Response(200, json={"record_count": 2, "actions": [
        action(4101, 1, actionarrivaldate="2026-09-30T10:00:00"), action(4101, 2)]}))
    entries = await collect(halo.changes(None, date(2026, 10, 1)))
    assert tickets.calls.last.request.url.params["lastupdatefromdate"] == "2026-10-01T00:00:00"
    assert {e.vendor_id for e in entries} == {"4101:2", "4101:2:travel"}
    await halo.aclose()


@respx.mock
async def test_the_ticket_route_window_is_one_actions_listing_by_date_routed_by_the_clients_tickets() -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    tickets = respx.get(TICKETS).mock(return_value=httpx.Response(200, json={
        "page_no": 1, "page_size": 100, "record_count": 1, "tickets": [ticket(4101, client=13)]}))
    actions = respx.get(ACTIONS).mock(return_value=httpx.Response(200, json={"record_count": 2, "actions": [
        action(4101, 1), action(7777, 1)]}))
    entries = await collect(halo.window(date(2026, 11, 1), date(2026, 11, 30)))
    assert tickets.calls.last.request.url.params["lastupdatefromdate"] == "2026-11-01T00:00:00"
    assert dict(actions.calls.last.request.url.params) == {
        "startdate": "2026-11-01T00:00:00", "enddate": "2026-12-01T00:00:00", "excludesys": "true",
        "count": str(ACTIONS_COUNT)}
    assert actions.call_count == 1
    by_id = {e.vendor_id: e for e in entries}
    assert by_id["4101:1"].client_key == "birchwood"
    assert by_id["7777:1"].client_key is None  # another client's ticket: unclaimed
    await halo.aclose()


@pytest.mark.parametrize(("response", "message"), [
    (httpx.Response(200, json={"record_count": 3, "actions": [action(1, 1)]}), "1 of 3 actions"),
    (httpx.Response(200, json={"record_count": 1}), "'actions'"),
    (httpx.Response(200, json={"actions": ["x"]}), "'actions'"),
])
@respx.mock
async def test_a_truncated_or_unreadable_actions_listing_is_a_payload_error(
        response: httpx.Response, message: str) -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.get(TICKETS).mock(return_value=httpx.Response(200, json={
        "page_no": 1, "page_size": 100, "record_count": 0, "tickets": []}))
    respx.get(ACTIONS).mock(return_value=response)
    with pytest.raises(PayloadError, match=message):
        await collect(halo.window(date(2026, 11, 1), date(2026, 11, 30)))
    await halo.aclose()


@pytest.mark.parametrize("body", [{"tickets": []}, {"record_count": 1, "tickets": [{"summary": "x"}]},
                                  {"record_count": True, "tickets": []}, []])
@respx.mock
async def test_an_unreadable_tickets_page_is_a_payload_error(body: Any) -> None:
    halo = connector(route="tickets")
    respx.post(TOKEN).mock(return_value=token_ok())
    respx.get(TICKETS).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(PayloadError, match="Tickets"):
        await collect(halo.changes(SINCE, date(2026, 1, 1)))
    await halo.aclose()


# ------------------------------------------------------------------------------------ route costs


class Measured:
    """A sandbox and one connector per route, counting the requests each poll costs."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
        self.sandbox = HaloSandbox(clock=lambda: self.now)
        self.sandbox.seed(now=self.now - timedelta(days=1), days=20, per_day=4)

    def connector(self, route: str) -> HaloConnector:
        return connector(transport=httpx.ASGITransport(app=self.sandbox.app), route=route, base_url=BASE,
                         client_id=self.sandbox.client_id, client_secret=self.sandbox.client_secret,
                         clients={"acme": 12, "birchwood": 13, "cobalt": 14})

    async def poll(self, halo: HaloConnector, since: datetime) -> tuple[int, int]:
        """(requests, live entries) for one incremental poll, token excluded."""
        before = self.sandbox.counters["requests"]
        entries = await collect(halo.changes(since, date(2026, 1, 1)))
        return self.sandbox.counters["requests"] - before, len([e for e in entries if not e.deleted])

    def change(self, n: int, tickets: int) -> None:
        """``n`` new timed actions spread over ``tickets`` new tickets."""
        ids = [self.sandbox.add_ticket(client_id=12 + i % 3, summary=f"Change {i}") for i in range(tickets)]
        for i in range(n):
            self.sandbox.add_action(ids[i % tickets], agent_id=21, note=f"Change {i}", hours=0.25,
                                    start=datetime.combine(self.now.date(), time(9, 0), UTC))


@pytest.mark.parametrize(("n", "tickets"), [(0, 1), (1, 1), (40, 40), (250, 10), (1001, 150)])
async def test_measured_on_the_sandbox_the_report_route_is_never_dearer_than_the_ticket_route(
        n: int, tickets: int) -> None:
    rig = Measured()
    report_route, ticket_route = rig.connector("report"), rig.connector("tickets")
    since = rig.now - timedelta(minutes=10)
    for halo in (report_route, ticket_route):
        await collect(halo.changes(since, date(2026, 1, 1)))  # fetch the tokens outside the measurement
    rig.now += timedelta(minutes=1)
    if n:
        rig.change(n, tickets)
    rig.now += timedelta(minutes=1)
    report_cost, report_seen = await rig.poll(report_route, since)
    ticket_cost, ticket_seen = await rig.poll(ticket_route, since)
    assert report_seen == ticket_seen == n
    # The report route: one request per 1000 changed actions (at least one).
    assert report_cost == max(1, math.ceil(n / REPORT_PAGE_SIZE))
    # The ticket route: one per 100 changed tickets (at least one), plus one per ticket.
    assert ticket_cost == max(1, math.ceil(tickets * (n > 0) / 100)) + tickets * (n > 0)
    assert report_cost <= ticket_cost
    for halo in (report_route, ticket_route):
        await halo.aclose()
