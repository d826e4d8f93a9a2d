"""Run every benchmark once and write bench/RESULTS.md (figures from one run, as ratios)."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from syncd.logs import configure_logging

RESULTS = Path(__file__).with_name("RESULTS.md")

# Each benchmark is a module of bench/ with ``section() -> str``: its part of RESULTS.md
# (a "## " heading, what was measured, the figures, and the goal beside them). ``bench/run``
# runs BENCHMARKS; LONG_RUNS are run only when named with --only, and their last section is
# kept in RESULTS.md meanwhile.
BENCHMARKS: tuple[str, ...] = ("quota", "freshness", "republish")
LONG_RUNS: tuple[str, ...] = ()

_SECTION = re.compile(r"<!-- bench:(?P<name>[a-z_]+) -->\n(?P<body>.*?)<!-- /bench:(?P=name) -->\n", re.S)


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


def previous_sections(text: str) -> dict[str, str]:
    """The sections of an earlier RESULTS.md, by benchmark name."""
    return {m["name"]: m["body"] for m in _SECTION.finditer(text)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--only", action="append", choices=BENCHMARKS + LONG_RUNS,
                        help="run just this benchmark (repeatable); the others keep their last figures")
    args = parser.parse_args(argv)
    configure_logging("json", "warning")
    taken = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"_Taken {taken} on {machine()}, with `bench/run{''.join(f' --only {n}' for n in args.only or ())}`._\n\n"
    sections = previous_sections(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in args.only or BENCHMARKS:
        body = importlib.import_module(f"bench.{name}").section()
        sections[name] = stamp + body
        sys.stdout.write(body + "\n")
    parts = [f"<!-- bench:{name} -->\n{sections[name]}<!-- /bench:{name} -->\n"
             for name in BENCHMARKS + LONG_RUNS if name in sections]
    RESULTS.write_text("""# Benchmark results

Each section says when, on what machine and with which command its figures were taken.
Figures are counts and ratios from one run; absolute times on shared machines drift.
`bench/run` reruns every benchmark but the long runs, which `bench/run --only NAME` runs.

""" + "\n".join(parts))


if __name__ == "__main__":
    main()
