"""The ConnectWise connector's requests: auth headers, codebase discovery, conditions, paging, errors."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.base import ClientRoute
from connectors.connectwise.client import ConnectWiseConnector, ConnectWiseSelector, ConnectWiseSettings
from connectors.http import Funnel
from syncd.errors import AuthError, PayloadError, RateLimited, TransientError

SITE = "https://api-na.myconnectwise.net"
INFO = f"{SITE}/login/companyinfo/northbridge"
ENTRIES = f"{SITE}/v4_6_release/apis/3.0/time/entries"
COMPANY_INFO = {"CompanyName": "Northbridge IT Services", "CompanyID": "northbridge", "Codebase": "v4_6_release/",
                "VersionCode": "v2025.1", "VersionNumber": "v4.6.2025.1", "IsCloud": True,
                "SiteUrl": "na.myconnectwise.net"}
SINCE = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=timezone.utc)


class Sleeps:
    """A recorded stand-in for asyncio.sleep: the funnel's waits, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def settings(**changes: Any) -> ConnectWiseSettings:
    data = {"vendor": "connectwise", "site": "api-na.myconnectwise.net", "company": "northbridge",
            "public_key": "pubKEY123", "private_key": "privKEY456", "client_id": "client-guid-1",
            "timezone": "America/Chicago"}
    return ConnectWiseSettings.model_validate({**data, **changes})


def connector(companies: dict[str, int] | None = None, sleeps: Sleeps | None = None,
              **changes: Any) -> ConnectWiseConnector:
    companies = {"acme": 250, "birchwood": 251} if companies is None else companies
    routes = [ClientRoute(key, ConnectWiseSelector(account="cw", company_id=cid)) for key, cid in companies.items()]
    account = settings(**changes)
    # No request budget: its wait runs on the real monotonic clock, which a recorded sleep never moves.
    http = Funnel(vendor=ConnectWiseConnector.display_name, base_url=account.base_url or "", sleep=sleeps or Sleeps(),
                  **ConnectWiseConnector.http_options(account))
    return ConnectWiseConnector("cw", account, routes, http, default_timezone="UTC")


def wire(entry_id: int, company: int = 250, **changes: Any) -> dict[str, Any]:
    return {"id": entry_id, "company": {"id": company, "identifier": "X", "name": "X"},
            "chargeToType": "ServiceTicket", "chargeToId": 48000 + entry_id,
            "member": {"id": 176, "identifier": "ISolberg", "name": "Ingrid Solberg"},
            "timeStart": "2026-11-20T15:00:00Z", "timeEnd": "2026-11-20T16:00:00Z", "actualHours": 1.0,
            "billableOption": "Billable", "notes": f"Work {entry_id}",
            "_info": {"lastUpdated": "2026-11-20T16:05:00Z"}, **changes}


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(urlsplit(str(request.url)).query)


async def collect(pages: AsyncIterator[list[Any]]) -> list[Any]:
    return [item async for page in pages for item in page]


@pytest.fixture
async def cw() -> AsyncIterator[ConnectWiseConnector]:
    opened = connector()
    yield opened
    await opened.aclose()


# --- settings -------------------------------------------------------------------------


def test_site_becomes_the_https_base_url() -> None:
    assert settings().base_url == "https://api-na.myconnectwise.net"


@pytest.mark.parametrize(("site", "base_url"), [
    ("na.myconnectwise.net", "https://api-na.myconnectwise.net"),
    ("https://eu.myconnectwise.net/", "https://api-eu.myconnectwise.net"),
    ("cw.example-msp.com", "https://cw.example-msp.com"),
])
def test_cloud_browser_hosts_map_to_their_api_hosts(site: str, base_url: str) -> None:
    assert settings(site=site).base_url == base_url


def test_base_url_overrides_site_for_on_premise_servers() -> None:
    assert settings(base_url="https://cw.internal:8443").base_url == "https://cw.internal:8443"


def test_an_account_needs_a_site_or_a_base_url() -> None:
    with pytest.raises(ValidationError, match="give site"):
        settings(site=None)


