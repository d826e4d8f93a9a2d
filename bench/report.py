"""Run every benchmark once and write bench/RESULTS.md (figures from one run, as ratios)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from bench import quota
from syncd.logs import configure_logging

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """Where the figures were taken: CPU count, memory, Python, and the commit."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, commit {commit}")


def main() -> None:
    configure_logging("json", "warning")
    taken = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    quota_table = quota.table(quota.run())
    text = f"""# Benchmark results

Taken {taken} on {machine()}, with `bench/run`.
Figures are counts and ratios from this one run; absolute times on shared machines drift.

## Quota cost (Harvest sandbox, one account, 5-minute freshness, one simulated hour)

Each client logs about one entry an hour. "Ours" is the daemon's refresh job driving the
real coordinator; polls are the incremental reads, the reconcile is the hourly re-list of
the open cycles that catches deletions. The lower bound is max(1, ceil(changed / 2000)) per
refresh. The naive poller asks Harvest for each client separately at every refresh.

{quota_table}

Goal: polls within 1.05× of the lower bound and flat in the number of clients.
"""
    RESULTS.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
