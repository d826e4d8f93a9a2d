"""The built-in web server: client pages by token, health and readiness, metrics."""

from __future__ import annotations

import hmac
import ipaddress
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.render import PAGE_CSP
from publisher.sinks import is_token

if TYPE_CHECKING:
    from syncd.push import PushReceiver

MAX_PUSH_BODY = 256 * 1024  # a Toggl event or a CW callback is a few KiB; Halo batches stay far below

FILES = {
    "index.html": "text/html; charset=utf-8",
    "balance.json": "application/json",
    "log.csv": "text/csv; charset=utf-8",
}

# Sent on every response, error pages included: no referrer leaks the token, no robot
# indexes a page, nothing is cached, and the page may load nothing from anywhere.
SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex, nofollow",
    "cache-control": "private, no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    # The page's own policy (its one inline stylesheet allowed by hash, nothing else at all).
    "content-security-policy": f"{PAGE_CSP}; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware that stamps SECURITY_HEADERS on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


NOT_FOUND = PlainTextResponse("Not found\n", status_code=404)


class MissLimiter:
    """Per-address limit on page requests that miss (unknown or revoked tokens).

    Past ``limit`` misses in ``window`` seconds an address gets 429 for every page request,
    hits included: blocking only misses would let a guesser tell a right guess by its 200.
    """

    def __init__(self, limit: int = 30, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max = max_addresses
        self._misses: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float] | None:
        misses = self._misses.get(address)
        if misses is None:
            return None
        cutoff = self._clock() - self.window
        while misses and misses[0] <= cutoff:
            misses.popleft()
        return misses

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may ask again, or None when it is not limited."""
        misses = self._recent(address)
        if misses is None or len(misses) < self.limit:
            return None
        return max(1, math.ceil(misses[0] + self.window - self._clock()))

    def miss(self, address: str) -> None:
        """Count one miss; the table forgets the longest-quiet addresses past its size."""
        misses = self._recent(address)
        if misses is None:
            misses = self._misses[address] = deque()
        self._misses.move_to_end(address)
        misses.append(self._clock())
        while len(self._misses) > self._max:
            self._misses.popitem(last=False)


def client_key(host: str) -> str:
    """Whom a miss is counted against: an IPv4 address, or an IPv6 address's /64.

    One IPv6 host is usually handed a whole /64; limiting single addresses would let it
    guess from a fresh address per request.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4 client on a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TooLarge(Exception):
    """A pushed body past MAX_PUSH_BODY."""


async def read_limited(request: Request, limit: int = MAX_PUSH_BODY) -> bytes:
    """The raw body, refused past ``limit`` bytes before more than that is read.

    A declared length over the limit is refused unread; a chunked body, or one whose
    declared length lies, is counted as it streams in.
    """
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit() and int(declared) <= limit):
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def push_routes(push: PushReceiver) -> list[Route]:
    """POST routes for vendor pushes; each answers 4xx and changes nothing unless authenticated."""

    async def receive(request: Request) -> Response:
        try:
            body = await read_limited(request)
        except TooLarge:
            return PlainTextResponse("Body too large\n", status_code=413)
        except ClientDisconnect:
            # The sender hung up mid-body (or its Content-Length promised more than it sent):
            # nothing to act on, and nobody left to hear the answer.
            return PlainTextResponse("Incomplete body\n", status_code=400)
        vendor, account = request.path_params["vendor"], request.path_params["account"]
        key = request.path_params.get("key")
        if vendor == "toggl" and key is None:
            answer = await push.toggl(account, body, request.headers)
        elif vendor == "halopsa" and key is None:
            answer = await push.halopsa(account, body, request.headers)
        elif vendor == "connectwise" and key is not None:
            answer = await push.connectwise(account, key, body)
        else:
            return NOT_FOUND
        if answer.body is not None:
            return JSONResponse(answer.body, status_code=answer.status)
        return Response(status_code=answer.status)

    return [
        Route("/webhooks/{vendor}/{account}", receive, methods=["POST"]),
        Route("/webhooks/{vendor}/{account}/{key}", receive, methods=["POST"]),
    ]


def _always_ready() -> tuple[bool, str]:
    return True, "ready"


def create_app(
    publish_dir: Path,
    *,
    readiness: Callable[[], tuple[bool, str]] = _always_ready,
    metrics_token: str | None = None,
    limiter: MissLimiter | None = None,
    push: PushReceiver | None = None,
) -> ASGIApp:
    """The page server over ``publish_dir``; ``readiness`` says whether it is ready, and how.
    With ``push``, it also receives vendor webhooks and callbacks under /webhooks/.

    /metrics names accounts and clients, so it is no public index: it answers loopback
    callers, or callers presenting ``metrics_token`` as a Bearer token, and 404s the rest.
    """
    root = Path(publish_dir).resolve()
    limiter = limiter or MissLimiter()

    def address(request: Request) -> str:
        return client_key(request.client.host if request.client else "unknown")

    def limited(request: Request) -> Response | None:
        wait = limiter.retry_after(address(request))
        if wait is None:
            return None
        return PlainTextResponse("Too many requests\n", status_code=429, headers={"retry-after": str(wait)})

    def missed(request: Request) -> Response:
        limiter.miss(address(request))
        return NOT_FOUND

    async def page(request: Request) -> Response:
        if (refusal := limited(request)) is not None:
            return refusal
        token = request.path_params["token"]
        name = request.path_params.get("name") or "index.html"
        if not is_token(token) or name not in FILES:
            return missed(request)
        path = root / "c" / token / name
        try:
            body = await anyio.Path(path).read_bytes()
        except OSError:
            return missed(request)
        headers = {"content-disposition": f'inline; filename="{name}"'} if name == "log.csv" else None
        return Response(body, media_type=FILES[name], headers=headers)

    async def bare_token(request: Request) -> Response:
        if (refusal := limited(request)) is not None:
            return refusal
        token = request.path_params["token"]
        if not is_token(token) or not await anyio.Path(root / "c" / token / "index.html").is_file():
            return missed(request)
        return RedirectResponse(f"/c/{token}/", status_code=308)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        ok, detail = readiness()
        return PlainTextResponse(f"{detail}\n", status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        if metrics_token:
            allowed = hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {metrics_token}")
        else:
            allowed = request.client is not None and request.client.host in ("127.0.0.1", "::1", "localhost")
        if not allowed:
            return NOT_FOUND
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def not_found(_: Request, __: Exception) -> Response:
        return NOT_FOUND

    methods = ["GET", "HEAD"]
    app = Starlette(
        routes=[
            Route("/c/{token}/", page, methods=methods),
            Route("/c/{token}/{name}", page, methods=methods),
            Route("/c/{token}", bare_token, methods=methods),
            Route("/healthz", healthz, methods=methods),
            Route("/readyz", readyz, methods=methods),
            Route("/metrics", metrics, methods=methods),
            *(push_routes(push) if push is not None else []),
        ],
        exception_handlers={404: not_found},
    )
    return SecurityHeaders(app)
