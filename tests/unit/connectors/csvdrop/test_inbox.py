"""The drop folder: half-written files wait, temp names are never read, moves land beside a report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connectors.csvdrop.inbox import Inbox, is_temp_name

NOW = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def drop(folder: Path, name: str, text: str = "Date,Hours,Description\n", *, age: float = 0.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    os.utime(path, (NOW - age, NOW - age))
    return path


def inbox(root: Path, clock: Clock, folders: tuple[str, ...] = ("acme",)) -> Inbox:
    return Inbox(root, folders, settle_seconds=60, clock=clock)


@pytest.mark.parametrize(("name", "temp"), [
    ("export.csv", False), ("export.csv.tmp", True), ("~$export.csv", True), ("export.csv.part", True),
    (".export.csv", True), ("export.csv.crdownload", True), ("Export 2026-11.CSV", False), ("export.csv~", True),
])
def test_temp_names_are_never_read(name: str, temp: bool) -> None:
    assert is_temp_name(name) is temp


def test_a_file_untouched_for_the_settle_time_is_read_at_the_first_look(tmp_path: Path) -> None:
    clock = Clock()
    drop(tmp_path, "old.csv", age=61)
    assert [d.label for d in inbox(tmp_path, clock).scan().ready] == ["old.csv"]


def test_a_fresh_file_is_read_once_it_is_unchanged_between_two_looks(tmp_path: Path) -> None:
    clock = Clock()
    box = inbox(tmp_path, clock)
    path = drop(tmp_path, "new.csv")
    first = box.scan()
    assert first.ready == [] and first.waiting == 1
    clock.now += 5
    assert [d.path for d in box.scan().ready] == [path]


def test_a_file_still_growing_between_two_looks_is_not_read(tmp_path: Path) -> None:
    clock = Clock()
    box = inbox(tmp_path, clock)
    path = drop(tmp_path, "growing.csv")
    assert box.scan().ready == []
    with path.open("a") as f:
        f.write("2026-11-03,1.5,half a row")
    os.utime(path, (NOW + 5, NOW + 5))
    clock.now += 5
    assert box.scan().ready == []
    clock.now += 5
    assert [d.path for d in box.scan().ready] == [path]


def test_temp_named_files_wait_whatever_their_age(tmp_path: Path) -> None:
    clock = Clock()
    for name in ("a.csv.tmp", "~$a.csv", "a.csv.part", ".a.csv"):
        drop(tmp_path, name, age=3600)
    box = inbox(tmp_path, clock)
    box.scan()
    assert box.scan().ready == []


def test_files_are_read_oldest_first_from_the_root_and_client_folders(tmp_path: Path) -> None:
    clock = Clock()
    drop(tmp_path, "b.csv", age=100)
    drop(tmp_path / "acme", "a.csv", age=200)
    drop(tmp_path / "archive", "done.csv", age=300)
    drop(tmp_path / "rejected", "bad.csv", age=300)
    scan = inbox(tmp_path, clock).scan()
    assert [(d.label, d.folder) for d in scan.ready] == [("acme/a.csv", "acme"), ("b.csv", None)]
    assert scan.strays == []


def test_files_in_a_folder_no_client_reads_are_strays(tmp_path: Path) -> None:
    clock = Clock()
    drop(tmp_path / "acme-dentl", "a.csv", age=100)
    scan = inbox(tmp_path, clock).scan()
    assert scan.ready == [] and [d.label for d in scan.strays] == ["acme-dentl/a.csv"]


def test_archiving_keeps_the_client_folder_and_never_overwrites(tmp_path: Path) -> None:
    clock = Clock()
    box = inbox(tmp_path, clock)
    drop(tmp_path / "archive" / "acme", "a.csv", "older")
    drop(tmp_path / "acme", "a.csv", "newer", age=100)
    [dropped] = box.scan().ready
    target = box.archive(dropped)
    assert target == tmp_path / "archive" / "acme" / "a (2).csv"
    assert target.read_text() == "newer" and (tmp_path / "archive" / "acme" / "a.csv").read_text() == "older"
    assert not dropped.path.exists()


def test_a_rejected_file_lands_beside_its_report(tmp_path: Path) -> None:
    clock = Clock()
    box = inbox(tmp_path, clock)
    drop(tmp_path, "bad.csv", age=100)
    [dropped] = box.scan().ready
    target = box.reject(dropped, "line 3: not a number\n")
    assert target == tmp_path / "rejected" / "bad.csv"
    assert (tmp_path / "rejected" / "bad.csv.error.txt").read_text() == "line 3: not a number\n"
    assert box.scan().ready == []
