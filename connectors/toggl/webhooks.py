"""Toggl Track webhooks: the signature check and the event reader (pure; the receiver is syncd/web.py's)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from connectors.base import ClientRoute
from connectors.toggl.normalize import (
    VENDOR,
    Conventions,
    Lookups,
    is_running,
    normalize_api_entry,
    parse_instant,
    route,
    route_order,
)
from syncd.errors import PayloadError
from syncd.models import TimeEntry

# engineering.toggl.com/docs/webhooks_start (Validating received events); toggl/toggl_api_docs webhooks.md.
SIGNATURE_HEADER = "X-Webhook-Signature-256"

EventKind = Literal["ping", "time_entry", "other"]


class UnknownWorkspace(PayloadError):
    """A pushed event for a workspace the account does not read (a misrouted subscription)."""


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event Toggl pushed, read.

    ``entry`` is set for a time entry that was created, updated or deleted (deleted=True)
    and is ready for the store. It is None for a ping (answer ``validation_code`` back),
    for a timer still running (not counted until it stops), for other entities, and for
    an entry on a project the cached names do not hold yet (its client is unknown, so
    only a sync can route it). ``sent_at`` is when Toggl sent this delivery (the signed
    ``timestamp``; ``created_at`` if it is missing), None when neither is readable.
    """

    kind: EventKind
    action: str | None = None
    entity: str | None = None
    event_id: str | None = None
    workspace_id: int | None = None
    validation_code: str | None = None
    entry: TimeEntry | None = None
    running: bool = False
    unknown_project: bool = False
    sent_at: datetime | None = None

    @property
    def wants_sync(self) -> bool:
        """True when the event changes what we hold but carries nothing to apply directly
        (a project renamed, an entry on a project we cannot place yet): sync the account."""
        return self.kind == "other" or self.unknown_project


def signature(secret: str, body: bytes) -> str:
    """The header value Toggl sends: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (X-Webhook-Signature-256) signs ``body`` with ``secret``; constant time."""
    if not secret or not header:
        return False
    scheme, sep, value = header.strip().partition("=")
    if not sep or scheme.strip().lower() != "sha256":
        return False
    expected = signature(secret, body).partition("=")[2]
    try:
        return hmac.compare_digest(expected, value.strip().lower())
    except TypeError:  # non-ASCII in the header: not ours
        return False


def peek_workspace(body: bytes) -> int | None:
    """The workspace an event is for, so a receiver serving several accounts can pick one
    before checking the signature; None for pings and unreadable bodies."""
    try:
        event = json.loads(body)
    except ValueError:
        return None
    metadata = event.get("metadata") if isinstance(event, dict) else None
    return _workspace(metadata, event.get("payload")) if isinstance(metadata, dict) else None


