"""Where rendered pages go: the Sink protocol and the local-folder sink."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

ALLOWED_NAMES = frozenset({"index.html", "balance.json", "log.csv"})
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,128}")
_TEMP = re.compile(r"\.(?:index\.html|balance\.json|log\.csv)\.[0-9a-f]{16}\.tmp")
# A temp file younger than this may belong to a write in flight (another thread or replica),
# so only older ones count as crash leftovers.
TEMP_GRACE_SECONDS = 60.0


class Sink(Protocol):
    """A place pages are published to, addressed by link token and file name."""

    def write(self, token: str, files: Mapping[str, bytes]) -> bool:
        """Publish ``files`` for ``token``; True when any file's bytes changed."""
        ...

    def read(self, token: str, name: str) -> bytes | None:
        """The published bytes of one file, or None when it does not exist."""
        ...

    def remove(self, token: str) -> None:
        """Delete everything published under ``token`` (a revoked or rotated link)."""
        ...


def is_token(value: object) -> bool:
    """Whether ``value`` has the form of a link token (says nothing of whether it is live)."""
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def check_token(token: str) -> str:
    """Return ``token`` if it is a well-formed link token, else raise ValueError."""
    if not is_token(token):
        # The value stays out of the message: tokens are secrets and messages reach logs.
        raise ValueError("invalid link token")
    return token


def check_name(name: str) -> str:
    """Return ``name`` if it is one of the published file names, else raise ValueError."""
    if name not in ALLOWED_NAMES:
        raise ValueError(f"not a publishable file name: {name!r}")
    return name


class DirectorySink(Sink):
    """Pages as files under ``root/c/<token>/``, each replaced atomically and durably."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def folder(self, token: str) -> Path:
        """The folder holding ``token``'s files (validated, so always inside the root)."""
        return self.root / "c" / check_token(token)

    def write(self, token: str, files: Mapping[str, bytes]) -> bool:
        """Write changed files atomically (temp, fsync, replace, fsync dir); skip unchanged ones."""
        folder = self.folder(token)
        for name in files:
            check_name(name)
        self._make_dirs(folder)
        _clean_temp_files(folder)
        changed = False
        # index.html last, so a first publish never links to downloads that are not there yet.
        for name in sorted(files, key=lambda n: n == "index.html"):
            changed |= _replace_if_changed(folder, name, files[name])
        if changed:
            _fsync_dir(folder)
        return changed

    def read(self, token: str, name: str) -> bytes | None:
        """The bytes of one published file, or None."""
        path = self.folder(token) / check_name(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, token: str) -> None:
        """Delete ``token``'s folder; a no-op when nothing was published under it."""
        folder = self.folder(token)
        # Rename first so the link stops answering at once even if the delete is interrupted;
        # the hidden name can never match a token, so nothing serves what is left.
        doomed = folder.with_name(f".{folder.name}.{secrets.token_hex(8)}.removed")
        try:
            folder.rename(doomed)
        except FileNotFoundError:
            return
        _fsync_dir(folder.parent)
        shutil.rmtree(doomed)

    def _make_dirs(self, folder: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for path in (folder.parent, folder):
            try:
                path.mkdir(mode=0o755)
            except FileExistsError:
                continue
            _ensure_owner_bits(path, 0o700)
            _fsync_dir(path.parent)


def _replace_if_changed(folder: Path, name: str, data: bytes) -> bool:
    target = folder / name
    try:
        if target.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    temp = folder / f".{name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never follow or reuse something already at the temp path.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            _ensure_owner_bits(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return True


def _clean_temp_files(folder: Path) -> None:
    cutoff = time.time() - TEMP_GRACE_SECONDS
    with os.scandir(folder) as entries:
        for entry in entries:
            if not _TEMP.fullmatch(entry.name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)


def _ensure_owner_bits(target: Path | int, bits: int) -> None:
    # The umask decides group/other access; the owner must still be able to read and write.
    mode = os.stat(target).st_mode & 0o7777
    if mode & bits != bits:
        os.chmod(target, mode | bits)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
