"""The request funnel: the one place a connector's HTTP requests go through.

It owns the client (timeouts, connection pool), the account's request budget and
concurrency cap, bounded retries with jitter that honour Retry-After, and the mapping of
every failure onto syncd's error vocabulary. Nothing above it sees an httpx exception.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from syncd.errors import AuthError, PayloadError, RateLimited, TransientError

Sleep = Callable[[float], Awaitable[None]]

RATE_LIMIT_STATUSES: frozenset[int] = frozenset({429})
RETRY_AFTER_HEADERS: tuple[str, ...] = ("Retry-After",)


@dataclass(frozen=True, slots=True)
class VendorQuota:
    """What the vendor said of its own allowance on its last answer (e.g. X-Toggl-Quota-Remaining)."""

    remaining: int | None = None
    resets_in: float | None = None
    read_at: float | None = None  # the funnel's monotonic clock when it was read


class RequestBudget:
    """A sliding-window allowance: :meth:`acquire` waits until one more request fits."""

    def __init__(
        self,
        requests: int,
        per_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if requests < 1 or per_seconds <= 0:
            raise ValueError("a budget needs at least one request per positive period")
        self.requests = requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may be sent, then count it."""
        async with self._lock:
            while True:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.per_seconds:
                    self._sent.popleft()
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) < self.requests:
                    self._sent.append(now)
                    return
                if wait <= 0:
                    wait = self._sent[0] + self.per_seconds - now
                await self._sleep(max(wait, 0.001))

    def pause(self, seconds: float) -> None:
        """Hold every further request back for ``seconds`` (the vendor asked us to)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _count(value: str | None) -> int | None:
    try:
        return max(0, int(value.strip())) if value is not None else None
    except ValueError:
        return None


def _snippet(response: httpx.Response) -> str:
    """A short, single-line excerpt of an error body for messages (never a header)."""
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    text = " ".join(text.split())
    return f": {text[:200]}" if text else ""


def retry_after_of(response: httpx.Response, headers: Sequence[str] = RETRY_AFTER_HEADERS) -> float | None:
    """The wait a response asks for: the first of ``headers`` that holds a readable value."""
    for name in headers:
        seconds = parse_retry_after(response.headers.get(name))
        if seconds is not None and math.isfinite(seconds):
            return seconds
    return None


def raise_for_status(
    response: httpx.Response,
    vendor: str,
    *,
    rate_limit_statuses: Collection[int] = RATE_LIMIT_STATUSES,
    retry_after_headers: Sequence[str] = RETRY_AFTER_HEADERS,
) -> None:
    """Map an HTTP status onto the error vocabulary; 2xx passes through.

    ``rate_limit_statuses`` are the answers that mean "slow down" for this vendor (Toggl's
    spent quota is a 402), and ``retry_after_headers`` where it says for how long.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    where = f"{vendor} {response.request.method} {response.request.url.path}"
    if status in rate_limit_statuses:
        retry_after = retry_after_of(response, retry_after_headers)
        raise RateLimited(f"{where}: rate limited (HTTP {status})", retry_after=retry_after).with_status(status)
    if status in (401, 403):
        raise AuthError(f"{where}: credentials refused (HTTP {status}){_snippet(response)}").with_status(status)
    if status in (408, 425) or status >= 500:
        raise TransientError(f"{where}: vendor error (HTTP {status})").with_status(status)
    # Any other 4xx or an unexpected redirect means the request itself is wrong (a bad
    # account id, base_url or filter): retrying cannot help, so keep the last good data.
    raise PayloadError(f"{where}: request rejected (HTTP {status}){_snippet(response)}").with_status(status)


class Funnel:
    """An account's HTTP client with its budget, concurrency cap, retries and error mapping."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
        budget: RequestBudget | None = None,
        max_concurrency: int = 4,
        timeout: float = 30.0,
        attempts: int = 4,
        max_retry_wait: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rate_limit_statuses: Collection[int] = RATE_LIMIT_STATUSES,
        retry_after_headers: Sequence[str] = RETRY_AFTER_HEADERS,
        quota_remaining_header: str | None = None,
        quota_resets_header: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vendor = vendor
        self.budget = budget
        self.requests = 0
        self.throttles = 0
        self.quota = VendorQuota()
        self._rate_limit_statuses = frozenset(rate_limit_statuses)
        self._retry_after_headers = tuple(retry_after_headers)
        self._quota_headers = (quota_remaining_header, quota_resets_header)
        self.monotonic = monotonic
        self._attempts = attempts
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._backoff = wait_exponential_jitter(initial=1, max=30, jitter=1)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            follow_redirects=False,
        )
        self._origin = self.client.base_url.copy_with(path="/", query=None, fragment=None)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """Send one request, retrying transient failures and short rate limits a few times."""
        self._check_origin(url)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(self._retryable),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, url, params=params, json=json)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Response]:
        """GET ``url`` and parse its JSON body; a body that is not JSON is a PayloadError."""
        response = await self.request("GET", url, params=params)
        try:
            return response.json(), response
        except ValueError as err:
            raise PayloadError(
                f"{self.vendor} GET {response.request.url.path}: response is not JSON"
            ) from err

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if self.budget is not None:
            await self.budget.acquire()
        async with self._semaphore:
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.TimeoutException as err:
                raise TransientError(f"{self.vendor} {method}: timed out") from err
            except httpx.TransportError as err:
                raise TransientError(f"{self.vendor} {method}: {type(err).__name__}") from err
            finally:
                self.requests += 1
        self._read_quota(response)
        try:
            raise_for_status(response, self.vendor, rate_limit_statuses=self._rate_limit_statuses,
                             retry_after_headers=self._retry_after_headers)
        except RateLimited as err:
            self.throttles += 1
            # A short hint is waited out here, so hold back every other request of the
            # account meanwhile; a long one is the coordinator's to defer, not the budget's.
            if self.budget is not None and err.retry_after and err.retry_after <= self._max_retry_wait:
                self.budget.pause(err.retry_after)
            raise
        return response

    def _read_quota(self, response: httpx.Response) -> None:
        remaining_header, resets_header = self._quota_headers
        remaining = _count(response.headers.get(remaining_header)) if remaining_header else None
        resets = retry_after_of(response, (resets_header,)) if resets_header else None
        if remaining is not None or resets is not None:
            self.quota = VendorQuota(remaining, resets, self.monotonic())

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            # A long hint is not waited out inside one request: the coordinator pushes the
            # account's next sync back instead, so no task sits on a slot for minutes.
            return exc.retry_after is None or exc.retry_after <= self._max_retry_wait
        return isinstance(exc, TransientError)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    def _check_origin(self, url: str) -> None:
        # A next-page link that points elsewhere must not receive our credentials.
        target = httpx.URL(url)
        if target.is_absolute_url and target.copy_with(path="/", query=None, fragment=None) != self._origin:
            raise PayloadError(f"{self.vendor}: refusing to follow a link to another host ({target.host})")