def parse_event(
    body: bytes,
    *,
    account: str,
    routes: Sequence[ClientRoute],
    tz: ZoneInfo,
    workspace_id: int | None = None,
    lookups: Lookups = Lookups(),
    conventions: Conventions = Conventions(),
) -> WebhookEvent:
    """Read one pushed event (after :func:`verify_signature`).

    The envelope is ``{event_id, created_at, creator_id, metadata {action, model,
    workspace_id, event_user_id, …}, payload, subscription_id, timestamp, url_callback}``;
    a ping's payload is the string "ping" and may carry ``validation_code``. The time
    entry payload is an API v9 entry; ``lookups`` supply the project (and its client, for
    routing) and the user's name, which the payload carries only as ids. An event for
    another workspace raises :class:`UnknownWorkspace`; an unreadable one PayloadError.
    """
    try:
        event = json.loads(body)
    except ValueError as err:
        raise PayloadError(f"{VENDOR} webhook: the body is not JSON") from err
    if not isinstance(event, dict):
        raise PayloadError(f"{VENDOR} webhook: the body is not an event object")
    event_id = str(event["event_id"]) if event.get("event_id") is not None else None
    sent_at = _sent_at(event)
    payload = event.get("payload")
    if payload == "ping":
        code = event.get("validation_code")
        return WebhookEvent("ping", event_id=event_id, validation_code=code if isinstance(code, str) else None,
                            sent_at=sent_at)
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        raise PayloadError(f"{VENDOR} webhook event {event_id}: no metadata")
    entity, action = metadata.get("model"), metadata.get("action")
    workspace = _workspace(metadata, payload)
    if workspace_id is not None and workspace != workspace_id:
        raise UnknownWorkspace(
            f"{VENDOR} webhook event {event_id} is for workspace {workspace}, "
            f"but account {account!r} reads workspace {workspace_id}")
    common: dict[str, Any] = {"action": action if isinstance(action, str) else None,
                              "entity": entity if isinstance(entity, str) else None,
                              "event_id": event_id, "workspace_id": workspace, "sent_at": sent_at}
    if entity != "time_entry":
        return WebhookEvent("other", **common)
    if not isinstance(payload, dict) or payload.get("id") is None:
        raise PayloadError(f"{VENDOR} webhook event {event_id}: a time entry event without the entry")
    deleted = action == "deleted"
    if not deleted and is_running(_as_v9(payload)):
        return WebhookEvent("time_entry", running=True, **common)
    project_id = _as_v9(payload).get("project_id")
    if not deleted and isinstance(project_id, int) and project_id not in lookups.projects:
        # Applying it unrouted would take an entry we hold off its client's page until
        # the next poll; a sync reads the new project and routes it right.
        return WebhookEvent("time_entry", unknown_project=True, **common)
    entry = _entry(payload, event, deleted=deleted, account=account, routes=route_order(routes), tz=tz,
                   lookups=lookups, conventions=conventions)
    return WebhookEvent("time_entry", entry=entry, **common)


def _entry(payload: dict[str, Any], event: Mapping[str, Any], *, deleted: bool, account: str,
           routes: Sequence[ClientRoute], tz: ZoneInfo, lookups: Lookups, conventions: Conventions) -> TimeEntry:
    raw = _as_v9(payload)
    if deleted:
        # A deletion applies whatever state the entry was in, even a running timer; the
        # event's own time stands in for fields a deletion payload may leave out.
        for key in ("at", "start"):
            if raw.get(key) is None:
                raw[key] = event.get("created_at")
        duration = raw.get("duration")
        if not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration < 0:
            raw["duration"] = 0
        if raw.get("server_deleted_at") is None:
            raw["server_deleted_at"] = raw.get("at")
    project_id = raw.get("project_id")
    project = lookups.projects.get(project_id) if isinstance(project_id, int) else None
    client_key = route(routes, project_id if isinstance(project_id, int) else None,
                       project.client_id if project else None)
    entry = normalize_api_entry(raw, account=account, client_key=client_key, tz=tz, lookups=lookups,
                                conventions=conventions)
    return entry


def _sent_at(event: Mapping[str, Any]) -> datetime | None:
    # "timestamp: when the event was sent to the subscriber" (Webhooks API, events); it is
    # inside the signed body, so a receiver can refuse an old delivery replayed as is.
    for key in ("timestamp", "created_at"):
        try:
            return parse_instant(event.get(key))
        except (TypeError, ValueError):
            continue
    return None


def _as_v9(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload with API v9's current names where only the legacy ones (pid, uid) are set."""
    raw = dict(payload)
    for new, old in (("project_id", "pid"), ("user_id", "uid"), ("task_id", "tid"), ("workspace_id", "wid")):
        if raw.get(new) is None and raw.get(old) is not None:
            raw[new] = raw[old]
    return raw


def _workspace(metadata: Mapping[str, Any], payload: Any) -> int | None:
    # Real events carry metadata.workspace_id as a string ("7435584") and the payload's as a number.
    for value in (metadata.get("workspace_id"), payload.get("workspace_id") if isinstance(payload, dict) else None):
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
    return None


__all__ = ["SIGNATURE_HEADER", "UnknownWorkspace", "WebhookEvent", "parse_event", "peek_workspace", "signature",
           "verify_signature"]
