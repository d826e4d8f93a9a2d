"""Measuring a child process: its own peak memory and CPU, its exit status and last words."""

from __future__ import annotations

import sys

from bench.measure import run_measured

MB = 1024 * 1024


def test_a_childs_peak_rss_is_its_own_not_what_its_parent_held() -> None:
    held = bytearray(160 * MB)
    held[:: 4096] = b"\1" * len(held[:: 4096])  # touched, so resident
    idle = run_measured([sys.executable, "-c", "pass"])
    busy = run_measured([sys.executable, "-c", f"b = bytearray({96 * MB}); b[::4096] = b'\\1' * len(b[::4096])"])
    assert idle.peak_rss_mb < 60 <= len(held) / MB
    assert busy.peak_rss_mb >= 96
    assert busy.cpu_seconds > 0 and busy.seconds > 0


def test_a_failing_child_reports_its_exit_status_and_stderr() -> None:
    failed = run_measured([sys.executable, "-c", "import sys; print('disk full', file=sys.stderr); sys.exit(3)"])
    assert (failed.returncode, failed.stderr) == (3, "disk full\n")
    assert run_measured(["/nonexistent/program"]).returncode == 127
