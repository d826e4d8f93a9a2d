"""The error vocabulary shared by connectors, config, coordinator and CLI."""

from __future__ import annotations


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConnectorError(SyncdError):
    """A source could not be read; raised only at the connector's request funnel.

    ``status`` is the vendor's HTTP status when there was an answer (None for network
    failures and unreadable bodies), so callers never parse it out of the message.
    """

    kind = "connector"
    status: int | None = None

    def with_status(self, status: int | None) -> ConnectorError:
        """Attach the HTTP status; returns self for ``raise …with_status(…)``."""
        self.status = status
        return self


class TransientError(ConnectorError):
    """The vendor or the network failed in a way that may pass: retry later."""

    kind = "transient"


class RateLimited(ConnectorError):
    """The vendor asked us to slow down; ``retry_after`` is its hint in seconds, if any."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(ConnectorError):
    """The vendor refused our credentials: a human must act; polling that account stops."""

    kind = "auth"


class PayloadError(ConnectorError):
    """The vendor sent what we cannot parse, or rejected our request: keep the last good data."""

    kind = "payload"


class ConfigError(SyncdError):
    """The admin's configuration is invalid; ``problems`` lists every one found."""

    def __init__(self, problems: list[ConfigProblem] | ConfigProblem | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(file=None, line=None, field=None, message=problems)]
        elif isinstance(problems, ConfigProblem):
            problems = [problems]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigProblem:
    """One configuration mistake, located as precisely as we can: file, line and field."""

    __slots__ = ("file", "line", "field", "message")

    # A message quotes the value it refuses; a value pasted in by mistake can be any length.
    MAX_MESSAGE = 300

    def __init__(self, file: str | None, line: int | None, field: str | None, message: str) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message if len(message) <= self.MAX_MESSAGE else message[: self.MAX_MESSAGE - 1] + "…"

    def __str__(self) -> str:
        where = self.file or "config"
        if self.line is not None:
            where = f"{where}:{self.line}"
        what = f"{self.field}: " if self.field else ""
        return f"{where}: {what}{self.message}"

    def __repr__(self) -> str:
        return f"ConfigProblem({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ConfigProblem) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))
