"""Tests for publisher.sinks.DirectorySink: atomic, idempotent, confined writes."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from publisher.sinks import TEMP_GRACE_SECONDS, DirectorySink

TOKEN = "Abc123_-xyzXYZ7890abcdef"
OTHER = "zzzzzzzzzzzzzzzzzzzzzzzz"
FILES = {"index.html": b"<!DOCTYPE html>page", "balance.json": b"{}\n", "log.csv": b"\xef\xbb\xbfdate\r\n"}
LONG_AGO_NS = 1_000_000_000 * 1_600_000_000


@pytest.fixture
def sink(tmp_path: Path) -> DirectorySink:
    return DirectorySink(tmp_path / "public")


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def folder_of(sink: DirectorySink, token: str = TOKEN) -> Path:
    return sink.root / "c" / token


def test_write_creates_each_file_under_c_token_with_exact_bytes(sink: DirectorySink) -> None:
    assert sink.write(TOKEN, FILES) is True
    for name, data in FILES.items():
        assert (folder_of(sink) / name).read_bytes() == data
        assert sink.read(TOKEN, name) == data


def test_write_leaves_no_temp_files_behind(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    sink.write(TOKEN, {**FILES, "index.html": b"changed"})
    assert sorted(os.listdir(folder_of(sink))) == sorted(FILES)
    assert os.listdir(sink.root / "c") == [TOKEN]


def test_unchanged_files_are_not_rewritten_and_write_reports_no_change(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    for name in FILES:
        os.utime(folder_of(sink) / name, ns=(LONG_AGO_NS, LONG_AGO_NS))
    inodes = {name: (folder_of(sink) / name).stat().st_ino for name in FILES}

    assert sink.write(TOKEN, FILES) is False

    for name in FILES:
        info = (folder_of(sink) / name).stat()
        assert (info.st_mtime_ns, info.st_ino) == (LONG_AGO_NS, inodes[name])


def test_only_the_changed_file_is_replaced(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    for name in FILES:
        os.utime(folder_of(sink) / name, ns=(LONG_AGO_NS, LONG_AGO_NS))

    assert sink.write(TOKEN, {**FILES, "balance.json": b'{"v": 2}\n'}) is True

    mtimes = {name: (folder_of(sink) / name).stat().st_mtime_ns for name in FILES}
    assert mtimes["balance.json"] != LONG_AGO_NS
    assert mtimes["index.html"] == mtimes["log.csv"] == LONG_AGO_NS
    assert sink.read(TOKEN, "balance.json") == b'{"v": 2}\n'


@pytest.mark.parametrize("token", [
    "",
    "short",
    "a" * 15,
    "a" * 129,
    "../../../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "abcdefghijklmnop/q",
    "abcdefghijklmnop\n",
    "abcdefgh ijklmnop",
    "abcdefghijklmnop.",
    "ábcdefghijklmnop",
])
def test_malformed_tokens_are_rejected_by_every_operation(sink: DirectorySink, token: str) -> None:
    with pytest.raises(ValueError, match="invalid link token"):
        sink.write(token, FILES)
    with pytest.raises(ValueError):
        sink.read(token, "index.html")
    with pytest.raises(ValueError):
        sink.remove(token)
    assert not sink.root.exists()


@pytest.mark.parametrize("token", ["a" * 16, "a" * 128, "A-_09" * 4])
def test_tokens_of_allowed_characters_and_length_are_accepted(sink: DirectorySink, token: str) -> None:
    assert sink.write(token, {"index.html": b"x"}) is True


@pytest.mark.parametrize("name", [
    "../index.html", "sub/index.html", "index.htm", "evil.html", ".index.html.0123456789abcdef.tmp",
    "", "/etc/passwd", "INDEX.HTML",
])
def test_file_names_outside_the_allowed_set_are_rejected_and_nothing_is_written(
    sink: DirectorySink, name: str
) -> None:
    with pytest.raises(ValueError):
        sink.write(TOKEN, {"index.html": b"ok", name: b"bad"})
    with pytest.raises(ValueError):
        sink.read(TOKEN, name)
    assert not folder_of(sink).exists()


def test_read_of_a_file_never_written_is_none(sink: DirectorySink) -> None:
    assert sink.read(TOKEN, "index.html") is None
    sink.write(TOKEN, {"index.html": b"x"})
    assert sink.read(TOKEN, "log.csv") is None


def test_leftover_temp_files_are_ignored_by_readers_and_cleaned_on_next_write(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    leftover = folder_of(sink) / ".index.html.0123456789abcdef.tmp"
    leftover.write_bytes(b"half a page")
    os.utime(leftover, ns=(LONG_AGO_NS, LONG_AGO_NS))

    assert sink.read(TOKEN, "index.html") == FILES["index.html"]
    assert sink.write(TOKEN, FILES) is False
    assert not leftover.exists()


def test_recent_temp_files_are_spared_as_they_may_be_a_write_in_flight(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    in_flight = folder_of(sink) / ".log.csv.fedcba9876543210.tmp"
    in_flight.write_bytes(b"partial")
    old = folder_of(sink) / ".log.csv.0000000000000000.tmp"
    old.write_bytes(b"partial")
    past = time.time() - TEMP_GRACE_SECONDS - 5
    os.utime(old, (past, past))

    sink.write(TOKEN, FILES)

    assert in_flight.exists()
    assert not old.exists()


def test_files_that_are_not_ours_are_left_alone(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    other = folder_of(sink) / "notes.tmp"
    other.write_bytes(b"")
    os.utime(other, ns=(LONG_AGO_NS, LONG_AGO_NS))
    sink.write(TOKEN, {"index.html": b"new"})
    assert other.exists()


def test_remove_deletes_the_clients_folder_only(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    sink.write(OTHER, FILES)

    sink.remove(TOKEN)

    assert os.listdir(sink.root / "c") == [OTHER]
    assert sink.read(TOKEN, "index.html") is None
    assert sink.read(OTHER, "index.html") == FILES["index.html"]


def test_remove_of_an_unknown_token_is_a_no_op(sink: DirectorySink) -> None:
    sink.remove(TOKEN)
    assert not folder_of(sink).exists()


def test_write_after_remove_publishes_afresh(sink: DirectorySink) -> None:
    sink.write(TOKEN, FILES)
    sink.remove(TOKEN)
    assert sink.write(TOKEN, FILES) is True
    assert sink.read(TOKEN, "log.csv") == FILES["log.csv"]


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [
    (0o022, 0o644, 0o755),
    (0o077, 0o600, 0o700),
    (0o277, 0o600, 0o700),  # owner bits restored even when the umask strips them
    (0o000, 0o644, 0o755),  # never wider than asked for
])
def test_modes_follow_the_umask_but_the_owner_can_always_read_and_write(
    sink: DirectorySink, umask: None, mask: int, file_mode: int, dir_mode: int
) -> None:
    os.umask(mask)
    sink.write(TOKEN, FILES)
    assert stat.S_IMODE((folder_of(sink) / "index.html").stat().st_mode) == file_mode
    assert stat.S_IMODE(folder_of(sink).stat().st_mode) == dir_mode
    assert stat.S_IMODE((sink.root / "c").stat().st_mode) == dir_mode
