"""OAuth2 client credentials: the token request, caching, refresh on expiry and on 401, refusals."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from connectors.auth import OAuth2ClientCredentials
from connectors.http import Funnel
from syncd.errors import AuthError, PayloadError, TransientError

BASE = "https://northbridge.halopsa.com"
TOKEN_URL = f"{BASE}/auth/token"
SECRET = "s3cret-Value-9911"


class Sleeps:
    """A recorded stand-in for asyncio.sleep."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_auth(clock: Clock | None = None, **kwargs: object) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(TOKEN_URL, "client-abc", SECRET, params={"tenant": "northbridge"},
                                   vendor="HaloPSA", clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]


def funnel(auth: OAuth2ClientCredentials) -> Funnel:
    return Funnel(vendor="HaloPSA", base_url=BASE, auth=auth, sleep=Sleeps())


def tokens(*names: str, expires_in: int = 3600) -> list[httpx.Response]:
    return [httpx.Response(200, json={"access_token": n, "token_type": "Bearer", "expires_in": expires_in})
            for n in names]


def bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"]


@respx.mock
async def test_the_token_request_is_a_form_post_with_tenant_and_scope_then_bearer_is_sent() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("tok-1"))
    api = respx.get(f"{BASE}/api/Tickets").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth())
    await http.get_json("/api/Tickets")
    sent = token_route.calls.last.request
    assert sent.url.params["tenant"] == "northbridge"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent.content.decode()) == {"grant_type": ["client_credentials"], "client_id": ["client-abc"],
                                               "client_secret": [SECRET], "scope": ["all"]}
    assert bearer(api.calls.last.request) == "Bearer tok-1"
    await http.aclose()


@respx.mock
async def test_the_token_is_cached_across_requests() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("tok-1", "tok-2"))
    api = respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth())
    for _ in range(3):
        await http.get_json("/api/x")
    assert token_route.call_count == 1
    assert [bearer(c.request) for c in api.calls] == ["Bearer tok-1"] * 3
    await http.aclose()


@respx.mock
async def test_the_token_is_refreshed_a_minute_before_it_expires() -> None:
    clock = Clock()
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("tok-1", "tok-2"))
    api = respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth(clock))
    await http.get_json("/api/x")
    clock.now += 3600 - 61
    await http.get_json("/api/x")
    assert token_route.call_count == 1
    clock.now += 2
    await http.get_json("/api/x")
    assert token_route.call_count == 2
    assert bearer(api.calls.last.request) == "Bearer tok-2"
    await http.aclose()


@respx.mock
async def test_a_short_lived_token_is_refreshed_at_half_its_life() -> None:
    clock = Clock()
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("tok-1", "tok-2", expires_in=60))
    respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth(clock))
    await http.get_json("/api/x")
    clock.now += 29
    await http.get_json("/api/x")
    assert token_route.call_count == 1
    clock.now += 2
    await http.get_json("/api/x")
    assert token_route.call_count == 2
    await http.aclose()


@respx.mock
async def test_a_401_refreshes_the_token_once_and_retries_the_request_once() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("old", "new"))
    api = respx.get(f"{BASE}/api/x").mock(side_effect=[httpx.Response(401), httpx.Response(200, json={"ok": 1})])
    http = funnel(make_auth())
    body, _ = await http.get_json("/api/x")
    assert body == {"ok": 1}
    assert token_route.call_count == 2
    assert [bearer(c.request) for c in api.calls] == ["Bearer old", "Bearer new"]
    assert http.requests == 1  # one request as the funnel counts it; the refresh is the auth's
    await http.aclose()


@respx.mock
async def test_a_second_401_after_the_refresh_is_an_auth_error_without_further_retries() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("old", "new", "newer"))
    api = respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(401))
    http = funnel(make_auth())
    with pytest.raises(AuthError, match="HTTP 401"):
        await http.get_json("/api/x")
    assert token_route.call_count == 2
    assert api.call_count == 2
    await http.aclose()


@pytest.mark.parametrize(("status", "body"), [
    (400, {"error": "invalid_client"}),
    (400, {"error": "invalid_grant", "error_description": "expired secret"}),
    (400, {"error": "unauthorized_client"}),
    (401, {"error": "invalid_client"}),
    (401, None),
])
@respx.mock
async def test_refused_client_credentials_are_an_auth_error_and_no_api_request_is_sent(
        status: int, body: dict[str, str] | None) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(status, json=body) if body else httpx.Response(status))
    api = respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth())
    with pytest.raises(AuthError, match="client credentials refused") as caught:
        await http.get_json("/api/x")
    assert SECRET not in str(caught.value)
    assert api.call_count == 0
    await http.aclose()


