"""Rotating and revoking a page link: the store says so first, then the published files follow."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from publisher.sinks import DirectorySink
from syncd.links import revoke_link, rotate_link
from syncd.store import Store

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc)
PAGE = {"index.html": b"<h1>Acme</h1>", "balance.json": b"{}", "log.csv": b"date\r\n"}


def published(root: Path) -> dict[str, set[str]]:
    """Each token folder under the root and the files in it (hidden leftovers included)."""
    return {p.name: {f.name for f in p.iterdir()} for p in (root / "c").iterdir()}


def test_rotating_moves_the_page_to_the_new_token_and_removes_the_old_folder(tmp_path: Path,
                                                                              sqlite_store: Store) -> None:
    sink = DirectorySink(tmp_path)
    old = sqlite_store.token_for("acme", now=NOW)
    sink.write(old, PAGE)
    new = rotate_link(sqlite_store, sink, "acme", now=NOW)
    assert published(tmp_path) == {new: set(PAGE)}
    assert {name: sink.read(new, name) for name in PAGE} == PAGE
    assert sqlite_store.client_for_token(old) is None and sqlite_store.token_for("acme", now=NOW) == new


def test_rotating_a_client_never_published_just_issues_a_token(tmp_path: Path, sqlite_store: Store) -> None:
    sink = DirectorySink(tmp_path)
    token = rotate_link(sqlite_store, sink, "acme", now=NOW)
    assert sqlite_store.client_for_token(token) == "acme"
    assert not (tmp_path / "c").exists()


def test_revoking_removes_every_file_and_leaves_other_clients_alone(tmp_path: Path, sqlite_store: Store) -> None:
    sink = DirectorySink(tmp_path)
    acme, birch = (sqlite_store.token_for(k, now=NOW) for k in ("acme", "birch"))
    sink.write(acme, PAGE)
    sink.write(birch, PAGE)
    assert revoke_link(sqlite_store, sink, "acme", now=NOW) == 1
    assert published(tmp_path) == {birch: set(PAGE)}
    assert sqlite_store.token_for("acme", now=NOW) is None
    assert revoke_link(sqlite_store, sink, "acme", now=NOW) == 0
