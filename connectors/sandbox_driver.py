"""The vendor-neutral handle on a sandbox that the connector contract suite drives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any, Protocol

from starlette.types import ASGIApp

from connectors.sandbox_faults import FaultKit

Clock = Callable[[], datetime]


class SandboxDriver(Protocol):
    """What the contract suite (tests/contract/) needs from each vendor's sandbox.

    Every vendor's ``connectors/<vendor>/sandbox.py`` exposes ``make_driver(clock) -> SandboxDriver``.
    Clients are numbered 0..n-1 in the order of :meth:`selectors`. All times come from ``clock``.
    """

    vendor: str
    app: ASGIApp
    max_page_size: int
    idle_poll_requests: int  # requests an incremental poll with nothing changed costs (1 for most)
    max_lookup_requests: int  # bound on extra (batched lookup) requests a poll may add, any N
    workers: list[str]  # technicians' display names as the vendor holds them
    # The sandbox's fault kit (connectors/sandbox_faults.py), for the whole fault vocabulary and
    # the transport that reaches the sandbox in process; None for a source not read over HTTP.
    faults: FaultKit | None
    auth_renews: bool  # the vendor issues short-lived tokens the connector renews itself (OAuth2)

    def requests(self) -> int:
        """Every request the sandbox has answered, errors included."""

    def account(self, base_url: str) -> dict[str, Any]:
        """The account's syncd.yaml mapping (vendor, base_url, credentials) for this sandbox."""

    def selectors(self) -> list[dict[str, Any]]:
        """One source selector per sandbox client (at least two), as a client file writes it, without ``account``."""

    def add_entry(self, client: int, *, hours: float, notes: str, day: date, start: time | None = None,
                  internal_notes: str | None = None, worker: int = 0) -> str:
        """Log work for client ``client`` by ``workers[worker]``; returns the vendor id as syncd stores it."""

    def edit_entry(self, vendor_id: str, *, hours: float | None = None, client: int | None = None,
                   notes: str | None = None) -> None:
        """Change an entry upstream (bumping its last-updated time); ``client`` moves it."""

    def delete_entry(self, vendor_id: str) -> None:
        """Delete an entry upstream, as a user would."""

    def fail_auth(self, on: bool = True) -> None:
        """While on, the vendor refuses our credentials outright (revoked key, disabled user)."""

    def throttle_next(self, n: int, retry_after: int | None) -> None:
        """The next ``n`` requests get the vendor's rate-limit answer (with the hint, if the vendor sends one)."""

    def fail_next(self, n: int, kind: str) -> None:
        """The next ``n`` time-entry listing requests fail: ``kind`` is "5xx", "malformed" (a body that
        is not JSON) or another of the kit's kinds (sandbox_faults.KINDS)."""

    def answer_empty(self, on: bool = True) -> None:
        """While on, time-entry listings answer an empty result by mistake."""

    def expire_auth(self) -> None:
        """Our credentials expire now, as they do mid-sync: a token the connector renews itself
        (``auth_renews``), or a static key refused until ``fail_auth(False)`` stands for its renewal."""