@pytest.mark.parametrize(("given", "stored"), [("v4_6_release", "v4_6_release/"), ("/v2025_1/", "v2025_1/")])
def test_a_configured_codebase_is_normalized(given: str, stored: str) -> None:
    assert settings(codebase=given).codebase == stored


@pytest.mark.parametrize("field,value", [("codebase", "../admin/"), ("company", "acme/../x"), ("site", "bad host!")])
def test_unsafe_url_parts_are_refused(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        settings(**{field: value})


def test_secrets_never_show_in_reprs() -> None:
    text = repr(settings()) + str(settings())
    assert "pubKEY123" not in text and "privKEY456" not in text and "client-guid-1" not in text


def test_the_budget_follows_requests_per_minute() -> None:
    budget = ConnectWiseConnector.budget_for(settings(requests_per_minute=30))
    assert (budget.requests, budget.per_seconds) == (30, 60.0)


def test_the_selector_takes_a_company_id() -> None:
    assert ConnectWiseSelector.model_validate({"account": "cw", "company_id": 250}).company_id == 250
    with pytest.raises(ValidationError):
        ConnectWiseSelector.model_validate({"account": "cw", "company_identifier": "AcmeDental"})


# --- request shapes -------------------------------------------------------------------


@respx.mock
async def test_requests_carry_basic_company_plus_key_pair_client_id_and_forward_only(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    headers = route.calls.last.request.headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"northbridge+pubKEY123:privKEY456").decode()
    assert headers["clientId"] == "client-guid-1"
    assert headers["pagination-type"] == "forward-only"
    assert headers["Accept"] == "application/vnd.connectwise.com+json"


@respx.mock
async def test_api_version_pins_the_accept_header() -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    cw = connector(api_version="2025.1")
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await cw.aclose()
    assert route.calls.last.request.headers["Accept"] == "application/vnd.connectwise.com+json; version=2025.1"


@respx.mock
async def test_the_codebase_is_discovered_once_and_reused(cw: ConnectWiseConnector) -> None:
    info = respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    listing = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await collect(cw.window(date(2026, 11, 1), date(2026, 11, 30)))
    assert (info.call_count, listing.call_count) == (1, 3)
    assert cw.http.requests == 4


@respx.mock
async def test_a_discovered_codebase_shapes_the_api_path() -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json={**COMPANY_INFO, "Codebase": "v2025_1/"}))
    route = respx.get(f"{SITE}/v2025_1/apis/3.0/time/entries").mock(
        return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    cw = connector()
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await cw.aclose()
    assert route.called


@respx.mock
async def test_a_configured_codebase_skips_discovery() -> None:
    info = respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    cw = connector(codebase="v4_6_release/")
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await cw.aclose()
    assert not info.called and cw.http.requests == 1


@respx.mock
async def test_an_incremental_poll_is_one_query_for_every_company_at_the_maximum_page_size(
        cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 1
    assert query(route.calls.last.request) == {
        "conditions": ["(lastUpdated>=[2026-11-20T10:00:00Z] and company/id in (250,251))"],
        "pageSize": ["1000"],
    }


@respx.mock
async def test_the_backfill_filters_on_time_start_from_local_midnight(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    await collect(cw.changes(None, date(2026, 10, 1)))
    # Midnight in Chicago (CDT, UTC−5) on 1 October.
    assert query(route.calls.last.request)["conditions"] == [
        "(timeStart>=[2026-10-01T05:00:00Z] and company/id in (250,251))"]


@respx.mock
async def test_the_window_lists_time_start_between_local_midnights(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    await collect(cw.window(date(2026, 10, 31), date(2026, 11, 30)))
    # From 31 Oct 00:00 CDT to 1 Dec 00:00 CST: the bounds follow the DST change.
    assert query(route.calls.last.request)["conditions"] == [
        "(timeStart>=[2026-10-31T05:00:00Z] and timeStart<[2026-12-01T06:00:00Z] and company/id in (250,251))"]


@respx.mock
async def test_an_account_no_client_reads_sends_no_request() -> None:
    info = respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    listing = respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    cw = connector(companies={})
    assert await collect(cw.changes(SINCE, date(2026, 1, 1))) == []
    await cw.aclose()
    assert not info.called and not listing.called


# --- paging ---------------------------------------------------------------------------


@respx.mock
async def test_paging_follows_the_link_header_next_url_until_it_is_empty(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    next_url = f"{ENTRIES}?conditions=x&pageSize=1000&pageId=1002"
    route = respx.get(ENTRIES).mock(side_effect=[
        httpx.Response(200, json=[wire(1001), wire(1002)], headers={"Link": f'<{next_url}>; rel="next"'}),
        httpx.Response(200, json=[wire(1003)], headers={"Link": ""}),
    ])
    entries = await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert [e.vendor_id for e in entries] == ["1001", "1002", "1003"]
    assert route.call_count == 2
    assert query(route.calls[1].request)["pageId"] == ["1002"]


@respx.mock
async def test_a_full_page_without_any_link_header_asks_for_the_rest_by_page_id() -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    cw = connector()
    cw.max_page_size = 2  # type: ignore[misc]
    route = respx.get(ENTRIES).mock(side_effect=[
        httpx.Response(200, json=[wire(7), wire(9)]),
        httpx.Response(200, json=[wire(11)]),
    ])
    entries = await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await cw.aclose()
    assert [e.vendor_id for e in entries] == ["7", "9", "11"]
    assert query(route.calls[1].request)["pageId"] == ["9"]
    assert query(route.calls[1].request)["conditions"] == query(route.calls[0].request)["conditions"]


@respx.mock
async def test_a_next_link_that_repeats_a_page_is_a_payload_error(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    again = f"{ENTRIES}?pageId=1"
    respx.get(ENTRIES).mock(return_value=httpx.Response(
        200, json=[wire(1)], headers={"Link": f'<{again}>; rel="next"'}))
    with pytest.raises(PayloadError, match="paging loop"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_a_next_link_to_another_host_is_refused(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(
        200, json=[wire(1)], headers={"Link": '<https://evil.example/steal?pageId=1>; rel="next"'}))
    with pytest.raises(PayloadError, match="another host"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_a_listing_that_is_not_an_array_is_a_payload_error(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(200, json={"items": []}))
    with pytest.raises(PayloadError, match="expected a list as the response"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_entries_are_routed_by_company_and_strangers_get_no_client(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(
        200, json=[wire(1, 250), wire(2, 251), wire(3, 19297)], headers={"Link": ""}))
    entries = await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert [(e.vendor_id, e.client_key) for e in entries] == [("1", "acme"), ("2", "birchwood"), ("3", None)]


def test_two_clients_naming_one_company_route_to_the_first_key_always() -> None:
    cw = connector(companies={"zeta": 250, "alpha": 250})
    assert cw.route(wire(1, 250)) == "alpha"
    assert cw.conditions("x") == "(x and company/id in (250))"


# --- codebase refresh -----------------------------------------------------------------


@respx.mock
async def test_a_404_rediscovers_a_moved_codebase_once_and_retries_there(cw: ConnectWiseConnector) -> None:
    info = respx.get(INFO).mock(side_effect=[
        httpx.Response(200, json=COMPANY_INFO),
        httpx.Response(200, json={**COMPANY_INFO, "Codebase": "v2026_1/"}),
    ])
    respx.get(ENTRIES).mock(return_value=httpx.Response(200, json=[], headers={"Link": ""}))
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    respx.get(ENTRIES).mock(return_value=httpx.Response(404, text="<h1>404 - File or directory not found.</h1>"))
    moved = respx.get(f"{SITE}/v2026_1/apis/3.0/time/entries").mock(
        return_value=httpx.Response(200, json=[wire(5)], headers={"Link": ""}))
    entries = await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert [e.vendor_id for e in entries] == ["5"]
    assert (info.call_count, moved.call_count) == (2, 1)
    await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert (info.call_count, moved.call_count) == (2, 2)


@respx.mock
async def test_a_404_with_an_unchanged_codebase_is_a_payload_error_hinting_at_credentials(
        cw: ConnectWiseConnector) -> None:
    info = respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    listing = respx.get(ENTRIES).mock(return_value=httpx.Response(404, text="not found"))
    with pytest.raises(PayloadError, match="still current"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert (info.call_count, listing.call_count) == (2, 1)


@respx.mock
async def test_a_404_with_a_configured_codebase_is_not_rediscovered() -> None:
    info = respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(404, text="not found"))
    cw = connector(codebase="v4_6_release/")
    with pytest.raises(PayloadError, match="HTTP 404"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await cw.aclose()
    assert not info.called


@respx.mock
async def test_an_unknown_company_answers_null_and_is_an_auth_error(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(
        200, content=b"null", headers={"Content-Type": "application/json"}))
    with pytest.raises(AuthError, match="does not know company 'northbridge'"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))


@pytest.mark.parametrize("body", [{"CompanyID": "northbridge"}, {"Codebase": "../../admin/"}, ["v4_6_release/"]])
@respx.mock
async def test_a_companyinfo_answer_without_a_usable_codebase_is_a_payload_error(
        cw: ConnectWiseConnector, body: Any) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=body))
    with pytest.raises(PayloadError, match="companyinfo"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))


# --- error mapping of CW's own answers -----------------------------------------------


@respx.mock
async def test_cw_401_is_an_auth_error_without_retry(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(
        401, json={"code": "Unauthorized", "message": "Incorrect public/private key"}))
    with pytest.raises(AuthError, match="HTTP 401"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 1


@respx.mock
async def test_cw_403_security_answer_is_an_auth_error(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(
        403, json={"code": "Security", "message": "You do not have security permission to perform this action."}))
    with pytest.raises(AuthError, match="HTTP 403"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))


@respx.mock
async def test_cw_400_invalid_object_is_a_payload_error_quoting_its_message(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(
        400, json={"code": "InvalidObject", "message": "conditions: cannot parse 'x'", "errors": []}))
    with pytest.raises(PayloadError, match="cannot parse"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 1


@respx.mock
async def test_a_429_with_retry_after_is_waited_out_then_the_poll_goes_on() -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    sleeps = Sleeps()
    cw = connector(sleeps=sleeps)
    respx.get(ENTRIES).mock(side_effect=[
        httpx.Response(429, text="error code: 1015", headers={"Retry-After": "7"}),
        httpx.Response(200, json=[wire(1)], headers={"Link": ""}),
    ])
    entries = await collect(cw.changes(SINCE, date(2026, 1, 1)))
    await cw.aclose()
    assert [e.vendor_id for e in entries] == ["1"] and sleeps.calls == [7.0]


@respx.mock
async def test_a_long_429_hint_is_raised_for_the_coordinator_to_defer(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(429, headers={"Retry-After": "600"}))
    with pytest.raises(RateLimited) as caught:
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert caught.value.retry_after == 600


@respx.mock
async def test_a_persistent_500_is_a_transient_error_after_bounded_retries(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    route = respx.get(ENTRIES).mock(return_value=httpx.Response(
        500, json={"code": "UnexpectedError", "message": "An unexpected error has occurred."}))
    with pytest.raises(TransientError):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    assert route.call_count == 4


@respx.mock
async def test_errors_never_carry_the_credentials(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(200, json=COMPANY_INFO))
    respx.get(ENTRIES).mock(return_value=httpx.Response(401, json={"code": "Unauthorized", "message": "no"}))
    with pytest.raises(AuthError) as caught:
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
    secret = base64.b64encode(b"northbridge+pubKEY123:privKEY456").decode()
    assert all(s not in str(caught.value) for s in ("pubKEY123", "privKEY456", "client-guid-1", secret))


@respx.mock
async def test_a_server_without_companyinfo_says_to_configure_the_codebase(cw: ConnectWiseConnector) -> None:
    respx.get(INFO).mock(return_value=httpx.Response(404, text="not found"))
    with pytest.raises(PayloadError, match="needs codebase"):
        await collect(cw.changes(SINCE, date(2026, 1, 1)))
