"""Fixtures for the rules tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _cli_leaves_logging_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # CLI commands configure structlog to write to sys.stderr as it is when they run; under
    # CliRunner that is a capture buffer closed afterwards, and every later test that logs
    # would write into it. The commands' logging is not what these tests are about.
    monkeypatch.setattr("syncd.logs.configure_logging", lambda *args, **kwargs: None)
