"""Push receivers: Toggl webhooks, ConnectWise callbacks and HaloPSA webhooks, checked, then applied or synced."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog

from connectors.toggl.webhooks import SIGNATURE_HEADER, UnknownWorkspace
from syncd import events
from syncd.errors import ConnectorError, PayloadError

if TYPE_CHECKING:
    from syncd.coordinator import Coordinator

log = structlog.get_logger("syncd")

MAX_BODY = 256 * 1024
# How long deliveries are gathered from the first of a burst before its one sync: long
# enough that a burst (Halo batches, a CW bulk edit, Toggl's per-entry events; 100
# callbacks inside a second) lands in one sync, short enough that a pushed change is on its
# page within two seconds (bench/freshness.py measures it).
DEBOUNCE_SECONDS = 1.0
SEEN_EVENTS = 10_000
# A Toggl delivery carries, inside its signed body, when it was sent; one older (or newer)
# than this is a replay of a captured delivery, not Toggl's, and is refused. The same event
# inside the window is caught by its id. Five minutes allows for clock skew and transit.
REPLAY_WINDOW = timedelta(minutes=5)
# ConnectWise callback actions for time entries (djcw views.py; CW "PSA Callbacks").
CW_ACTIONS = frozenset({"added", "updated", "deleted"})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Answer:
    """What a receiver answers: a status and an optional JSON body."""

    status: int
    body: dict[str, Any] | None = None


class Debouncer:
    """Runs ``work(key)`` once per burst of :meth:`trigger` calls for that key.

    The first trigger starts a wait of ``delay`` seconds; triggers during it join it. A
    trigger while the work runs earns exactly one more run afterwards (after its own wait),
    since the running one may already have read past the change that trigger announced.
    """

    def __init__(self, work: Callable[[str], Awaitable[None]], delay: float = DEBOUNCE_SECONDS, *,
                 sleep: Sleep = asyncio.sleep) -> None:
        self._work = work
        self._delay = delay
        self._sleep = sleep
        self._due: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def trigger(self, key: str) -> None:
        """Ask for a run of ``key`` soon; free when one is already due."""
        self._due.add(key)
        task = self._tasks.get(key)
        if task is None or task.done():
            self._tasks[key] = asyncio.create_task(self._loop(key), name=f"push-sync:{key}")

    async def _loop(self, key: str) -> None:
        while key in self._due:
            await self._sleep(self._delay)
            self._due.discard(key)
            try:
                await self._work(key)
            except Exception:  # noqa: BLE001 - a failed run must not stop later ones; polling is the backstop
                log.exception("push_sync_failed", account=key)

    async def drain(self) -> None:
        """Wait until no run is due or running."""
        while pending := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel what is waiting or running (the next poll covers it)."""
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self._due.clear()


class _Seen:
    """A bounded memory of event ids already handled, so a redelivery changes nothing."""

    def __init__(self, size: int = SEEN_EVENTS) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, key: str) -> bool:
        if key in self._ids:
            self._ids.move_to_end(key)
            return False
        self._ids[key] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True


