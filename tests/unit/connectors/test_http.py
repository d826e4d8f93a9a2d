"""The request funnel: retries, Retry-After, budgets and the mapping onto the error vocabulary."""

from __future__ import annotations

import httpx
import pytest
import respx

from connectors.http import Funnel, RequestBudget, parse_retry_after
from connectors.pagination import BodyLinkPaginator, LinkHeaderPaginator, walk_pages
from syncd.errors import AuthError, PayloadError, RateLimited, TransientError

BASE = "https://api.vendor.test"


class Sleeps:
    """A recorded stand-in for asyncio.sleep: the funnel's waits, without waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def funnel(sleep: Sleeps, **kwargs: object) -> Funnel:
    return Funnel(vendor="Vendor", base_url=BASE, headers={"Authorization": "Bearer s3cret"},
                  sleep=sleep, **kwargs)  # type: ignore[arg-type]


@respx.mock
async def test_429_with_retry_after_is_waited_out_then_succeeds() -> None:
    route = respx.get(f"{BASE}/x").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(200, json={"ok": True}),
    ])
    sleeps = Sleeps()
    body, _ = await funnel(sleeps).get_json("/x")
    assert body == {"ok": True}
    assert route.call_count == 2
    assert sleeps.calls == [7.0]


@respx.mock
async def test_429_with_a_long_retry_after_is_raised_for_the_coordinator_to_defer() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(429, headers={"Retry-After": "900"}))
    sleeps = Sleeps()
    http = funnel(sleeps)
    with pytest.raises(RateLimited) as caught:
        await http.get_json("/x")
    assert caught.value.retry_after == 900
    assert sleeps.calls == []
    assert http.throttles == 1


@pytest.mark.parametrize("status", [401, 403])
@respx.mock
async def test_auth_failures_raise_auth_error_at_once_without_retry(status: int) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status, json={"error": "invalid_token"}))
    with pytest.raises(AuthError, match=f"HTTP {status}"):
        await funnel(Sleeps()).get_json("/x")
    assert route.call_count == 1


@pytest.mark.parametrize("status", [400, 404, 422])
@respx.mock
async def test_other_client_errors_are_payload_errors_and_never_retried(status: int) -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status, text="bad per_page"))
    with pytest.raises(PayloadError, match=f"HTTP {status}.*bad per_page"):
        await funnel(Sleeps()).get_json("/x")
    assert route.call_count == 1


@respx.mock
async def test_server_errors_are_retried_with_backoff_then_raised_as_transient() -> None:
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(503))
    sleeps = Sleeps()
    with pytest.raises(TransientError, match="HTTP 503"):
        await funnel(sleeps, attempts=3).get_json("/x")
    assert route.call_count == 3
    assert len(sleeps.calls) == 2 and all(0 < s <= 31 for s in sleeps.calls)


@respx.mock
async def test_timeouts_and_resets_become_transient_errors() -> None:
    respx.get(f"{BASE}/t").mock(side_effect=httpx.ReadTimeout("slow"))
    respx.get(f"{BASE}/r").mock(side_effect=httpx.RemoteProtocolError("reset"))
    for path in ("/t", "/r"):
        with pytest.raises(TransientError):
            await funnel(Sleeps(), attempts=1).get_json(path)


@respx.mock
async def test_a_body_that_is_not_json_is_a_payload_error() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(200, text="<html>maintenance</html>"))
    with pytest.raises(PayloadError, match="not JSON"):
        await funnel(Sleeps()).get_json("/x")


@respx.mock
async def test_errors_never_carry_the_credentials() -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(401))
    with pytest.raises(AuthError) as caught:
        await funnel(Sleeps()).get_json("/x")
    assert "s3cret" not in str(caught.value)


async def test_a_link_to_another_host_is_refused_before_any_request() -> None:
    with respx.mock(assert_all_called=False) as mock:
        evil = mock.get("https://evil.test/steal")
        with pytest.raises(PayloadError, match="another host"):
            await funnel(Sleeps()).get_json("https://evil.test/steal")
        assert not evil.called


async def test_budget_holds_requests_beyond_the_window_until_a_slot_frees() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    budget = RequestBudget(3, 15.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        await budget.acquire()
    assert waits == []
    await budget.acquire()
    assert waits == [15.0]
    budget.pause(40)
    await budget.acquire()
    assert sum(waits) == pytest.approx(55.0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0", 0.0), ("-3", 0.0), (None, None), ("soon", None),
     ("Wed, 21 Oct 2026 07:28:00 GMT", None)],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 10, 21, 7, 27, 0, tzinfo=timezone.utc)
    got = parse_retry_after(header, now=now)
    if header and header.startswith("Wed"):
        assert got == 60.0
    else:
        assert got == expected


@respx.mock
async def test_walk_pages_follows_body_links_and_stops_on_the_last_page() -> None:
    respx.get(f"{BASE}/items", params={"page": "1"}).mock(
        return_value=httpx.Response(200, json={"items": [1, 2], "links": {"next": f"{BASE}/items?page=2"}}))
    respx.get(f"{BASE}/items", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json={"items": [3], "links": {"next": None}}))
    pages = [p async for p in walk_pages(funnel(Sleeps()), "/items", params={"page": 1},
                                         paginator=BodyLinkPaginator(), items_key="items")]
    assert pages == [[1, 2], [3]]


@respx.mock
async def test_walk_pages_detects_a_paging_loop() -> None:
    respx.get(f"{BASE}/items").mock(
        return_value=httpx.Response(200, json={"items": [1], "links": {"next": f"{BASE}/items?page=1"}}))
    with pytest.raises(PayloadError, match="paging loop"):
        async for _ in walk_pages(funnel(Sleeps()), f"{BASE}/items?page=1", params=None,
                                  paginator=BodyLinkPaginator(), items_key="items"):
            pass


@respx.mock
async def test_walk_pages_rejects_a_page_without_its_list() -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json={"items": None}))
    with pytest.raises(PayloadError, match="expected a list under 'items'"):
        async for _ in walk_pages(funnel(Sleeps()), "/items", params=None,
                                  paginator=BodyLinkPaginator(), items_key="items"):
            pass


@respx.mock
async def test_link_header_paginator_reads_rel_next() -> None:
    respx.get(f"{BASE}/a").mock(return_value=httpx.Response(
        200, json=[], headers={"Link": f'<{BASE}/a?page=2>; rel="next", <{BASE}/a?page=9>; rel="last"'}))
    response = (await funnel(Sleeps()).get_json("/a"))[1]
    assert LinkHeaderPaginator().next_url([], response) == f"{BASE}/a?page=2"


@respx.mock
async def test_a_long_hint_does_not_hold_the_budget_but_a_short_one_does() -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    budget = RequestBudget(100, 15.0, clock=lambda: now[0], sleep=sleep)
    http = Funnel(vendor="Vendor", base_url=BASE, budget=budget, sleep=sleep)
    respx.get(f"{BASE}/long").mock(return_value=httpx.Response(429, headers={"Retry-After": "900"}))
    respx.get(f"{BASE}/ok").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(RateLimited):
        await http.get_json("/long")
    await http.get_json("/ok")
    assert sleeps == []  # the coordinator defers the account; the budget does not wait 900 s
    respx.get(f"{BASE}/short").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "5"}),
                                                 httpx.Response(200, json={})])
    await http.get_json("/short")
    assert sum(sleeps) >= 5


@pytest.mark.parametrize(("status", "error"), [(401, AuthError), (404, PayloadError), (429, RateLimited),
                                               (503, TransientError)])
@respx.mock
async def test_errors_carry_the_vendors_http_status(status: int, error: type[Exception]) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(status, headers={"Retry-After": "999"}))
    with pytest.raises(error) as caught:
        await funnel(Sleeps(), attempts=1).get_json("/x")
    assert caught.value.status == status  # type: ignore[attr-defined]


@respx.mock
async def test_walk_pages_reads_a_bare_array_body() -> None:
    respx.get(f"{BASE}/list").mock(return_value=httpx.Response(200, json=[{"id": 1}]))
    pages = [p async for p in walk_pages(funnel(Sleeps()), "/list", params=None,
                                         paginator=LinkHeaderPaginator(), items_key=None)]
    assert pages == [[{"id": 1}]]


@pytest.mark.parametrize(
    ("statuses", "headers", "answer", "error", "retry_after"),
    [
        pytest.param((429,), ("Retry-After",), httpx.Response(402), PayloadError, None, id="402-undeclared"),
        pytest.param((402, 429), ("X-Quota-Resets-In", "Retry-After"),
                     httpx.Response(402, headers={"X-Quota-Resets-In": "1187"}), RateLimited, 1187,
                     id="402-declared-with-its-header"),
        pytest.param((402, 429), ("X-Quota-Resets-In", "Retry-After"),
                     httpx.Response(402, headers={"X-Quota-Resets-In": "soon", "Retry-After": "90"}),
                     RateLimited, 90, id="unreadable-first-header-falls-through"),
        pytest.param((402,), ("X-Quota-Resets-In",), httpx.Response(402), RateLimited, None, id="402-no-hint"),
        pytest.param((402,), ("X-Quota-Resets-In",), httpx.Response(429, headers={"Retry-After": "5"}),
                     PayloadError, None, id="429-not-declared-is-a-rejection"),
    ],
)
@respx.mock
async def test_a_vendor_declares_which_statuses_throttle_and_which_headers_say_how_long(
    statuses: tuple[int, ...], headers: tuple[str, ...], answer: httpx.Response, error: type[Exception],
    retry_after: float | None,
) -> None:
    respx.get(f"{BASE}/x").mock(return_value=answer)
    http = funnel(Sleeps(), attempts=1, rate_limit_statuses=statuses, retry_after_headers=headers)
    with pytest.raises(error) as caught:
        await http.get_json("/x")
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == retry_after and http.throttles == 1


@respx.mock
async def test_the_vendors_quota_headers_are_read_from_every_answer_and_kept_until_the_next() -> None:
    respx.get(f"{BASE}/x").mock(side_effect=[
        httpx.Response(200, json={}, headers={"X-Quota-Remaining": "12", "X-Quota-Resets-In": "600"}),
        httpx.Response(200, json={}),
        httpx.Response(200, json={}, headers={"X-Quota-Remaining": "junk"}),
    ])
    ticks = iter([100.0, 200.0])
    http = funnel(Sleeps(), quota_remaining_header="X-Quota-Remaining", quota_resets_header="X-Quota-Resets-In",
                  monotonic=lambda: next(ticks))
    await http.get_json("/x")
    assert (http.quota.remaining, http.quota.resets_in, http.quota.read_at) == (12, 600.0, 100.0)
    await http.get_json("/x")
    assert http.quota.remaining == 12  # an answer without the headers says nothing new
    await http.get_json("/x")
    assert http.quota.remaining == 12


@respx.mock
async def test_walk_pages_refuses_an_empty_page_that_still_links_to_a_next_one() -> None:
    # The vendor lost page 2's entries: taking it for the end, or skipping it, would lose them.
    respx.get(f"{BASE}/items", params={"page": "1"}).mock(
        return_value=httpx.Response(200, json={"items": [1, 2], "links": {"next": f"{BASE}/items?page=2"}}))
    respx.get(f"{BASE}/items", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json={"items": [], "links": {"next": f"{BASE}/items?page=3"}}))
    pages = []
    with pytest.raises(PayloadError, match="empty page that says more follow"):
        async for page in walk_pages(funnel(Sleeps()), "/items", params={"page": 1},
                                     paginator=BodyLinkPaginator(), items_key="items"):
            pages.append(page)
    assert pages == [[1, 2]]


@respx.mock
async def test_walk_pages_takes_an_empty_last_page_for_the_end() -> None:
    respx.get(f"{BASE}/items").mock(return_value=httpx.Response(200, json={"items": [], "links": {"next": None}}))
    pages = [p async for p in walk_pages(funnel(Sleeps()), "/items", params=None,
                                         paginator=BodyLinkPaginator(), items_key="items")]
    assert pages == [[]]
