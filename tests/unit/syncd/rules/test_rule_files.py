"""Rule-file tests: every rule file under config/ passes its own tests; the runner names what broke."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from syncd.cli import app
from syncd.config import RuleSetFile, SampleEntry, load_config, read_yaml
from syncd.rules.engine import RuleContext, apply_rules, compile_rules
from syncd.errors import ConfigError
from syncd.rules.testing import (
    build_entry,
    load_config_tested,
    load_rule_files,
    rule_test_problems,
    run_config_rule_tests,
    run_rule_tests,
)

from ....conftest import EXAMPLE_ENV

ROOT = Path(__file__).resolve().parents[4]
RULE_FILES = sorted((ROOT / "config").glob("*/rules/*.yaml"))
ENV = EXAMPLE_ENV


# --- the shipped rule files ---------------------------------------------------------------------


def test_there_are_rule_files_to_test() -> None:
    assert {p.parent.parent.name for p in RULE_FILES} >= {"example", "demo"}


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(ROOT))) for p in RULE_FILES])
def test_every_rule_file_under_config_passes_its_tests(path: Path) -> None:
    folder = path.parent.parent
    report = run_config_rule_tests(folder, environ=ENV)
    assert report.problems == []
    mine = [f for f in report.failures if Path(f.file) == path]
    assert mine == [], "\n".join(str(f) for f in mine)
    # A rule file without tests is a set of rules nobody has pinned down.
    assert RuleSetFile.model_validate(read_yaml(path, environ=ENV)[0]).tests, f"{path} has no tests"


def test_every_rule_in_the_shipped_files_is_exercised_by_a_test() -> None:
    for path in RULE_FILES:
        rule_set = RuleSetFile.model_validate(read_yaml(path, environ=ENV)[0])
        default_tz = read_yaml(path.parent.parent / "syncd.yaml", environ=ENV)[0]["defaults"]["timezone"]
        fired: set[str] = set()
        compiled = compile_rules(rule_set.rules)
        for i, test in enumerate(rule_set.tests):
            tz = test.timezone or default_tz
            result = apply_rules([build_entry(test.entry, index=i, timezone=tz)], compiled,
                                 RuleContext(tz, "default", frozenset()), trace=True)
            fired |= {f.name for f in result.trace[0].fired}
        assert {r.name for r in rule_set.rules} <= fired, path


def test_the_loaded_demo_and_example_configs_have_no_failing_rule_tests() -> None:
    for folder in ("example", "demo"):
        assert rule_test_problems(load_config(ROOT / "config" / folder, environ=ENV)) == []
        assert load_config_tested(ROOT / "config" / folder, environ=ENV).clients


def test_a_config_whose_rules_fail_their_tests_is_refused_like_an_invalid_one(tmp_path: Path) -> None:
    folder = copy_config(tmp_path)
    rules = folder / "rules" / "standard.yaml"
    rules.write_text(rules.read_text().replace("label: After-hours ×2\n", "label: Evening\n", 1))
    with pytest.raises(ConfigError) as caught:
        load_config_tested(folder, environ=ENV)
    doc = yaml.safe_load(rules.read_text())
    index = next(i for i, t in enumerate(doc["tests"]) if t.get("name") == "an evening call counts double")
    line = rules.read_text().splitlines().index("  - name: an evening call counts double") + 1
    assert str(caught.value.problems[0]).startswith(
        f"{rules}:{line}: tests[{index}]: rule test 'an evening call counts double' fails: labels: expected "
        "['After-hours ×2'], got ['Evening']")


# --- the runner ---------------------------------------------------------------------------------

RULES = """\
holidays: [2026-12-25]
rules:
  - name: no travel
    when: {work_type: Travel}
    drop: travel
  - name: after hours
    when: {outside_hours: "mon-fri 08:00-18:00"}
    multiply: 2
    label: After-hours ×2
  - name: maintenance
    when: {work_type: Maintenance}
    pool: scheduled
    round: {up_to: 15m, minimum: 30m}
