"""The sandboxes' shared fault kit: what each fault does to a request, and to which requests."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.sandbox_faults import Asked, FaultKit, Listing, paged_by

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


class Vendor:
    """A three-page listing at /items (paged by ?page=, items under "items", a next link in
    the body), a POSTed /search (paged by the body's "from"), and an unpaged /me."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.seen: list[str] = []
        self.items = [[1, 2], [3, 4], [5]]
        self.kit = FaultKit(
            counters=self.counters,
            listing=Listing(re.compile(r"^/(items|search)$"), items=("items",),
                            next_page=lambda a: paged_by("page")(a) or (a.json() or {}).get("from", 0) > 0,
                            needs_body=True),
            refuse=lambda asked: None if asked.path == "/me" else JSONResponse({"error": "revoked"}, 401),
            throttles={"429": lambda asked, wait: Response(b"", 429, {"Retry-After": str(wait)} if wait else None),
                       "402": lambda asked, wait: None if asked.path == "/me" else Response(b"", 402)},
            base_clock=lambda: NOW,
        )
        self.app = self.kit.wrap(Starlette(routes=[
            Route("/items", self.listing), Route("/search", self.search, methods=["POST"]), Route("/me", self.me)]))

    async def listing(self, request: Request) -> Response:
        page = int(request.query_params.get("page", "1"))
        self.seen.append(f"items page {page}")
        nxt = f"http://vendor.test/items?page={page + 1}" if page < len(self.items) else None
        return JSONResponse({"items": self.items[page - 1], "links": {"next": nxt}},
                            headers={"X-Page": str(page)})

    async def search(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.seen.append(f"search from {body.get('from', 0)}")
        return JSONResponse({"items": [body.get("from", 0)]})

    async def me(self, request: Request) -> Response:
        return PlainTextResponse("me")


@pytest.fixture
def vendor() -> Vendor:
    return Vendor()


@pytest.fixture
async def http(vendor: Vendor) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=vendor.kit.transport(), base_url="http://vendor.test")


async def pages(http: httpx.AsyncClient) -> list[httpx.Response]:
    return [await http.get("/items", params={"page": n}) for n in (1, 2, 3)]


async def test_every_request_is_counted_whether_the_sandbox_or_a_fault_answers(vendor: Vendor,
                                                                               http: httpx.AsyncClient) -> None:
    vendor.kit.fail_next(1, "5xx")
    await pages(http)
    await http.get("/me")
    assert vendor.counters["requests"] == 4 and vendor.seen == ["items page 2", "items page 3"]


async def test_fail_next_hits_listings_only_replaces_what_is_queued_and_zero_clears(vendor: Vendor,
                                                                                   http: httpx.AsyncClient) -> None:
    vendor.kit.fail_next(3, "5xx")
    assert (await http.get("/me")).status_code == 200
    assert (await http.get("/items")).status_code == 500
    vendor.kit.fail_next(1, "malformed")  # replaces the two 5xx still queued
    malformed = await http.get("/items")
    assert malformed.status_code == 200
    with pytest.raises(ValueError):
        malformed.json()
    assert (await http.get("/items")).status_code == 200
    vendor.kit.fail_next(5, "5xx")
    vendor.kit.fail_next(0, "5xx")
    assert (await http.get("/items")).status_code == 200


async def test_a_5xx_burst_cycles_through_the_gateway_statuses(vendor: Vendor, http: httpx.AsyncClient) -> None:
    vendor.kit.inject("5xx", times=5)
    assert [(await http.get("/me")).status_code for _ in range(6)] == [500, 502, 503, 504, 500, 200]


@pytest.mark.parametrize(("variant", "wait", "status", "header"), [
    (None, 7, 429, "7"), ("429", None, 429, None), ("402", None, 402, None)])
async def test_a_throttle_answers_with_the_vendors_own_rate_limit_answer(
        vendor: Vendor, http: httpx.AsyncClient, variant: str | None, wait: int | None, status: int,
        header: str | None) -> None:
    vendor.kit.throttle_next(1, wait, variant=variant)
    answer = await http.get("/items")
    assert (answer.status_code, answer.headers.get("Retry-After")) == (status, header)
    assert (await http.get("/items")).status_code == 200


async def test_a_fault_the_vendor_would_not_give_on_a_route_passes_it_by_and_waits(vendor: Vendor,
                                                                                   http: httpx.AsyncClient) -> None:
    vendor.kit.inject("throttle", variant="402", times=1)
    vendor.kit.fail_auth(True)
    assert (await http.get("/me")).status_code == 200  # neither throttled nor refused there
    assert (await http.get("/items")).status_code == 402  # the throttle, armed first, answers
    assert (await http.get("/items")).status_code == 401
    vendor.kit.fail_auth(False)
    assert (await http.get("/items")).status_code == 200


def test_unknown_faults_and_throttles_are_refused(vendor: Vendor) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        vendor.kit.inject("gremlins")
    with pytest.raises(ValueError, match="no 'threshold' throttle"):
        vendor.kit.throttle_next(1, variant="threshold")
    assert vendor.kit.throttle_kinds == ("429", "402")


async def test_a_truncated_page_is_the_real_page_cut_mid_body_after_the_first(vendor: Vendor,
                                                                              http: httpx.AsyncClient) -> None:
    vendor.kit.inject("truncated", where="next_page", times=1)
    first, second, third = await pages(http)
    whole = (await http.get("/items", params={"page": 2})).content
    assert second.content == whole[:len(whole) // 2] and second.headers["content-length"] == str(len(whole) // 2)
    with pytest.raises(ValueError):
        second.json()
    assert (first.json()["items"], third.json()["items"]) == ([1, 2], [5])


async def test_an_empty_page_mid_stream_keeps_its_paging_signals(vendor: Vendor, http: httpx.AsyncClient) -> None:
    vendor.kit.inject("empty_page", where="next_page", times=1)
    first, second, third = await pages(http)
    assert second.json() == {"items": [], "links": {"next": "http://vendor.test/items?page=3"}}
    assert second.headers["X-Page"] == "2"
    assert (first.json()["items"], third.json()["items"]) == ([1, 2], [5])


async def test_a_repeated_page_answers_the_previous_pages_content_and_headers_again(
        vendor: Vendor, http: httpx.AsyncClient) -> None:
    vendor.kit.inject("repeat", where="next_page", times=1)
    first, second, _ = await pages(http)
    assert second.json() == first.json() and second.headers["X-Page"] == "1"
    assert vendor.seen == ["items page 1", "items page 3"]


async def test_a_page_hook_runs_once_just_before_the_second_page_is_answered(vendor: Vendor,
                                                                             http: httpx.AsyncClient) -> None:
    def edit() -> None:
        vendor.items[1] = [33, 44]
        vendor.items[0] = [11, 22]

    vendor.kit.on_next_page(edit)
    first, second, third = await pages(http)
    assert [first.json()["items"], second.json()["items"], third.json()["items"]] == [[1, 2], [33, 44], [5]]
    assert not vendor.kit.armed


async def test_a_posted_listing_is_read_for_its_paging_and_reaches_the_sandbox_intact(
        vendor: Vendor, http: httpx.AsyncClient) -> None:
    vendor.kit.inject("5xx", where="next_page", times=1)
    assert (await http.post("/search", json={"from": 0})).json() == {"items": [0]}
    assert (await http.post("/search", json={"from": 2})).status_code == 500
    assert (await http.post("/search", json={"from": 2})).json() == {"items": [2]}


@pytest.mark.parametrize(("kind", "error"), [("timeout", httpx.ReadTimeout), ("reset", httpx.ReadError)])
async def test_a_timeout_or_reset_loses_the_answer_after_the_sandbox_did_the_work(
        vendor: Vendor, http: httpx.AsyncClient, kind: str, error: type[Exception]) -> None:
    vendor.kit.inject(kind, where="listing", times=1)
    assert (await http.get("/me")).status_code == 200
    with pytest.raises(error):
        await http.get("/items")
    assert vendor.seen == ["items page 1"] and vendor.counters["requests"] == 2
    assert (await http.get("/items")).status_code == 200


def test_the_vendor_clock_is_ours_plus_the_skew(vendor: Vendor) -> None:
    assert vendor.kit.clock() == NOW
    vendor.kit.skew(-timedelta(hours=3))
    assert vendor.kit.clock() == NOW - timedelta(hours=3)


@pytest.mark.parametrize(("query", "continues"), [
    ({}, False), ({"page": "1"}, False), ({"page": "2"}, True), ({"cursor": "abc"}, True), ({"pageId": "0"}, False),
    ({"pageId": "1500042"}, True)])
def test_paged_by_says_which_requests_ask_for_a_page_after_the_first(query: dict[str, str], continues: bool) -> None:
    assert paged_by("page", "cursor", "pageId")(Asked("GET", "/x", query)) is continues
