"""Config reload: on SIGHUP or a changed file, load anew; a bad config is rejected, the old one runs on."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

from syncd import events
from syncd.config import Config
from syncd.errors import ConfigError

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(folder: Path) -> Fingerprint:
    """Every YAML file under ``folder`` with its modification time and size.

    Polling this is deliberate: inotify misses changes on the bind mounts and Kubernetes
    ConfigMaps that config directories usually are (they swap a symlink), a stat per file
    every few seconds does not.
    """
    found = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".yaml", ".yml") and path.is_file():
            stat = path.stat()
            found.append((str(path.relative_to(folder)), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


class Reloader:
    """Watches a config directory and hands each new, valid config to ``apply``.

    ``load`` must raise ConfigError for a config that must not run (validation errors,
    failing rule tests); the problems are logged with file and line, counted, and the
    running config stays in place.
    """

    def __init__(
        self,
        folder: Path,
        load: Callable[[Path], Config],
        apply: Callable[[Config], Awaitable[None]],
        *,
        interval: float = 2.0,
    ) -> None:
        self.folder = folder
        self.load = load
        self.apply = apply
        self.interval = interval
        self.rejected: list[str] = []  # the problems of the last rejected reload, until one succeeds
        self._requested = asyncio.Event()
        self._seen = fingerprint(folder)

    def request(self) -> None:
        """Reload at once (SIGHUP)."""
        self._requested.set()

    async def run(self) -> None:
        """Poll for changes until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._requested.wait(), timeout=self.interval)
            forced = self._requested.is_set()
            self._requested.clear()
            current = fingerprint(self.folder)
            if forced or current != self._seen:
                self._seen = current
                await self.reload()

    async def reload(self) -> bool:
        """Load the config directory now; apply it if it is valid. True when applied."""
        try:
            config = await asyncio.to_thread(self.load, self.folder)
        except ConfigError as err:
            self.rejected = [str(p) for p in err.problems]
            events.reload_rejected(self.rejected)
            return False
        await self.apply(config)
        self.rejected = []
        events.reload_applied(len(config.clients), len(config.accounts))
        return True
