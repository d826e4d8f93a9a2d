"""Rotating and revoking a client's page link: the store first, then the publish target."""

from __future__ import annotations

from datetime import datetime

from publisher.render import FILE_NAMES
from publisher.sinks import Sink
from syncd.store import Store


def rotate_link(store: Store, sink: Sink, client_key: str, *, now: datetime) -> str:
    """Give the client a new token, move its published page there, and take the old link down.

    The old token is revoked in the store before any file moves: a daemon publishing under
    it meanwhile finds it revoked after its write and removes that write itself, so the old
    link cannot come back. Returns the new token.
    """
    token, old = store.rotate_token(client_key, now=now)
    for previous in old:
        files = {name: data for name in FILE_NAMES if (data := sink.read(previous, name)) is not None}
        if files:
            sink.write(token, files)
        sink.remove(previous)
    return token


def revoke_link(store: Store, sink: Sink, client_key: str, *, now: datetime) -> int:
    """Revoke the client's link and take its page down; returns how many tokens were revoked.

    Nothing is published for the client again until :func:`rotate_link` gives it a new link.
    """
    old = store.revoke_tokens(client_key, now=now)
    for previous in old:
        sink.remove(previous)
    return len(old)
