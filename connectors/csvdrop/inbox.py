"""The drop folder on disk: which files are ready to read, and moving them to archive/ or rejected/."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ARCHIVE = "archive"
REJECTED = "rejected"
# Names editors, browsers and copy tools give a file while they are still writing it.
_TEMP_PREFIXES = (".", "~$", "~")
_TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")
READABLE_SUFFIXES = (".csv", ".txt", ".tsv")


def is_temp_name(name: str) -> bool:
    """A name that says the file is still being written (or is not meant to be read)."""
    lower = name.lower()
    return lower.startswith(_TEMP_PREFIXES) or lower.endswith(_TEMP_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A file found in the inbox: where, in which client folder (None: the root), and how big."""

    path: Path
    folder: str | None
    size: int
    mtime_ns: int

    @property
    def label(self) -> str:
        """The file as the admin would name it: relative to the inbox."""
        return f"{self.folder}/{self.path.name}" if self.folder else self.path.name


@dataclass(frozen=True, slots=True)
class Scan:
    """Files ready to read (oldest first), and files sitting in a folder no client reads."""

    ready: list[Dropped]
    strays: list[Dropped]
    waiting: int


class Inbox:
    """An account's drop folder: files in the root, or in ``<root>/<client-key>/``.

    A file is read once it has stopped changing: its size and modification time are the
    same as at the previous look, or it has not been touched for ``settle_seconds``. Temp
    names are never read. The previous looks live in this object (the connector's life).
    """

    def __init__(self, root: Path, folders: Iterable[str], *, settle_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.folders = frozenset(folders)
        self.settle_seconds = settle_seconds
        self.clock = clock
        self._looks: dict[Path, tuple[int, int]] = {}

    def scan(self) -> Scan:
        """Look at the inbox once; OSError (missing or unreadable folder) goes to the caller."""
        found: list[Dropped] = []
        strays: list[Dropped] = []
        for entry in os.scandir(self.root):
            if entry.is_file():
                found.extend(self._file(entry, None))
            elif entry.is_dir() and entry.name not in (ARCHIVE, REJECTED) and not is_temp_name(entry.name):
                files = [d for sub in os.scandir(entry.path) if sub.is_file() for d in self._file(sub, entry.name)]
                (found if entry.name in self.folders else strays).extend(files)
        now = self.clock()
        looks = {d.path: (d.size, d.mtime_ns) for d in found + strays}
        settled = [d for d in found + strays
                   if self._looks.get(d.path) == (d.size, d.mtime_ns) or now - d.mtime_ns / 1e9 >= self.settle_seconds]
        self._looks = looks
        stray_paths = {d.path for d in strays}
        ready = sorted((d for d in settled if d.path not in stray_paths), key=lambda d: (d.mtime_ns, d.label))
        return Scan(ready, [d for d in settled if d.path in stray_paths], len(looks) - len(settled))

    @staticmethod
    def _file(entry: os.DirEntry[str], folder: str | None) -> list[Dropped]:
        if is_temp_name(entry.name):
            return []
        stat = entry.stat()
        return [Dropped(Path(entry.path), folder, stat.st_size, stat.st_mtime_ns)]

    def read(self, dropped: Dropped) -> bytes:
        """The file's bytes."""
        return dropped.path.read_bytes()

    def archive(self, dropped: Dropped) -> Path:
        """Move a processed file to ``archive/`` (call only once its entries are committed)."""
        target = _free_name(self._beside(ARCHIVE, dropped))
        os.replace(dropped.path, target)
        self._looks.pop(dropped.path, None)
        return target

    def reject(self, dropped: Dropped, report: str) -> Path:
        """Move a file that cannot be imported to ``rejected/``, with ``<name>.error.txt`` beside it.

        The report is written first: if we stop between the two, the file is still in the
        inbox and is rejected again with a fresh report.
        """
        target = _free_name(self._beside(REJECTED, dropped))
        target.with_name(target.name + ".error.txt").write_text(report, encoding="utf-8")
        os.replace(dropped.path, target)
        self._looks.pop(dropped.path, None)
        return target

    def _beside(self, kind: str, dropped: Dropped) -> Path:
        folder = self.root / kind / dropped.folder if dropped.folder else self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder / dropped.path.name


def _free_name(path: Path) -> Path:
    """``path``, or "name (2).csv", "name (3).csv"… when a file of that name is already there."""
    if not path.exists():
        return path
    n = 2
    while True:
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1
