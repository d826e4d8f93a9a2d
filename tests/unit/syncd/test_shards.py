"""Shards: a stable split of clients, and leases that hand a dead replica's shard to the others."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from syncd.shards import Shard, ShardKeeper, shard_of
from syncd.store import Store

T0 = datetime(2026, 11, 18, 15, tzinfo=timezone.utc)
TTL = 30.0


@pytest.mark.parametrize(("text", "shard"), [("0/2", Shard(0, 2)), (" 1 / 3 ", Shard(1, 3)), ("0/1", Shard(0, 1))])
def test_shard_settings_are_read_as_index_of_count(text: str, shard: Shard) -> None:
    assert Shard.parse(text) == shard


@pytest.mark.parametrize(("text", "message"), [("2/2", "the index must be 0 to 1"), ("1", "must look like i/n"),
                                               ("0/0", "n at least 1"), ("a/b", "must look like i/n")])
def test_bad_shard_settings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Shard.parse(text)


def test_the_split_is_stable_and_spreads_clients() -> None:
    keys = [f"client-{i}" for i in range(400)]
    first = [shard_of(k, 4) for k in keys]
    assert first == [shard_of(k, 4) for k in keys]
    assert shard_of("acme-dental", 2) == 1 and shard_of("birchwood-legal", 2) == 0  # pinned: never changes
    assert all(70 < first.count(i) < 130 for i in range(4))


def test_a_replica_holds_its_home_shard_and_covers_one_nobody_holds(any_store: Store) -> None:
    assert any_store.claim_shards("a", 0, 2, now=T0, ttl=TTL) == {0, 1}
    # b starts: its home shard comes back to it; a keeps only its own.
    assert any_store.claim_shards("b", 1, 2, now=T0 + timedelta(seconds=5), ttl=TTL) == {1}
    assert any_store.claim_shards("a", 0, 2, now=T0 + timedelta(seconds=10), ttl=TTL) == {0}


def test_a_dead_replicas_shard_is_taken_once_its_lease_runs_out(any_store: Store) -> None:
    any_store.claim_shards("a", 0, 2, now=T0, ttl=TTL)
    any_store.claim_shards("b", 1, 2, now=T0, ttl=TTL)
    later = T0 + timedelta(seconds=TTL / 3)
    assert any_store.claim_shards("a", 0, 2, now=later, ttl=TTL) == {0}  # b's lease still runs
    # b stops renewing (killed); once its lease is over, a covers for it.
    after = T0 + timedelta(seconds=TTL + 1)
    assert any_store.claim_shards("a", 0, 2, now=after, ttl=TTL) == {0, 1}
    assert any_store.claim_shards("a", 0, 2, now=after + timedelta(seconds=10), ttl=TTL) == {0, 1}  # renewed
    # b restarts and wins its shard back.
    assert any_store.claim_shards("b", 1, 2, now=after + timedelta(seconds=20), ttl=TTL) == {1}
    assert any_store.claim_shards("a", 0, 2, now=after + timedelta(seconds=25), ttl=TTL) == {0}


def test_two_survivors_never_both_take_an_orphaned_shard(any_store: Store) -> None:
    for holder, home in (("a", 0), ("b", 1), ("c", 2)):
        any_store.claim_shards(holder, home, 3, now=T0, ttl=TTL)
    after = T0 + timedelta(seconds=TTL + 1)  # c died
    got_a = any_store.claim_shards("a", 0, 3, now=after, ttl=TTL)
    got_b = any_store.claim_shards("b", 1, 3, now=after, ttl=TTL)
    assert (2 in got_a) != (2 in got_b)


def test_a_released_shard_is_taken_at_once(any_store: Store) -> None:
    any_store.claim_shards("a", 0, 2, now=T0, ttl=TTL)
    any_store.claim_shards("b", 1, 2, now=T0, ttl=TTL)
    any_store.release_shards("b", now=T0 + timedelta(seconds=1))
    assert any_store.claim_shards("a", 0, 2, now=T0 + timedelta(seconds=2), ttl=TTL) == {0, 1}


async def test_the_keeper_owns_the_clients_of_the_shards_it_holds(any_store: Store) -> None:
    now = [T0]
    a = ShardKeeper(any_store, Shard(0, 2), "a", ttl=TTL, clock=lambda: now[0])
    b = ShardKeeper(any_store, Shard(1, 2), "b", ttl=TTL, clock=lambda: now[0])
    assert await a.renew() == {0, 1}
    assert await b.renew() == {1}
    await a.renew()
    assert (a.owns("birchwood-legal"), a.owns("acme-dental")) == (True, False)
    assert (b.owns("birchwood-legal"), b.owns("acme-dental")) == (False, True)
    now[0] += timedelta(seconds=TTL + 1)  # b is gone
    assert await a.renew() == {1} and a.owns("acme-dental")
