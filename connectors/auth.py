"""httpx.Auth classes shared by connectors: OAuth2 client credentials with a cached, refreshed token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
from pydantic import SecretStr

from connectors.http import raise_for_status
from syncd.errors import AuthError, PayloadError

# RFC 6749 §5.2 error codes that mean "these credentials will not work until a human acts".
_REFUSALS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope"})


class OAuth2ClientCredentials(httpx.Auth):
    """Bearer tokens from an OAuth2 token endpoint (``grant_type=client_credentials``).

    The token is cached until ``refresh_margin`` seconds before ``expires_in`` runs out, then
    fetched again; a 401 from the API refreshes it once and retries the request once (a second
    401 goes back to the caller, which the funnel maps to AuthError). Only one token request
    runs at a time: concurrent requests wait for it under a lock. The token request is yielded
    from the auth flow, so it goes through the client's own transport (tests and sandboxes
    see it). A refused token request (400/401 ``invalid_client`` and friends) is AuthError.
    The secret and the tokens never appear in reprs, logs or error messages.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        scope: str | None = "all",
        params: dict[str, str] | None = None,
        vendor: str = "OAuth2",
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        self.scope = scope
        self.params = dict(params or {})
        self.vendor = vendor
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.token_requests = 0
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuth2ClientCredentials works with httpx.AsyncClient only")
        yield request  # pragma: no cover  (makes this a generator, as httpx expects)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self._valid_token()
        if token is None:
            async with self._lock:
                # Another request may have refreshed while this one waited for the lock.
                token = self._valid_token()
                if token is None:
                    token = await self._accept((yield self.token_request()))
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        async with self._lock:
            if self._token == token:  # nobody refreshed it since this request was sent
                self.invalidate()
                token = await self._accept((yield self.token_request()))
            else:
                token = self._token or token
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def invalidate(self) -> None:
        """Forget the cached token (the next request fetches a new one)."""
        self._token = None
        self._expires_at = 0.0

    def token_request(self) -> httpx.Request:
        """The form-encoded client-credentials request to the token endpoint."""
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._secret.get_secret_value()}
        if self.scope:
            form["scope"] = self.scope
        return httpx.Request("POST", self.token_url, params=self.params or None, data=form,
                             headers={"Accept": "application/json"})

    def _valid_token(self) -> str | None:
        if self._token is not None and self.clock() < self._expires_at:
            return self._token
        return None

    async def _accept(self, response: httpx.Response) -> str:
        """Cache the token a token response carries; a refusal is AuthError."""
        self.token_requests += 1
        await response.aread()  # an overridden auth flow reads bodies itself
        where = f"{self.vendor} token request"
        if response.status_code in (400, 401):
            error = _error_code(response)
            if response.status_code == 401 or error in _REFUSALS:
                self.invalidate()
                raise AuthError(f"{where}: client credentials refused (HTTP {response.status_code}"
                                f"{', ' + error if error else ''})")
        raise_for_status(response, where)
        try:
            body = response.json()
        except ValueError as err:
            raise PayloadError(f"{where}: response is not JSON") from err
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PayloadError(f"{where}: no access_token in the response")
        if str(body.get("token_type", "Bearer")).lower() != "bearer":
            raise PayloadError(f"{where}: unsupported token_type {body.get('token_type')!r}")
        lifetime = _seconds(body.get("expires_in"))
        # Refresh a little early so a token never expires in flight; a very short-lived token
        # is refreshed at half its life instead of never being cached at all.
        margin = min(self.refresh_margin, lifetime / 2)
        self._token = token
        self._expires_at = self.clock() + lifetime - margin
        return token


def _error_code(response: httpx.Response) -> str | None:
    """The OAuth2 ``error`` code of a token error response, if it has one."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _seconds(value: Any) -> float:
    """``expires_in`` as seconds; absent or unreadable means one hour (RFC 6749 leaves it optional)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 3600.0
    return seconds if seconds > 0 else 3600.0
