"""Rule-file tests: each `tests:` entry of a rule file run through that file's rules, failures located."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter, ValidationError

from syncd.config import (
    Config,
    ExpectedLine,
    LineMap,
    RuleSetFile,
    RuleTest,
    SampleEntry,
    Timezone,
    load_config,
    problems_from,
    read_yaml,
)
from syncd.errors import ConfigError, ConfigProblem
from syncd.models import Line, TimeEntry
from syncd.rules.engine import RuleContext, RuleResult, apply_rules, compile_rules

__all__ = [
    "DEFAULT_POOL",
    "RuleFile",
    "RuleTestFailure",
    "RuleTestReport",
    "build_entry",
    "load_config_tested",
    "load_rule_files",
    "rule_test_problems",
    "run_config_rule_tests",
    "run_rule_tests",
]

# The pool a test line lands in when no rule chose one; `pool: default` in a test checks it.
DEFAULT_POOL = "default"


@dataclass(frozen=True)
class RuleTestFailure:
    """One failed rule test, located: file, the test's line, its index and name."""

    file: str
    line: int | None
    index: int
    name: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        named = f" {self.name!r}" if self.name else ""
        return f"{where}: tests[{self.index}]{named}: {self.message}"

    def as_problem(self) -> ConfigProblem:
        """The failure in the config error vocabulary (for a reload that must reject it)."""
        named = f" {self.name!r}" if self.name else ""
        return ConfigProblem(self.file, self.line, f"tests[{self.index}]", f"rule test{named} fails: {self.message}")


@dataclass(frozen=True)
class RuleFile:
    """A parsed rule file with the line numbers of its keys."""

    name: str
    path: Path
    rule_set: RuleSetFile
    lines: LineMap


@dataclass
class RuleTestReport:
    """What running the rule tests of one config directory found."""

    folder: Path
    files: int = 0
    tests: int = 0
    failures: list[RuleTestFailure] = field(default_factory=list)
    problems: list[ConfigProblem] = field(default_factory=list)


def build_entry(sample: SampleEntry, *, index: int, timezone: str, today: date | None = None,
                now: datetime | None = None) -> TimeEntry:
    """The TimeEntry a test's ``entry:`` stands for, defaults filled in.

    ``start`` without an offset is a local time in ``timezone``. The work date is the
    start's local date, else ``work_date``, else ``today`` (in ``timezone``).
    """
    tz = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    started_at = None
    if sample.start is not None:
        local = sample.start if sample.start.tzinfo is not None else sample.start.replace(tzinfo=tz)
        started_at = local.astimezone(UTC)
    work_date = sample.work_date
    if work_date is None:
        work_date = started_at.astimezone(tz).date() if started_at else (today or now.astimezone(tz).date())
    return TimeEntry(
        account=sample.account,
        vendor_id=sample.vendor_id or f"test-{index}",
        client_key="test",
        work_date=work_date,
        duration_seconds=sample.duration,
        updated_at=now,
        started_at=started_at,
        billable=sample.billable,
        worker_id=sample.worker_id,
        worker_name=sample.worker_name,
        work_type=sample.work_type,
        role=sample.role,
        ticket_id=sample.ticket_id,
        ticket_number=sample.ticket_number,
        ticket_title=sample.ticket_title,
        ticket_type=sample.ticket_type,
        project=sample.project,
        task=sample.task,
        notes=sample.notes,
        internal_notes=sample.internal_notes,
        location=sample.location,
        travel=sample.travel,
        tags=tuple(sample.tags),
        approval=sample.approval,
    )


def run_rule_tests(
    rule_set: RuleSetFile,
    *,
    file: str = "<rules>",
    lines: LineMap | None = None,
    timezone: str = "UTC",
    technicians: Iterable[str] = (),
    today: date | None = None,
) -> list[RuleTestFailure]:
    """Run every test of ``rule_set`` against its own rules; return the failures (empty: all pass).

    Each test runs alone, in the test's ``timezone`` or else ``timezone``, with the rule
    file's holidays. ``lines`` (from :func:`syncd.config.read_yaml`) locates failures.
    """
    compiled = compile_rules(rule_set.rules)
    names = frozenset(technicians)
    failures = []
    for i, test in enumerate(rule_set.tests):
        tz = test.timezone or timezone
        entry = build_entry(test.entry, index=i + 1, timezone=tz, today=today)
        vendors = {entry.account: test.entry.vendor} if test.entry.vendor else {}
        ctx = RuleContext(tz, DEFAULT_POOL, names, account_vendors=vendors)
        message = _compare(test, apply_rules([entry], compiled, ctx, trace=True))
        if message is not None:
            line = lines.line(("tests", i)) if lines is not None else None
            failures.append(RuleTestFailure(file, line, i, test.name, message))
    return failures


def _compare(test: RuleTest, result: RuleResult) -> str | None:
    expect = test.expect
    trace = result.trace[0]
    fired = ", ".join(repr(f.name) for f in trace.fired) or "none"
    if trace.dropped is not None:
        drop = trace.dropped
        if expect.dropped is True or expect.dropped == drop.rule:
            return None
        if expect.dropped:
            return f"expected a drop by {expect.dropped!r}, but {drop.rule!r} dropped it"
        return f"expected a line, but rule {drop.rule!r} dropped it (rules that fired: {fired})"
    assert trace.line is not None
    if expect.dropped:
        by = f" by {expect.dropped!r}" if isinstance(expect.dropped, str) else ""
        return f"expected a drop{by}, but it was kept as {_show(trace.line)} (rules that fired: {fired})"
    differences = [d for d in _differences(expect, trace.line) if d]
    if not differences:
        return None
    return "; ".join(differences) + f" (rules that fired: {fired})"