@respx.mock
async def test_a_400_that_is_not_a_credential_refusal_is_a_payload_error() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(400, json={"error": "unsupported_grant_type"}))
    http = funnel(make_auth())
    with pytest.raises(PayloadError):
        await http.get_json("/api/x")
    await http.aclose()


@respx.mock
async def test_a_token_endpoint_outage_is_transient_and_retried_by_the_funnel() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=[httpx.Response(503), *tokens("tok-1")])
    respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth())
    await http.get_json("/api/x")
    assert token_route.call_count == 2
    await http.aclose()


@respx.mock
async def test_a_token_endpoint_outage_that_lasts_ends_as_a_transient_error() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(502))
    http = funnel(make_auth())
    with pytest.raises(TransientError):
        await http.get_json("/api/x")
    await http.aclose()


@pytest.mark.parametrize("response", [
    httpx.Response(200, json={"token_type": "Bearer", "expires_in": 3600}),
    httpx.Response(200, json={"access_token": "", "expires_in": 3600}),
    httpx.Response(200, json={"access_token": "t", "token_type": "mac"}),
    httpx.Response(200, text="<html>login</html>"),
    httpx.Response(200, json=["t"]),
])
@respx.mock
async def test_an_unusable_token_response_is_a_payload_error(response: httpx.Response) -> None:
    respx.post(TOKEN_URL).mock(return_value=response)
    http = funnel(make_auth())
    with pytest.raises(PayloadError):
        await http.get_json("/api/x")
    await http.aclose()


@respx.mock
async def test_a_missing_expires_in_caches_the_token_for_an_hour() -> None:
    clock = Clock()
    token_route = respx.post(TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json={"access_token": "t1"}), *tokens("t2")])
    respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth(clock))
    await http.get_json("/api/x")
    clock.now += 3500
    await http.get_json("/api/x")
    assert token_route.call_count == 1
    clock.now += 60
    await http.get_json("/api/x")
    assert token_route.call_count == 2
    await http.aclose()


@respx.mock
async def test_concurrent_requests_share_one_token_request() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("tok-1", "tok-2", "tok-3"))
    api = respx.get(f"{BASE}/api/x").mock(return_value=httpx.Response(200, json={}))
    http = funnel(make_auth())
    await asyncio.gather(*(http.get_json("/api/x") for _ in range(5)))
    assert token_route.call_count == 1
    assert {bearer(c.request) for c in api.calls} == {"Bearer tok-1"}
    await http.aclose()


@respx.mock
async def test_concurrent_401s_refresh_the_token_only_once() -> None:
    token_route = respx.post(TOKEN_URL).mock(side_effect=tokens("old", "new", "newer", "newest"))
    seen: list[str] = []
    all_in_flight = asyncio.Event()
    revoked: set[str] = set()

    async def answer(request: httpx.Request) -> httpx.Response:
        seen.append(bearer(request))
        if bearer(request) in revoked:
            # Hold every request sent with the revoked token until all three are in flight.
            if seen.count(bearer(request)) == 3:
                all_in_flight.set()
            await all_in_flight.wait()
            return httpx.Response(401)
        return httpx.Response(200, json={})

    respx.get(f"{BASE}/api/x").mock(side_effect=answer)
    http = funnel(make_auth())
    await http.get_json("/api/x")  # caches "old"
    revoked.add("Bearer old")
    seen.clear()
    await asyncio.gather(*(http.get_json("/api/x") for _ in range(3)))
    assert seen.count("Bearer old") == 3
    assert token_route.call_count == 2
    assert seen.count("Bearer new") == 3
    await http.aclose()


def test_the_secret_never_appears_in_the_repr() -> None:
    auth = make_auth()
    assert SECRET not in repr(auth)
    assert "client-abc" in repr(auth)


async def test_the_sync_client_is_refused_rather_than_sending_without_credentials() -> None:
    with httpx.Client(auth=make_auth()) as client, pytest.raises(RuntimeError, match="AsyncClient"):
        client.get("https://example.invalid/x")
