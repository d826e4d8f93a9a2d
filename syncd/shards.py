"""Shards: which replica refreshes which clients, held as leases in the shared store."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import structlog

from syncd.store import Store

log = structlog.get_logger("syncd")

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """This replica's home shard: ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Read ``SYNCD_SHARD`` ("0/2", "1/2" …); ValueError saying what is wrong."""
        match = _SHARD.match(text)
        if match is None:
            raise ValueError(f"SYNCD_SHARD must look like i/n (0-based, e.g. 0/2), got {text!r}")
        index, count = int(match[1]), int(match[2])
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"SYNCD_SHARD {text!r}: the index must be 0 to {max(count - 1, 0)} and n at least 1")
        return cls(index, count)


def shard_of(client_key: str, count: int) -> int:
    """The shard a client belongs to: a stable hash of its key (the same on every replica,
    every run and every Python version, unlike ``hash()``)."""
    digest = hashlib.blake2b(f"syncd:client:{client_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ShardKeeper:
    """Holds this replica's shard leases: its home shard, and any shard whose replica
    stopped renewing (its clients would otherwise go stale) until that replica is back.

    A lease lasts ``ttl`` seconds and is renewed every ttl/3, so a dead replica's clients
    are picked up within ``ttl`` plus one renewal.
    """

    def __init__(self, store: Store, shard: Shard, holder: str, *, ttl: float = 30.0,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.shard = shard
        self.holder = holder
        self.ttl = ttl
        self.clock = clock
        self.held: frozenset[int] = frozenset()
        self._expires: datetime | None = None
        self._takeovers: set[asyncio.Task[None]] = set()

    def owns(self, client_key: str) -> bool:
        """Whether this replica refreshes ``client_key`` now."""
        return shard_of(client_key, self.shard.count) in self.held

    async def renew(self) -> frozenset[int]:
        """Renew and take leases; returns the shards gained by this renewal."""
        now = self.clock()
        held = frozenset(await asyncio.to_thread(
            self.store.claim_shards, self.holder, self.shard.index, self.shard.count, now=now, ttl=self.ttl))
        self._expires = now + timedelta(seconds=self.ttl)
        gained, lost = held - self.held, self.held - held
        if gained or lost:
            log.info("shards", holder=self.holder, held=sorted(held), gained=sorted(gained), lost=sorted(lost))
        self.held = held
        return gained

    async def run(self, keys: Callable[[], Iterable[str]],
                  on_gained: Callable[[list[str]], Awaitable[None]]) -> None:
        """Renew every ttl/3 until cancelled; clients of newly gained shards are handed to
        ``on_gained`` at once, so a taken-over page is refreshed now, not at its next tick."""
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                gained = await self.renew()
            except Exception as err:  # noqa: BLE001 - the store may be briefly unreachable; keep trying
                log.warning("shard_renew_failed", error=type(err).__name__)
                if self._expires is not None and self.clock() >= self._expires:
                    self.held = frozenset()  # our leases ran out: others may hold them now
                continue
            taken = [k for k in keys() if shard_of(k, self.shard.count) in gained]
            if taken:
                task = asyncio.create_task(on_gained(taken), name="shard-takeover")
                self._takeovers.add(task)
                task.add_done_callback(self._takeovers.discard)

    async def release(self) -> None:
        """Give every lease up (clean stop), so the others take them at once."""
        await asyncio.to_thread(self.store.release_shards, self.holder, now=self.clock())
        self.held = frozenset()
