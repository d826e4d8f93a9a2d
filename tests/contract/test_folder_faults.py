"""A drop folder's own faults, against the real coordinator: its inbox gone or unreadable, and a
file taken away between the look and the read.

The HTTP faults of test_faults.py do not apply to a folder, and why:
- 5xx bursts, timeouts, connection resets, 429/402/threshold answers: no request is ever sent.
- malformed JSON, a truncated, repeated or empty page, edits while paging: there are no pages.
  A file is read whole as one page that replaces its period. A file that cannot be parsed is
  rejected whole with a report (tests/unit/connectors/csvdrop), and a file still being written
  is not read until it has stopped changing (the inbox's settle rule, tested there too).
- auth expiry and revocation: a folder has no credentials; an unreadable inbox (below) is the
  nearest thing, and the connector treats it alike (a human must act).
- a skewed vendor clock: a folder has no cursor and no vendor stamps to compare. The file
  server's clock does reach the settle rule through modification times (see the report's risks).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.csvdrop.inbox import Dropped, Inbox
from syncd.errors import AuthError, TransientError

from .conftest import ACCOUNT, Contract
from .scenes import INTERVAL, Scene

pytestmark = pytest.mark.needs("files")


def inbox_of(c: Contract) -> Path:
    return Path(c.config.accounts[ACCOUNT].inbox)  # type: ignore[attr-defined]


def scene_of(c: Contract) -> Scene:
    scene = Scene(c)
    scene.before_reference = c.driver.export  # type: ignore[attr-defined]  # archived files: export again
    return scene


async def test_an_inbox_that_is_gone_keeps_the_last_good_page_goes_stale_and_recovers_once(
        contract: Contract) -> None:
    scene = scene_of(contract)
    await scene.settle()
    inbox = inbox_of(contract)
    away = inbox.with_name(inbox.name + "-unmounted")
    # An unmounted share: nobody can drop files into it while it is gone either.
    await scene.ride_out(lambda: inbox.rename(away), lambda: away.rename(inbox), kind=TransientError.kind,
                         work_while_failing=False)


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch, contract: Contract) -> Iterator[dict[str, Any]]:
    """Counts the inbox's looks; while ``refused`` is set, the OS refuses to list it (as for a
    folder whose permissions changed: chmod cannot refuse root, which CI may run as)."""
    inbox = str(inbox_of(contract))
    state: dict[str, Any] = {"looks": 0, "refused": False}
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path) == inbox:
            state["looks"] += 1
            if state["refused"]:
                raise PermissionError(13, "Permission denied", inbox)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    yield state


async def test_an_unreadable_inbox_is_refused_credentials_stale_at_once_and_recovers_once(
        contract: Contract, looks: dict[str, Any]) -> None:
    scene = scene_of(contract)
    scene.counter = lambda: looks["looks"]
    await scene.settle()
    await scene.ride_out(lambda: looks.update(refused=True), lambda: looks.update(refused=False),
                         kind=AuthError.kind, stale_at_once=True, polls_while_failing=False)


async def test_a_file_taken_away_between_the_look_and_the_read_is_read_once_it_is_back(
        contract: Contract, monkeypatch: pytest.MonkeyPatch) -> None:
    scene = scene_of(contract)
    await scene.settle()
    held: list[tuple[Path, Path]] = []
    real = Inbox.read

    def read(self: Inbox, dropped: Dropped) -> bytes:
        if not held:  # the first read after the look: a sync tool takes the file back meanwhile
            aside = dropped.path.with_name("." + dropped.path.name + ".held")
            dropped.path.rename(aside)
            held.append((aside, dropped.path))
        return real(self, dropped)

    monkeypatch.setattr(Inbox, "read", read)
    with scene.logged():
        scene.work()
        await scene.refresh_at(scene.now + INTERVAL)
        assert scene.failing() is None and held
        page = scene.page()
        assert scene.good is not None and page.same_figures(scene.good) and not page.stale
        for aside, path in held:  # the tool puts it back
            aside.rename(path)
        await scene.refresh_at(scene.now + INTERVAL)
    assert scene.events("source_failed") == []
    unreadable = scene.events("csv_unreadable")
    assert [e["file"] for e in unreadable] == [held[0][1].name], "the vanished file is named once"
    assert all(e["log_level"] == "warning" for e in unreadable)
    await scene.assert_nothing_lost_or_doubled()
