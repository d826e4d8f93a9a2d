"""Run a command as a child process and measure it: wall time, CPU time, peak RSS, exit status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# The command runs as the child of this small launcher, not of the caller: a child's peak
# RSS starts from whatever its parent held when it was spawned (Linux counts the parent's
# pages at exec), so measured from a benchmark holding 100 MB, `true` would "use" 100 MB.
_LAUNCHER = """\
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(f"{time.perf_counter() - started} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} "
              f"{os.waitstatus_to_exitcode(status)}")
"""


@dataclass(frozen=True)
class Measured:
    """One finished child process."""

    seconds: float
    cpu_seconds: float  # user + system: less swayed than wall time by other work on the machine
    peak_rss_mb: float
    returncode: int
    stderr: str

    def check(self, what: str) -> Measured:
        """This result, or an error carrying the child's last words when it failed."""
        if self.returncode != 0:
            raise RuntimeError(f"{what} exited {self.returncode}: {self.stderr[-2000:]}")
        return self


def run_measured(argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
                 stdout: int | IO[Any] = subprocess.DEVNULL, timeout: float = 600.0) -> Measured:
    """Run ``argv`` to its end (stopped past ``timeout`` seconds) and measure that process alone."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = Path(tmp) / "figures"
        with open(Path(tmp) / "stderr", "w+b") as err:
            launcher = subprocess.Popen(
                [sys.executable, "-S", "-c", _LAUNCHER, str(figures), *argv],
                env=dict(env) if env is not None else None, cwd=cwd, stdout=stdout, stderr=err,
                stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                launcher.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(launcher.pid, signal.SIGKILL)
                launcher.wait()
                raise TimeoutError(f"{argv[0]} ran past {timeout:.0f} s and was stopped") from None
            err.seek(0)
            text = err.read().decode(errors="replace")
        if launcher.returncode != 0 or not figures.exists():
            raise RuntimeError(f"could not run {argv[0]}: {text[-2000:]}")
        seconds, cpu, rss_kb, code = figures.read_text().split()
    return Measured(float(seconds), float(cpu), int(rss_kb) / 1024, int(code), text)