"""


def write_rules(tmp_path: Path, tests: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES + "tests:\n" + tests)
    return path


def failures_of(tmp_path: Path, tests: str, timezone: str = "America/Chicago") -> list[str]:
    path = write_rules(tmp_path, tests)
    data, lines = read_yaml(path)
    failures = run_rule_tests(RuleSetFile.model_validate(data), file="rules.yaml", lines=lines, timezone=timezone)
    return [str(f) for f in failures]


PASSING = [
    "  - {entry: {work_type: Travel, duration: 45m}, expect: dropped}\n",
    "  - {entry: {work_type: Travel}, expect: {dropped: no travel}}\n",
    "  - {entry: {work_type: Remote}, expect: kept}\n",
    "  - {entry: {work_type: Remote}, expect: {}}\n",
    "  - {entry: {start: 2026-03-10 19:00}, expect: {multiplier: 2, labels: [After-hours ×2], hours_charged: 2}}\n",
    "  - {entry: {start: 2026-03-10 10:00}, expect: {multiplier: 1, labels: [], pool: default}}\n",
    "  - {entry: {start: 2026-12-25 10:00}, expect: {multiplier: 2}}\n",
    # An explicit offset is honoured: 05:00 at UTC-8 is 08:00 in Chicago (CDT), inside hours.
    "  - {entry: {start: '2026-03-10T05:00:00-08:00'}, expect: {multiplier: 1}}\n",
    "  - {timezone: Asia/Tokyo, entry: {start: 2026-03-10 19:00}, expect: {multiplier: 2, date: 2026-03-10}}\n",
    "  - {entry: {work_type: Maintenance, duration: 10m}, expect: {pool: scheduled, hours_logged: 0.17, "
    "hours_charged: 0.5}}\n",
    "  - {entry: {notes: Rebooted it, ticket_number: '12'}, expect: {description: Rebooted it, ticket_number: null}}\n",
    "  - {entry: {worker_name: Sam Ortiz, notes: Sam rebooted it}, expect: {description: Our technician rebooted it}}\n",
]


@pytest.mark.parametrize("test", [pytest.param(t, id=f"{i:02d}") for i, t in enumerate(PASSING)])
def test_passing_tests(tmp_path: Path, test: str) -> None:
    assert failures_of(tmp_path, test) == []


FAILING = [
    ("  - name: travel\n    entry: {work_type: Travel}\n    expect: {pool: default}\n",
     "rules.yaml:15: tests[0] 'travel': expected a line, but rule 'no travel' dropped it (rules that fired: "
     "'no travel')"),
    ("  - {entry: {work_type: Remote}, expect: dropped}\n",
     "rules.yaml:15: tests[0]: expected a drop, but it was kept as 1.00 h (×1) in pool default: 'Remote' "
     "(rules that fired: none)"),
    ("  - {entry: {work_type: Remote, start: 2026-03-10 19:00}, expect: {dropped: no travel}}\n",
     "rules.yaml:15: tests[0]: expected a drop by 'no travel', but it was kept as 2.00 h (×2) in pool default "
     "[After-hours ×2]: 'Remote' (rules that fired: 'after hours')"),
    ("  - {entry: {start: 2026-03-10 19:00, work_type: Maintenance, duration: 50m},\n"
     "     expect: {multiplier: 1, pool: reactive, labels: [], hours_charged: 1}}\n",
     "rules.yaml:15: tests[0]: pool: expected 'reactive', got 'scheduled'; multiplier: expected 1, got 2; "
     "labels: expected [], got ['After-hours ×2']; hours_charged: expected 1, got 2 "
     "(rules that fired: 'after hours', 'maintenance')"),
]


@pytest.mark.parametrize(("test", "message"), [pytest.param(t, m, id=f"{i:02d}") for i, (t, m) in
                                                enumerate(FAILING)])
def test_failing_tests_name_file_line_index_name_and_difference(tmp_path: Path, test: str, message: str) -> None:
    assert failures_of(tmp_path, "  - {entry: {}, expect: kept}\n" + test) == [message.replace("tests[0]", "tests[1]")
                                                                             .replace(":15:", ":16:")]


def test_a_test_expecting_a_drop_by_a_rule_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, "  - {entry: {}, expect: {dropped: no trvel}}\n")
    rule_files, problems = load_rule_files(_as_config(tmp_path, path))
    assert rule_files == []
    assert [str(p).split("/")[-1] for p in problems] == [
        "rules.yaml:15: tests[0].expect.dropped: no rule in this file is named 'no trvel'"]


def _as_config(tmp_path: Path, path: Path) -> Path:
    folder = tmp_path / "cfg"
    (folder / "rules").mkdir(parents=True)
    shutil.move(str(path), folder / "rules" / path.name)
    return folder


def test_build_entry_defaults() -> None:
    now = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)  # the 9th in Chicago
    plain = build_entry(SampleEntry(), index=3, timezone="America/Chicago", now=now)
    assert (plain.account, plain.vendor_id, plain.work_date, plain.duration_seconds, plain.billable,
            plain.started_at, plain.location, plain.travel) == (
        "test", "test-3", date(2026, 3, 9), 3600, True, None, "unknown", False)
    timed = build_entry(SampleEntry.model_validate({"start": "2026-03-08 01:30", "duration": "45m"}),
                        index=1, timezone="America/Chicago", now=now)
    assert timed.started_at == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert (timed.work_date, timed.duration_seconds) == (date(2026, 3, 8), 2700)
    given = build_entry(SampleEntry.model_validate({"work_date": "2026-01-02", "vendor_id": "77", "tags": "vip"}),
                        index=1, timezone="UTC", now=now)
    assert (given.work_date, given.vendor_id, given.tags) == (date(2026, 1, 2), "77", ("vip",))


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        pytest.param({"duration": "soon"}, "expected an interval", id="bad-duration"),
        pytest.param({"durration": "1h"}, "Extra inputs are not permitted", id="unknown-field"),
        pytest.param({"location": "moon"}, "Input should be 'remote', 'onsite' or 'unknown'", id="bad-location"),
    ],
)
def test_sample_entries_are_checked(entry: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SampleEntry.model_validate(entry)


# --- syncd test-rules -----------------------------------------------------------------------


def copy_config(tmp_path: Path, name: str = "demo") -> Path:
    folder = tmp_path / name
    shutil.copytree(ROOT / "config" / name, folder)
    return folder


def test_cli_passes_on_the_shipped_configs() -> None:
    result = CliRunner().invoke(app, ["test-rules", "--config", str(ROOT / "config" / "example"),
                                      "--config", str(ROOT / "config" / "demo")], env=ENV)
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1].startswith("All ") and "rule tests passed." in result.output


def test_cli_names_the_rule_file_and_test_when_a_rule_breaks_one(tmp_path: Path) -> None:
    folder = copy_config(tmp_path)
    rules = folder / "rules" / "standard.yaml"
    rules.write_text(rules.read_text().replace("multiply: 2", "multiply: 3"))
    result = CliRunner().invoke(app, ["test-rules", "--config", str(folder)], env=ENV)
    assert result.exit_code == 1, result.output
    failing = [line for line in result.output.splitlines() if line.startswith("FAIL ")]
    assert failing, result.output
    doc = yaml.safe_load(rules.read_text())
    index = next(i for i, t in enumerate(doc["tests"]) if t.get("name") == "an evening call counts double")
    wanted = f"FAIL {rules}:"
    line = next(f for f in failing if f"tests[{index}] 'an evening call counts double'" in f)
    assert line.startswith(wanted)
    assert "multiplier: expected 2, got 3" in line
    assert f"{folder}: 2 rule files," in result.output and "rule tests failed." in result.output


def test_cli_reports_a_broken_rule_file_with_file_and_line_and_exits_78(tmp_path: Path) -> None:
    folder = copy_config(tmp_path)
    rules = folder / "rules" / "maintenance-pool.yaml"
    rules.write_text(rules.read_text().replace("minimum: 30m", "minimum: 30 minutes"))
    result = CliRunner().invoke(app, ["test-rules", "--config", str(folder)], env=ENV)
    assert result.exit_code == 78, result.output
    assert f"error: {rules}:8: rules[0].round.minimum: expected an interval" in result.output