@dataclass
class PushReceiver:
    """Turns authenticated vendor pushes into store changes (Toggl entries) or debounced account syncs.

    ``coordinator`` is a getter: a config reload swaps the coordinator, the receiver stays.
    Nothing here logs a body, a signature or a secret.
    """

    coordinator: Callable[[], Coordinator]
    debounce: float = DEBOUNCE_SECONDS
    sleep: Sleep = asyncio.sleep
    _seen: _Seen = field(default_factory=_Seen)
    _deletions: dict[str, set[str]] = field(default_factory=dict)
    _debouncer: Debouncer = field(init=False)

    def __post_init__(self) -> None:
        self._debouncer = Debouncer(self._sync, self.debounce, sleep=self.sleep)

    async def drain(self) -> None:
        """Wait for every debounced sync that is due (tests; an orderly stop)."""
        await self._debouncer.drain()

    async def aclose(self) -> None:
        """Drop what is still waiting: polling catches it."""
        await self._debouncer.aclose()

    # --- vendors -----------------------------------------------------------------------

    async def toggl(self, account: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """A Toggl webhook: signature over the raw body, then the entry applied or a sync."""
        settings = self._settings(account, "toggl")
        secret = getattr(settings, "webhook_secret", None)
        if settings is None or secret is None:
            return self._refuse("toggl", account, 404, "unknown_account")
        connector = self.coordinator().connector(account)
        if not connector.verify_webhook(body, headers.get(SIGNATURE_HEADER)):  # type: ignore[attr-defined]
            return self._refuse("toggl", account, 401, "bad_signature")
        try:
            event = connector.parse_webhook(body)  # type: ignore[attr-defined]
        except UnknownWorkspace:
            return self._refuse("toggl", account, 422, "unknown_workspace")
        except PayloadError:
            return self._refuse("toggl", account, 400, "malformed")
        if event.sent_at is None:
            return self._refuse("toggl", account, 400, "malformed")
        if abs(self.coordinator().clock() - event.sent_at) > REPLAY_WINDOW:
            return self._refuse("toggl", account, 401, "stale_delivery")
        if event.kind == "ping":
            # Synchronous validation: echo the code (engineering.toggl.com, URL endpoint validation).
            events.push_received("toggl", "ping", account)
            return Answer(200, {"validation_code": event.validation_code} if event.validation_code else {})
        if event.event_id is not None and not self._seen.first_time(f"toggl:{account}:{event.event_id}"):
            # Acknowledged, not refused: this is also how Toggl's own redelivery of an event
            # whose first answer it missed looks, and a 4xx would count against the
            # subscription. Either way nothing is applied and nothing synced.
            events.push_received("toggl", "duplicate", account)
            return Answer(200)
        if event.entry is not None:
            touched = await self.coordinator().apply_pushed(account, [event.entry])
            events.push_received("toggl", "applied", account, clients=len(touched))
        elif event.wants_sync:
            self._debouncer.trigger(account)
            events.push_received("toggl", "sync", account)
        else:
            events.push_received("toggl", "ignored", account)  # a timer still running
        return Answer(200)

    async def connectwise(self, account: str, key: str, body: bytes) -> Answer:
        """A ConnectWise callback: the key in its URL, then a debounced sync (the body is not trusted)."""
        settings = self._settings(account, "connectwise")
        expected = getattr(settings, "callback_key", None)
        if settings is None or expected is None:
            return self._refuse("connectwise", account, 404, "unknown_account")
        if not _same(key, expected.get_secret_value()):
            return self._refuse("connectwise", account, 401, "bad_key")
        callback = _json_object(body)
        if callback is None:
            return self._refuse("connectwise", account, 400, "malformed")
        kind, action, entity_id = (_field(callback, "Type"), _field(callback, "Action"), _field(callback, "ID"))
        if not isinstance(kind, str) or not isinstance(action, str) or not isinstance(entity_id, (int, str)):
            return self._refuse("connectwise", account, 400, "malformed")
        if kind.lower() != "time" or action.lower() not in CW_ACTIONS:
            # Another callback type pointed here: answer 200 so ConnectWise does not keep retrying.
            events.push_received("connectwise", "ignored", account)
            return Answer(200)
        if action.lower() == "deleted":
            self._deletions.setdefault(account, set()).add(str(entity_id))
        self._debouncer.trigger(account)
        events.push_received("connectwise", "sync", account)
        return Answer(200)

    async def halopsa(self, account: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """A HaloPSA webhook: Basic auth or a Bearer token as set on the webhook, then a debounced sync."""
        settings = self._settings(account, "halopsa")
        if settings is None or (settings.webhook_password is None and settings.webhook_token is None):
            return self._refuse("halopsa", account, 404, "unknown_account")
        if not _halo_authorized(settings, headers.get("authorization", "")):
            return self._refuse("halopsa", account, 401, "bad_credentials")
        try:
            json.loads(body)
        except ValueError:
            return self._refuse("halopsa", account, 400, "malformed")
        self._debouncer.trigger(account)
        events.push_received("halopsa", "sync", account)
        return Answer(200)

    # --- helpers -----------------------------------------------------------------------

    def _settings(self, account: str, vendor: str) -> Any:
        settings = self.coordinator().config.accounts.get(account)
        return settings if settings is not None and settings.vendor == vendor else None

    def _refuse(self, vendor: str, account: str, status: int, outcome: str) -> Answer:
        events.push_received(vendor, outcome, account if status != 404 else None)
        return Answer(status)

    async def _sync(self, account: str) -> None:
        """The debounced work: one sync of the account (pushed: not paced, still within the
        hour's ceiling), then the deletions ConnectWise announced, each confirmed upstream."""
        coordinator = self.coordinator()
        if account not in coordinator.config.accounts:
            return  # removed by a reload meanwhile
        await coordinator.sync_account(account, reconcile=False, paced=False)
        claimed = self._deletions.pop(account, set())
        if claimed:
            try:
                await coordinator.confirm_deleted(account, claimed)
            except ConnectorError as err:
                log.warning("push_deletions_unconfirmed", account=account, entries=len(claimed), error_kind=err.kind)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _halo_authorized(settings: Any, header: str) -> bool:
    scheme, _, credential = header.strip().partition(" ")
    if scheme.lower() == "bearer" and settings.webhook_token is not None:
        return _same(credential.strip(), settings.webhook_token.get_secret_value())
    if scheme.lower() == "basic" and settings.webhook_password is not None:
        try:
            user, sep, password = base64.b64decode(credential.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        # Both compared in full either way: no early exit that times which one was wrong.
        return bool(sep) & _same(user, settings.webhook_username) & _same(
            password, settings.webhook_password.get_secret_value())
    return False


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _field(body: Mapping[str, Any], name: str) -> Any:
    """A callback field by name, any case (djcw reads ``ID``, ``Action``, ``Type``)."""
    for key, value in body.items():
        if key.lower() == name.lower():
            return value
    return None


__all__ = ["DEBOUNCE_SECONDS", "MAX_BODY", "Answer", "Debouncer", "PushReceiver"]
