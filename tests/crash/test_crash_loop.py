"""The crash loop's short version: the real daemon SIGKILLed inside its passes on five fixed
seeds, restarted, and compared with a run that was never killed (bench/crashloop.py runs 50+)."""

from __future__ import annotations

from bench.crashloop import SHORT, run_loop

SEEDS = (101, 202, 303, 404, 505)


async def test_five_runs_killed_during_sync_and_publish_end_with_the_ledger_and_pages_of_a_run_never_killed() -> None:
    printed: list[str] = []
    results = await run_loop(SEEDS, SHORT, echo=printed.append, parallel=2)
    assert [r.seed for r in results] == list(SEEDS)
    failed = [r for r in results if not r.ok]
    assert not failed, "\n".join(
        [*printed, *(f"replay: python -m bench.crashloop --short --seed {r.seed}" for r in failed)])
    kills = [k for r in results for k in r.kills]
    assert len(kills) == len(SEEDS) * SHORT.steps * SHORT.kills_per_step[0]
    assert all(k.phase for k in kills)