def _differences(expect: ExpectedLine, line: Line) -> Iterable[str | None]:
    def differ(name: str, wanted: Any, got: Any) -> str | None:
        if wanted is None or wanted == got:
            return None
        return f"{name}: expected {_value(wanted)}, got {_value(got)}"

    yield differ("description", expect.description, line.description)
    yield differ("pool", expect.pool, line.pool)
    yield differ("multiplier", expect.multiplier, line.multiplier)
    yield differ("labels", expect.labels, list(line.labels))
    yield differ("hours_logged", expect.hours_logged, line.hours_logged)
    yield differ("hours_charged", expect.hours_charged, line.hours_charged)
    yield differ("ticket_number", expect.ticket_number, line.ticket_number)
    yield differ("date", expect.date, line.date)


def _value(value: Any) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def _show(line: Line) -> str:
    labels = f" [{', '.join(line.labels)}]" if line.labels else ""
    return (f"{line.hours_charged} h (×{_value(line.multiplier)}) in pool {line.pool}{labels}: "
            f"{line.description!r}")


# --- a whole config directory --------------------------------------------------------------


def _rule_paths(folder: Path) -> list[Path]:
    rules = folder / "rules"
    if not rules.is_dir():
        return []
    return sorted(p for p in rules.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_rule_files(folder: Path, *, environ: Mapping[str, str] | None = None
                    ) -> tuple[list[RuleFile], list[ConfigProblem]]:
    """Every rule file under ``folder``/rules, parsed and validated; problems for the broken ones."""
    found, problems = [], []
    for path in _rule_paths(folder):
        try:
            data, lines = read_yaml(path, environ=environ)
        except ConfigError as err:
            problems.extend(err.problems)
            continue
        if not isinstance(data, dict):
            problems.append(ConfigProblem(str(path), 1, None, "expected a mapping at the top of the file"))
            continue
        try:
            found.append(RuleFile(path.stem, path, RuleSetFile.model_validate(data), lines))
        except ValidationError as err:
            problems.extend(problems_from(err, str(path), lines))
    return found, problems


def _defaults(folder: Path, environ: Mapping[str, str] | None) -> tuple[str, tuple[str, ...]]:
    """The default timezone and technician names of a config dir, read leniently from syncd.yaml.

    Rule tests need no secrets: an unset variable reads as blank rather than failing.
    """
    timezone, technicians = "UTC", ()
    main = folder / "syncd.yaml"
    try:
        data, _ = read_yaml(main, environ=_Lenient(os.environ if environ is None else environ))
    except ConfigError:
        return timezone, technicians  # a broken or missing syncd.yaml is `syncd validate`'s to report
    if isinstance(data, dict):
        defaults = data.get("defaults")
        if isinstance(defaults, dict) and isinstance(defaults.get("timezone"), str):
            try:
                timezone = TypeAdapter(Timezone).validate_python(defaults["timezone"])
            except ValidationError:
                pass
        names = data.get("technicians")
        if isinstance(names, list):
            technicians = tuple(str(n) for n in names if n)
    return timezone, technicians


class _Lenient(dict[str, str]):
    """An environment in which every variable is set: unset ones read as blank."""

    def __init__(self, real: Mapping[str, str] | None = None) -> None:
        super().__init__(real or {})

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return ""


def run_config_rule_tests(folder: Path | str, *, environ: Mapping[str, str] | None = None,
                    today: date | None = None) -> RuleTestReport:
    """Run the tests of every rule file in a config directory (only rules/ and syncd.yaml are read)."""
    folder = Path(folder)
    report = RuleTestReport(folder)
    rule_files, report.problems = load_rule_files(folder, environ=environ)
    timezone, technicians = _defaults(folder, environ)
    for rule_file in rule_files:
        report.files += 1
        report.tests += len(rule_file.rule_set.tests)
        report.failures += run_rule_tests(rule_file.rule_set, file=str(rule_file.path), lines=rule_file.lines,
                                          timezone=timezone, technicians=technicians, today=today)
    return report


def rule_test_problems(config: Config) -> list[ConfigProblem]:
    """The rule tests of a loaded config, as problems (empty when all pass).

    For the daemon's reload: ``load_config`` then this; a non-empty answer rejects the
    new config with the same file:line messages as ``syncd validate``.
    """
    problems: list[ConfigProblem] = []
    paths = {Path(f).stem: Path(f) for f in config.files if Path(f).parent.name == "rules"}
    for name, rule_set in config.rule_sets.items():
        if not rule_set.tests:
            continue
        path = paths.get(name, config.root / "rules" / f"{name}.yaml")
        try:
            _, lines = read_yaml(path, environ=_Lenient())
        except ConfigError:
            lines = None  # the file changed under us; the failures still name it
        failures = run_rule_tests(rule_set, file=str(path), lines=lines, timezone=config.defaults.timezone,
                                  technicians=config.technicians)
        problems.extend(f.as_problem() for f in failures)
    return problems


def load_config_tested(root: Path | str, *, environ: Mapping[str, str] | None = None) -> Config:
    """``load_config``, then every rule file's tests: a config whose rules fail their own
    tests is refused with the same ConfigError a validation mistake gets (for reloads)."""
    config = load_config(root, environ=environ)
    problems = rule_test_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def with_rule_tests(load: Callable[[Path], Config]) -> Callable[[Path], Config]:
    """``load``, then every rule file's own tests: a config whose tests fail is rejected."""

    def load_and_test(folder: Path) -> Config:
        config = load(folder)
        problems = rule_test_problems(config)
        if problems:
            raise ConfigError(problems)
        return config

    return load_and_test
