"""The fault kit every vendor sandbox shares: status, body and paging faults at its ASGI edge,
timeouts and connection resets at the client's transport, and a vendor clock that can be skewed."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Where = Literal["any", "listing", "next_page"]

# Answered instead of the sandbox's own answer.
ANSWER_KINDS = frozenset({"5xx", "malformed", "throttle", "auth"})
# The sandbox's own answer, damaged on the way out.
DAMAGE_KINDS = frozenset({"truncated", "empty_page", "repeat"})
# Raised at the client's transport after the sandbox answered: the response never arrives.
TRANSPORT_KINDS = frozenset({"timeout", "reset"})
KINDS = ANSWER_KINDS | DAMAGE_KINDS | TRANSPORT_KINDS

_SERVER_ERRORS = (500, 502, 503, 504)
# A body sent as JSON that is not JSON: what a proxy or a half-deployed vendor release sends.
MALFORMED_BODY = b'{"items": [{"id": 1}, {"id": 2},, ]'


@dataclass(frozen=True, slots=True)
class Asked:
    """A request as the kit sees it, whether from the ASGI side or from the transport."""

    method: str
    path: str
    query: Mapping[str, str]
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON, or None when it is not."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


def _never(asked: Asked) -> bool:
    return False


@dataclass(frozen=True)
class Listing:
    """Where a sandbox's time-entry listing lives and how its pages look, declared once per sandbox.

    ``paths`` matches the listing's request paths; ``items`` leads from the JSON body to the
    page's list (empty when the body is the list); ``next_page`` says whether a request asks
    for a page after the first (a cursor, a page number, a keyset), so paging faults can
    strike mid-stream without the kit knowing any vendor's paging.
    """

    paths: re.Pattern[str]
    items: tuple[str, ...] = ()
    next_page: Callable[[Asked], bool] = _never
    needs_body: bool = False  # whether ``next_page`` reads the request body (a POSTed query)

    def lists(self, asked: Asked) -> bool:
        """Whether the request is a time-entry listing."""
        return self.paths.search(asked.path) is not None

    def continues(self, asked: Asked) -> bool:
        """Whether the request asks for a listing page after the first."""
        return self.lists(asked) and self.next_page(asked)

    def emptied(self, body: bytes) -> bytes:
        """The page with its items taken out and every paging signal left as it was."""
        try:
            page = json.loads(body)
        except ValueError:
            return body
        if not self.items:
            return b"[]" if isinstance(page, list) else body
        node = page
        for key in self.items[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict) or not isinstance(node.get(self.items[-1]), list):
            return body
        node[self.items[-1]] = []
        return json.dumps(page).encode()


# A vendor's own answers, built by its sandbox: None where the vendor would not answer so
# (a route that needs no credentials, an endpoint that is never throttled).
Refusal = Callable[[Asked], Response | None]
Throttle = Callable[[Asked, int | None], Response | None]


@dataclass
class _Armed:
    kind: str
    where: Where
    left: int | None  # None: until cleared
    retry_after: int | None = None
    variant: str | None = None


@dataclass
class _Recorded:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


class FaultKit:
    """One sandbox's faults: armed by tests and drivers, applied by :meth:`wrap` and :meth:`transport`.

    Every request the sandbox receives is counted in ``counters["requests"]``, answered or not.
    A fault is armed for a number of requests or until cleared, on every request, on listing
    requests, or on listing pages after the first; the first armed fault that applies to a
    request answers it. ``refuse`` and ``throttles`` build the vendor's own refusal and
    rate-limit answers (``throttles`` names each kind the vendor has: "429", "402", "thread"…);
    ``base_clock`` is ours, which :meth:`clock` skews into the vendor's.
    """

    def __init__(self, *, counters: Counter[str], listing: Listing, refuse: Refusal,
                 throttles: Mapping[str, Throttle], base_clock: Callable[[], datetime]) -> None:
        self.counters = counters
        self.listing = listing
        self.refuse = refuse
        self.throttles = dict(throttles)
        self.base_clock = base_clock
        self.answering_empty = False  # the sandbox's listings answer nothing (read by its handlers)
        self._armed: list[_Armed] = []
        self._next_page_hooks: list[Callable[[], None]] = []
        self._recorded: _Recorded | None = None
        self._skew = timedelta(0)
        self._statuses: Iterator[int] = itertools.cycle(_SERVER_ERRORS)
        self._app: ASGIApp | None = None

    # --- the vendor's clock -----------------------------------------------------------

    def clock(self) -> datetime:
        """The vendor's clock: ours plus whatever skew is injected."""
        return self.base_clock() + self._skew

    def skew(self, delta: timedelta) -> None:
        """Set the vendor's clock ``delta`` ahead of ours (behind when negative)."""
        self._skew = delta

    # --- arming -----------------------------------------------------------------------

    def inject(self, kind: str, *, times: int | None = None, where: Where = "any",
               retry_after: int | None = None, variant: str | None = None) -> None:
        """Arm a fault for the next ``times`` requests it applies to (None: until cleared)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        if kind == "throttle":
            variant = variant or next(iter(self.throttles))
            if variant not in self.throttles:
                raise ValueError(f"this vendor has no {variant!r} throttle (it has {', '.join(self.throttles)})")
        if times is not None and times <= 0:
            return
        self._armed.append(_Armed(kind, where, times, retry_after, variant))

    def clear(self, *kinds: str) -> None:
        """Disarm the faults of ``kinds`` (every fault and page hook when none is named)."""
        self._armed = [a for a in self._armed if kinds and a.kind not in kinds]
        if not kinds:
            self._next_page_hooks.clear()
            self._recorded = None

    def on_next_page(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once, just before the sandbox answers the next listing page after a first one."""
        self._next_page_hooks.append(hook)

    @property
    def throttle_kinds(self) -> tuple[str, ...]:
        """The rate-limit answers this vendor gives."""
        return tuple(self.throttles)

    @property
    def armed(self) -> bool:
        """Whether any fault or page hook is waiting."""
        return bool(self._armed or self._next_page_hooks)

    # --- the driver protocol's vocabulary ---------------------------------------------

    def fail_auth(self, on: bool = True) -> None:
        """While on, requests that need credentials get the vendor's refusal."""
        self.clear("auth")
        if on:
            self.inject("auth")

    def throttle_next(self, n: int, retry_after: int | None = None, variant: str | None = None) -> None:
        """The next ``n`` requests get the vendor's rate-limit answer (with its hint, if given)."""
        self.inject("throttle", times=n, retry_after=retry_after, variant=variant)

    def fail_next(self, n: int, kind: str) -> None:
        """The next ``n`` listing requests fail with ``kind``, replacing listing faults still queued
        (``n`` 0 only clears them)."""
        if kind not in KINDS - {"throttle", "auth"}:
            raise ValueError(f"unknown fault {kind!r}")
        self._armed = [a for a in self._armed if not (a.where == "listing" and a.left is not None)]
        self.inject(kind, times=n, where="listing")

    def answer_empty(self, on: bool = True) -> None:
        """While on, the sandbox's listings answer an empty result, as a vendor does by mistake."""
        self.answering_empty = on

    # --- wiring -----------------------------------------------------------------------

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """The sandbox's app behind the kit (outermost, so it sees and counts every request)."""
        self._app = _FaultMiddleware(app, self)
        return self._app

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport to the wrapped app that also times out and resets on demand."""
        if self._app is None:
            raise RuntimeError("wrap() the sandbox's app first")
        return _FaultTransport(httpx.ASGITransport(app=self._app), self)

    # --- applying ---------------------------------------------------------------------

    def _applies(self, armed: _Armed, asked: Asked) -> bool:
        if armed.where == "listing":
            return self.listing.lists(asked)
        if armed.where == "next_page":
            return self.listing.continues(asked)
        return True

    def _take(self, asked: Asked, kinds: frozenset[str],
              answer: Callable[[_Armed], Any] = lambda armed: armed) -> Any:
        """The first armed fault of ``kinds`` that applies and has an answer; counted down once used."""
        for armed in list(self._armed):
            if armed.kind not in kinds or not self._applies(armed, asked):
                continue
            result = answer(armed)
            if result is None:
                continue
            if armed.left is not None:
                armed.left -= 1
                if armed.left <= 0:
                    self._armed.remove(armed)
            return result
        return None

    def _run_page_hooks(self, asked: Asked) -> None:
        if self._next_page_hooks and self.listing.continues(asked):
            hooks, self._next_page_hooks = self._next_page_hooks, []
            for hook in hooks:
                hook()

    def _answer(self, armed: _Armed, asked: Asked) -> Response | _Armed | None:
        if armed.kind == "5xx":
            return PlainTextResponse("Internal Server Error", status_code=next(self._statuses))
        if armed.kind == "malformed":
            return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
        if armed.kind == "throttle":
            return self.throttles[armed.variant or ""](asked, armed.retry_after)
        if armed.kind == "auth":
            return self.refuse(asked)
        if armed.kind == "repeat" and self._recorded is None:
            return None  # nothing read yet to repeat
        return armed  # damage: applied to the sandbox's own answer


class _FaultMiddleware:
    """Pure ASGI middleware applying a :class:`FaultKit`'s answer and damage faults."""

    def __init__(self, app: ASGIApp, kit: FaultKit) -> None:
        self.app = app
        self.kit = kit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kit = self.kit
        kit.counters["requests"] += 1
        if not kit.armed:
            await self.app(scope, receive, send)
            return
        asked, receive = await self._asked(scope, receive)
        kit._run_page_hooks(asked)
        taken = kit._take(asked, ANSWER_KINDS | DAMAGE_KINDS, lambda armed: kit._answer(armed, asked))
        if isinstance(taken, Response):
            await taken(scope, receive, send)
            return
        if isinstance(taken, _Armed) and taken.kind == "repeat" and kit._recorded is not None:
            recorded = kit._recorded
            await _send(send, recorded.status, recorded.headers, recorded.body)
            return
        recording = any(a.kind == "repeat" for a in kit._armed) and kit.listing.lists(asked)
        if taken is None and not recording:
            await self.app(scope, receive, send)
            return
        status, headers, body = await _capture(self.app, scope, receive)
        if recording:
            kit._recorded = _Recorded(status, headers, body)
        if isinstance(taken, _Armed) and taken.kind == "truncated":
            body = body[:max(1, len(body) // 2)]
        elif isinstance(taken, _Armed) and taken.kind == "empty_page":
            body = kit.listing.emptied(body)
        await _send(send, status, headers, body)

    async def _asked(self, scope: Scope, receive: Receive) -> tuple[Asked, Receive]:
        path: str = scope["path"]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        probe = Asked(scope["method"], path, query)
        if not (self.kit.listing.needs_body and self.kit.listing.lists(probe)):
            return probe, receive
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return Asked(scope["method"], path, query, body), replay


class _FaultTransport(httpx.AsyncBaseTransport):
    """The client's side of the wire: the sandbox answers, then the answer is lost (timeout, reset)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, kit: FaultKit) -> None:
        self.inner = inner
        self.kit = kit

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        armed = None
        if any(a.kind in TRANSPORT_KINDS for a in self.kit._armed):
            body = await request.aread()
            asked = Asked(request.method, request.url.path, dict(request.url.params), body)
            armed = self.kit._take(asked, TRANSPORT_KINDS)
        response = await self.inner.handle_async_request(request)
        if armed is None:
            return response
        # The vendor did the work; its answer never reaches us (a GET is safe to ask again).
        await response.aread()
        await response.aclose()
        if armed.kind == "timeout":
            raise httpx.ReadTimeout("timed out waiting for the vendor's answer", request=request)
        raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return int(start["status"]), list(start.get("headers", [])), b"".join(chunks)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    await send({"type": "http.response.start", "status": status,
                "headers": [*kept, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class InjectsFaults:
    """The fault vocabulary of the contract suite's driver protocol, for a sandbox with a ``faults`` kit."""

    faults: FaultKit

    def fail_auth(self, on: bool = True) -> None:
        """While on, the vendor refuses our credentials outright (revoked key, disabled user)."""
        self.faults.fail_auth(on)

    def throttle_next(self, n: int, retry_after: int | None = None) -> None:
        """The next ``n`` requests get the vendor's rate-limit answer (with the hint, if given)."""
        self.faults.throttle_next(n, retry_after)

    def fail_next(self, n: int, kind: str) -> None:
        """The next ``n`` listing requests fail with ``kind`` (see :data:`KINDS`), replacing queued ones."""
        self.faults.fail_next(n, kind)

    def answer_empty(self, on: bool = True) -> None:
        """While on, time-entry listings answer an empty result, as a vendor does by mistake."""
        self.faults.answer_empty(on)


class DrivesFaults:
    """The same vocabulary for a contract driver, passed to the sandbox it drives."""

    sandbox: InjectsFaults
    auth_renews: bool = False  # the vendor issues tokens the connector renews itself (OAuth2)

    @property
    def faults(self) -> FaultKit:
        """The sandbox's fault kit, for the whole vocabulary (paging, transport, clock)."""
        return self.sandbox.faults

    def fail_auth(self, on: bool = True) -> None:
        self.sandbox.fail_auth(on)

    def throttle_next(self, n: int, retry_after: int | None) -> None:
        self.sandbox.throttle_next(n, retry_after)

    def fail_next(self, n: int, kind: str) -> None:
        self.sandbox.fail_next(n, kind)

    def answer_empty(self, on: bool = True) -> None:
        self.sandbox.answer_empty(on)

    def expire_auth(self) -> None:
        """Our credentials stop working now, as they do when they expire mid-sync. A static key
        (no session to renew) is refused until :meth:`fail_auth` (False) stands for its renewal."""
        self.fail_auth(True)


def paged_by(*names: str) -> Callable[[Asked], bool]:
    """``next_page`` for a listing paged by query parameters: any of ``names`` past its first value."""
    def continues(asked: Asked) -> bool:
        for name in names:
            value = asked.query.get(name)
            if value is None or value == "":
                continue
            if not value.isdigit() or int(value) > (1 if name.lower() == "page" else 0):
                return True
        return False
    return continues

