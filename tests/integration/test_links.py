"""Rotated and revoked links against a publishing coordinator: an old link never comes back."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from publisher.sinks import DirectorySink
from syncd.links import revoke_link, rotate_link

from .conftest import Rig


def folders(rig: Rig) -> set[str]:
    return {p.name for p in (rig.publish_dir / "c").iterdir()}


class MidWrite(DirectorySink):
    """The publish target, with an operator's command landing just before one client's write."""

    def __init__(self, sink: DirectorySink, before_write: Callable[[], None]) -> None:
        super().__init__(sink.root)
        self.before_write = before_write
        self.fired = False

    def write(self, token: str, files: Mapping[str, bytes]) -> bool:
        if not self.fired:
            self.fired = True
            self.before_write()
        return super().write(token, files)


async def test_a_revoked_client_is_not_published_until_its_link_is_rotated(rig: Rig) -> None:
    await rig.coordinator.sync_all(reconcile=True)
    old = rig.store.token_for("acme-dental", now=rig.clock())
    assert old in folders(rig)
    revoke_link(rig.store, rig.sink, "acme-dental", now=rig.clock())
    rig.clock.advance(minutes=5)
    published = await rig.coordinator.publish_client("acme-dental")
    assert published.token is None and not published.changed
    assert old not in folders(rig) and len(folders(rig)) == len(rig.config.clients) - 1
    new = rotate_link(rig.store, rig.sink, "acme-dental", now=rig.clock())
    assert (await rig.coordinator.publish_client("acme-dental")).token == new
    assert new in folders(rig) and old not in folders(rig)


@pytest.mark.parametrize("command", [revoke_link, rotate_link], ids=["revoke", "rotate"])
async def test_a_link_revoked_while_its_page_is_being_written_is_taken_down_after_the_write(
    rig: Rig, command: Callable[..., object]
) -> None:
    await rig.coordinator.sync_all(reconcile=True)
    old = rig.store.token_for("acme-dental", now=rig.clock())
    # The coordinator has read the live token; the command revokes it and removes its files;
    # then the coordinator's write lands under the old token.
    rig.coordinator.sink = MidWrite(rig.sink, lambda: command(rig.store, rig.sink, "acme-dental", now=rig.clock()))
    rig.clock.advance(minutes=5)
    published = await rig.coordinator.publish_client("acme-dental")
    assert published.token is None
    assert old not in folders(rig)
    live = rig.store.token_for("acme-dental", now=rig.clock())
    assert (live in folders(rig)) is (command is rotate_link)
