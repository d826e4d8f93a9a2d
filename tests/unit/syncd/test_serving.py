"""AppServer serves a sandbox over real loopback and leaves the host process alone."""

from __future__ import annotations

import logging
import signal

import httpx
import pytest

from connectors.harvest.sandbox import HarvestSandbox
from syncd.serving import AppServer

from ...conftest import raw_exchange

HEADERS = {
    "Authorization": "Bearer sandbox-token",
    "Harvest-Account-Id": "100200",
    "User-Agent": "syncd-tests (ops@example.com)",
}


async def test_serves_the_harvest_sandbox_over_loopback() -> None:
    sandbox = HarvestSandbox()
    entry = sandbox.add_entry(client_id=5001, notes="Patched the file server")
    sigint_before = signal.getsignal(signal.SIGINT)
    root_handlers_before = list(logging.getLogger().handlers)

    async with AppServer(sandbox.app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        assert server.port != 0
        # Signals and logging still belong to the host process while the server runs.
        assert signal.getsignal(signal.SIGINT) is sigint_before
        assert logging.getLogger().handlers == root_handlers_before
        async with httpx.AsyncClient(base_url=server.url, headers=HEADERS, trust_env=False) as http:
            response = await http.get("/v2/time_entries")
            unauthorized = await http.get("/v2/time_entries", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 200
    body = response.json()
    assert [e["id"] for e in body["time_entries"]] == [entry["id"]]
    assert body["links"]["first"].startswith(f"{server.url}/v2/time_entries?")
    assert unauthorized.status_code == 401
    assert sandbox.counters["requests"] == 2

    # After the block the port is closed: nothing is left listening.
    async with httpx.AsyncClient(trust_env=False) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{server.url}/v2/users/me", headers=HEADERS)


async def test_two_servers_get_distinct_free_ports() -> None:
    async with AppServer(HarvestSandbox().app) as first, AppServer(HarvestSandbox().app) as second:
        assert first.port != second.port


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /c/\x00/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"NOT AN HTTP REQUEST\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Padding: " + b"y" * 40_000,  # a head past h11's limit, never ended
    ],
    ids=["nul-in-target", "garbage", "negative-length", "two-lengths", "endless-head"],
)
async def test_requests_the_http_layer_refuses_itself_get_the_error_headers_too(request_bytes: bytes) -> None:
    async def never(scope: object, receive: object, send: object) -> None:
        raise AssertionError("a request the HTTP layer refuses must not reach the app")

    async with AppServer(never, error_headers={"x-robots-tag": "noindex", "cache-control": "no-store"}) as server:
        answer = await raw_exchange(server.url, request_bytes)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 400 ")
    assert b"\r\nx-robots-tag: noindex" in head and b"\r\ncache-control: no-store" in head
