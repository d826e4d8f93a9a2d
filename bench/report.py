"""Run every benchmark once and write bench/RESULTS.md (figures from one run, as ratios)."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from syncd.logs import configure_logging

RESULTS = Path(__file__).with_name("RESULTS.md")

# Each benchmark is a module of bench/ with ``section() -> str``: its part of RESULTS.md
# (a "## " heading, what was measured, the figures, and the goal beside them).
BENCHMARKS: tuple[str, ...] = ("quota",)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--only", action="append", choices=BENCHMARKS,
                        help="run just this benchmark (repeatable); RESULTS.md is then left alone")
    args = parser.parse_args(argv)
    configure_logging("json", "warning")
    taken = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sections = [importlib.import_module(f"bench.{name}").section() for name in (args.only or BENCHMARKS)]
    text = f"""# Benchmark results

Taken {taken} on {machine()}, with `bench/run`.
Figures are counts and ratios from this one run; absolute times on shared machines drift.

""" + "\n".join(sections)
    if not args.only:
        RESULTS.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
