"""Run a command as a child process and measure it: wall time, peak RSS, exit status."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


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
    """Run ``argv`` to its end (killed past ``timeout`` seconds). Its peak RSS comes from
    wait4 on that one child, so the caller's own memory never counts."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd, stdout=stdout,
                                stderr=err, stdin=subprocess.DEVNULL)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        err.seek(0)
        text = err.read().decode(errors="replace")
    if seconds >= timeout:
        raise TimeoutError(f"{argv[0]} ran past {timeout:.0f} s and was stopped")
    return Measured(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, text)
