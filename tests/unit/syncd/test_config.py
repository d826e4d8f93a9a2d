"""Config loading: every mistake reported at once, each with file, line and field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from syncd.config import load_config, read_yaml
from syncd.errors import ConfigError

from ...conftest import EXAMPLE_ENV

ROOT = Path(__file__).resolve().parents[3]
ENV = EXAMPLE_ENV


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def problems(tmp_path: Path, files: dict[str, str]) -> list[str]:
    """Every problem loading GOOD with ``files`` over it, as `file:line: field: message`."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, {**GOOD, **files}), environ={"TOKEN": "x"})
    return [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]


GOOD = {
    "syncd.yaml": (
        "accounts:\n"
        "  h: {vendor: harvest, account_id: 1, token: '${TOKEN}'}\n"
        "defaults: {rules: [standard]}\n"
    ),
    "rules/standard.yaml": "rules:\n  - {name: no travel, when: {work_type: Travel}, drop: true}\n",
    "clients/acme.yaml": (
        "name: Acme\n"
        "sources:\n"
        "  - {account: h, client_id: 5}\n"
        "retainer:\n"
        "  cycle: {monthly: 2026-01-15}\n"
        "  pools: {support: {cap_hours: 20}}\n"
    ),
}


def test_shipped_example_and_demo_configs_validate() -> None:
    for folder in ("example", "demo"):
        config = load_config(ROOT / "config" / folder, environ=ENV)
        assert config.clients, folder
    assert len(load_config(ROOT / "config" / "demo", environ=ENV).clients) >= 3


def test_good_config_resolves_defaults_and_secret_from_env(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"TOKEN": "s3cret"})
    acme = config.clients["acme"]
    assert (acme.refresh, acme.timezone, acme.rule_sets) == (900, "UTC", ("standard",))
    assert config.accounts["h"].token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config.accounts["h"])


def test_three_mistakes_in_three_files_are_all_reported_with_file_and_line(tmp_path: Path) -> None:
    files = dict(GOOD)
    files["syncd.yaml"] = GOOD["syncd.yaml"] + "defaults_typo: 1\n"  # line 4: unknown key
    files["rules/standard.yaml"] = (
        "rules:\n"
        "  - name: bad regex\n"
        "    when: {text: '(unclosed'}\n"  # line 3
        "    drop: true\n"
    )
    files["clients/acme.yaml"] = GOOD["clients/acme.yaml"].replace("cap_hours: 20", "cap_hours: -3")  # line 6
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, files), environ={"TOKEN": "x"})
    found = sorted(str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems)
    assert len(found) == 3, found
    assert found[0].startswith("clients/acme.yaml:6: retainer.pools.support.cap_hours: ")
    assert found[1].startswith("rules/standard.yaml:3: rules[0].when.text: invalid regular expression")
    assert found[2].startswith("syncd.yaml:4: defaults_typo: unknown field")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"].replace("harvest", "harvets")},
                     "syncd.yaml:2: accounts.h.vendor: unknown vendor 'harvets'", id="unknown-vendor"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"].replace("account: h", "account: nope")},
                     "clients/acme.yaml:3: sources[0].account: no account named 'nope'", id="unknown-account"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"].replace(", client_id: 5", "")},
                     "clients/acme.yaml:3: sources[0]: give client_id, project_ids, or both", id="empty-selector"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "timezone: Mars/Olympus\n"},
                     "clients/acme.yaml:7: timezone: unknown timezone 'Mars/Olympus'", id="bad-timezone"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "refresh: soon\n"},
                     "clients/acme.yaml:7: refresh: expected an interval", id="bad-interval"),
        pytest.param({"clients/acme.yaml": GOOD["clients/acme.yaml"] + "rules: [standrd]\n"},
                     "clients/acme.yaml:7: rules[0]: no rule set named 'standrd'", id="unknown-rule-set"),
        pytest.param({"rules/standard.yaml": "rules:\n  - {name: x, pool: elsewhere}\n"},
                     "rules/standard.yaml:2: rules[0].pool: rule 'x' sends work to pool 'elsewhere', which client acme",
                     id="rule-pool-missing"),
        pytest.param({"rules/standard.yaml": "rules:\n  - {name: x, describe: 'by {worker_name}'}\n"},
                     "rules/standard.yaml:2: rules[0].describe: template field {worker_name} is not allowed",
                     id="template-field-not-allowed"),
        pytest.param({"rules/standard.yaml": "rules:\n  - {name: x, when: {outside_hours: 'mon-fry 8:00-18:00'}, multiply: 2}\n"},
                     "rules/standard.yaml:2: rules[0].when.outside_hours: 'fry' is not a weekday", id="bad-hours"),
        pytest.param({"rules/standard.yaml": "rules:\n  - {name: x, when: {billable: false}}\n"},
                     "rules/standard.yaml:2: rules[0]: rule 'x' has no action", id="rule-without-action"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"] + "accounts: {}\n"},
                     "syncd.yaml:4: duplicate key 'accounts' (first on line 1)", id="duplicate-key"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"] + "publish: [oops\n"},
                     "syncd.yaml:5: YAML syntax", id="yaml-syntax"),
        pytest.param({"syncd.yaml": GOOD["syncd.yaml"].replace("${TOKEN}", "${MISSING_TOKEN}")},
                     "syncd.yaml:2: environment variable MISSING_TOKEN is not set", id="missing-env"),
    ],
)
def test_each_mistake_is_named_with_file_line_and_field(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    messages = problems(tmp_path, files)
    assert any(m.startswith(expected) for m in messages), messages


def test_missing_syncd_yaml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="syncd.yaml: not found"):
        load_config(tmp_path)


def test_env_default_syntax_is_used_when_variable_is_unset(tmp_path: Path) -> None:
    path = write(tmp_path, {"a.yaml": "x: ${NOPE:-fallback}\n"}) / "a.yaml"
    data, lines = read_yaml(path, environ={})
    assert data == {"x": "fallback"}
    assert lines.line(("x",)) == 1


def test_later_rule_sets_are_evaluated_first(tmp_path: Path) -> None:
    files = {**GOOD, "rules/over.yaml": "rules:\n  - {name: mine, label: Mine}\n",
             "clients/acme.yaml": GOOD["clients/acme.yaml"] + "rules: [standard, over]\n"}
    config = load_config(write(tmp_path, files), environ={"TOKEN": "x"})
    assert [r.name for r in config.rules_for("acme")] == ["mine", "no travel"]


def test_copy_of_demo_config_with_broken_client_keeps_other_errors_too(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "tests" / "fixtures" / "config", tmp_path / "demo")
    (tmp_path / "demo" / "clients" / "acme-dental.yaml").write_text("name: [unclosed\n")
    (tmp_path / "demo" / "clients" / "cobalt-logistics.yaml").write_text("name: Cobalt\n")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "demo", environ=ENV)
    files = {Path(p.file).name for p in caught.value.problems}
    assert files == {"acme-dental.yaml", "cobalt-logistics.yaml"}


def test_a_broken_account_or_rule_set_is_reported_once_not_again_by_each_reader(tmp_path: Path) -> None:
    files = {**GOOD,
             "syncd.yaml": GOOD["syncd.yaml"].replace("account_id: 1", "account_id: abc"),
             "rules/standard.yaml": "rules:\n  - {name: x, multiply: 0}\n"}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, files), environ={"TOKEN": "x"})
    found = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert len(found) == 2, found
    assert found[0].startswith("syncd.yaml:2: accounts.h.account_id: ")
    assert found[1].startswith("rules/standard.yaml:2: rules[0].multiply: ")


def test_an_unreadable_syncd_yaml_is_reported_without_every_client_missing_its_account(tmp_path: Path) -> None:
    files = {**GOOD, "syncd.yaml": GOOD["syncd.yaml"] + "defaults: {}\n"}  # a duplicate key
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, files), environ={"TOKEN": "x"})
    found = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert found == ["syncd.yaml:4: duplicate key 'defaults' (first on line 3)"]


# --- the rule language (issue 5): every mistake named with file, line and field -------------


def _rules(body: str) -> dict[str, str]:
    return {"rules/standard.yaml": body}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(_rules("rules:\n  - name: x\n    redact: [ip, mac]\n"),
                     "rules/standard.yaml:3: rules[0].redact[1]: unknown built-in redaction 'mac'",
                     id="unknown-redaction"),
        pytest.param(_rules("rules:\n  - name: x\n    redact: [{pattern: '(PO'}]\n"),
                     "rules/standard.yaml:3: rules[0].redact[0].pattern: invalid regular expression",
                     id="bad-custom-redaction"),
        pytest.param(_rules("rules:\n  - name: x\n    translate:\n      'fw|': firewall\n"),
                     "rules/standard.yaml:4: rules[0].translate.fw|: regular expression 'fw|' matches empty text",
                     id="translate-matching-nothing"),
        pytest.param(_rules("rules:\n  - name: x\n    translate: {'(FW': firewall}\n"),
                     "rules/standard.yaml:3: rules[0].translate.(FW: invalid regular expression '(FW'",
                     id="translate-bad-regex"),
        pytest.param(_rules("rules:\n  - name: x\n    round: {up_to: 15 minutes}\n"),
                     "rules/standard.yaml:3: rules[0].round.up_to: expected an interval", id="bad-round"),
        pytest.param(_rules("rules:\n  - name: x\n    round: {}\n"),
                     "rules/standard.yaml:3: rules[0].round: give up_to, minimum, or both", id="empty-round"),
        pytest.param(_rules("rules:\n  - name: x\n    drop: true\n    label: Travel\n"),
                     "rules/standard.yaml:2: rules[0]: rule 'x' drops entries, so label would never apply",
                     id="drop-with-another-action"),
        pytest.param(_rules("rules:\n  - {name: x, label: a}\n  - {name: x, label: b}\n"),
                     "rules/standard.yaml:3: rules[1].name: another rule is already named 'x'", id="duplicate-name"),
        pytest.param(_rules("holidays: [christmas]\nrules:\n  - {name: x, when: {holiday: true}, label: a}\n"),
                     "rules/standard.yaml:1: holidays[0]: ", id="bad-holiday"),
        pytest.param(_rules("rules:\n  - {name: x, when: {weekend: maybe}, label: a}\n"),
                     "rules/standard.yaml:2: rules[0].when.weekend: Input should be a valid boolean", id="bad-weekend"),
        pytest.param(_rules("rules:\n  - {name: x, when: {min_duration: 2h, max_duration: 1h}, label: a}\n"),
                     "rules/standard.yaml:2: rules[0].when: min_duration is longer than max_duration",
                     id="impossible-duration"),
        pytest.param(_rules("rules:\n  - {name: x, when: {internal_notes: '(oops'}, drop: true}\n"),
                     "rules/standard.yaml:2: rules[0].when.internal_notes: invalid regular expression",
                     id="bad-internal-notes-regex"),
        pytest.param(_rules("rules:\n  - {name: x, label: a}\ntests:\n  - {entry: {}, expect: {dropped: y}}\n"),
                     "rules/standard.yaml:4: tests[0].expect.dropped: no rule in this file is named 'y'",
                     id="test-names-missing-rule"),
        pytest.param(_rules("rules:\n  - {name: x, label: a}\ntests:\n  - entry: {work_typ: Travel}\n"
                            "    expect: dropped\n"),
                     "rules/standard.yaml:4: tests[0].entry.work_typ: unknown field", id="test-entry-unknown-field"),
        pytest.param(_rules("rules:\n  - {name: x, label: a}\ntests:\n  - {entry: {duration: 45 mins}, "
                            "expect: dropped}\n"),
                     "rules/standard.yaml:4: tests[0].entry.duration: expected an interval", id="test-bad-duration"),
        pytest.param(_rules("rules:\n  - {name: x, label: a}\ntests:\n  - {entry: {}, expect: drop}\n"),
                     "rules/standard.yaml:4: tests[0].expect: expected `dropped`, `kept` or line fields",
                     id="test-bad-expect"),
        pytest.param(_rules("rules:\n  - {name: x, label: a}\ntests:\n  - {entry: {}, expect: {dropped: true, "
                            "pool: support}}\n"),
                     "rules/standard.yaml:4: tests[0].expect: a dropped entry has no line, so pool cannot be checked",
                     id="test-dropped-with-fields"),
    ],
)
def test_each_rule_language_mistake_is_named_with_file_line_and_field(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    messages = problems(tmp_path, files)
    assert any(m.startswith(expected) for m in messages), messages


def test_the_full_rule_language_loads(tmp_path: Path) -> None:
    from datetime import date

    body = (
        "holidays: [2026-12-25]\n"
        "rules:\n"
        "  - {name: no travel, when: {any: [{travel: true}, {work_type: Travel}]}, drop: travel}\n"
        "  - name: after hours\n"
        "    when: {any: [{outside_hours: 'mon-fri 08:00-18:00'}, {weekend: true}, {holiday: true}]}\n"
        "    multiply: 2\n"
        "    label: After-hours ×2\n"
        "  - {name: minimum, round: {up_to: 15m, minimum: 30m}}\n"
        "  - {name: words, translate: {'(?i)\\bFW\\b': firewall}, redact: [ip, hostname, email, phone, url, "
        "{pattern: 'PO-\\d+'}]}\n"
        "  - {name: tickets, when: {title: '^SR', notes: '.', internal_notes: 'x'}, show_ticket_number: true}\n"
        "tests:\n"
        "  - {name: t, timezone: Europe/London, entry: {start: 2026-12-25 10:00, duration: 45m}, "
        "expect: {multiplier: 2, hours_charged: 1.5}}\n"
    )
    config = load_config(write(tmp_path, {**GOOD, **_rules(body)}), environ={"TOKEN": "x"})
    rules = config.rules_for("acme")
    assert [r.name for r in rules] == ["no travel", "after hours", "minimum", "words", "tickets"]
    assert {r.holidays for r in rules} == {frozenset({date(2026, 12, 25)})}
    assert rules[2].round is not None and (rules[2].round.up_to, rules[2].round.minimum) == (900, 1800)


def test_an_impossible_date_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    files = {**GOOD, "clients/acme.yaml": GOOD["clients/acme.yaml"].replace("2026-01-15", "2026-02-30")}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, files), environ={"TOKEN": "x"})
    found = [str(p).replace(str(tmp_path) + "/", "") for p in caught.value.problems]
    assert found[0].startswith("clients/acme.yaml:5: '2026-02-30' is not a valid value"), found


# --- retainers (issue 6): cycle kinds, pools, overflow, rollover -------------------------------


def _retainer(body: str) -> dict[str, str]:
    head = "name: Acme\nsources:\n  - {account: h, client_id: 5}\nretainer:\n"  # retainer keys from line 5
    return {"clients/acme.yaml": head + body}


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01, block: 2026-01-01}\n  pools: {a: {cap_hours: 1}}\n"),
                     "clients/acme.yaml:5: retainer.cycle: give exactly one of monthly, quarterly, yearly",
                     id="two-cycle-kinds"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {label: A}\n"),
                     "clients/acme.yaml:7: retainer.pools.a: give cap_hours (only a flat-fee pool",
                     id="tracked-pool-without-cap"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1, overflow_to: b}\n"),
                     "clients/acme.yaml:7: retainer.pools.a.overflow_to: pool 'a' overflows to 'b', which is not "
                     "defined (pools: a)", id="overflow-to-unknown-pool"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1, overflow_to: a}\n"),
                     "clients/acme.yaml:7: retainer.pools.a.overflow_to: pool 'a' cannot overflow into itself",
                     id="overflow-to-itself"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1, overflow_to: b}\n"
                               "    b: {cap_hours: 1, overflow_to: c}\n    c: {cap_hours: 1, overflow_to: a}\n"),
                     "clients/acme.yaml:7: retainer.pools.a.overflow_to: overflow_to goes round in a circle: "
                     "a → b → c → a", id="overflow-circle"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1, overflow_to: b}\n"
                               "    b: {tracked: false}\n"),
                     "clients/acme.yaml:7: retainer.pools.a.overflow_to: pool 'a' overflows to 'b', a flat-fee pool",
                     id="overflow-into-flat-fee"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1}\n"
                               "    b: {tracked: false, overflow_to: a}\n"),
                     "clients/acme.yaml:8: retainer.pools.b.overflow_to: pool 'b' is flat-fee (tracked: false)",
                     id="flat-fee-overflowing"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1, resets: monthly}\n"),
                     "clients/acme.yaml:7: retainer.pools.a.resets: Input should be 'cycle' or 'never'",
                     id="bad-resets"),
        pytest.param(_retainer("  cycle: {block: 2026-01-01}\n  pools: {a: {cap_hours: 1}}\n"
                               "  rollover: {max_hours: 5}\n"),
                     "clients/acme.yaml:7: retainer.rollover: a block never resets, so nothing rolls over",
                     id="rollover-in-a-block"),
        pytest.param(_retainer("  cycle: {monthly: 2026-01-01}\n  pools: {a: {cap_hours: 1}}\n"
                               "  rollover: {max_hours: -1}\n"),
                     "clients/acme.yaml:7: retainer.rollover.max_hours: Input should be greater than or equal to 0",
                     id="negative-rollover"),
        pytest.param(_retainer("  cycle: {block: 2026-02-01}\n  pools: {a: {cap_hours: 1}}\n  adjustments:\n"
                               "    - {date: 2026-01-20, hours: 5, note: Early}\n"),
                     "clients/acme.yaml:8: retainer.adjustments[0].date: adjustment on 2026-01-20 is before the "
                     "block starts on 2026-02-01", id="adjustment-before-the-block"),
    ],
)
def test_each_retainer_mistake_is_named_with_file_line_and_field(
    tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    messages = problems(tmp_path, files)
    assert any(m.startswith(expected) for m in messages), messages


def test_every_retainer_mistake_is_listed_at_once(tmp_path: Path) -> None:
    files = _retainer("  cycle: {block: 2026-02-01}\n  pools:\n    a: {cap_hours: 1, overflow_to: z}\n"
                      "    b: {cap_hours: 1, overflow_to: b}\n  rollover: {max_hours: 5}\n")
    found = sorted(m.split(": ")[1] for m in problems(tmp_path, files))
    assert found == ["retainer.pools.a.overflow_to", "retainer.pools.b.overflow_to", "retainer.rollover"]


def test_a_circle_of_overflows_is_one_error_not_one_per_pool(tmp_path: Path) -> None:
    files = _retainer("  cycle: {monthly: 2026-01-01}\n  pools:\n    a: {cap_hours: 1, overflow_to: b}\n"
                      "    b: {cap_hours: 1, overflow_to: a}\n")
    assert len(problems(tmp_path, files)) == 1


def test_the_retainer_keys_load(tmp_path: Path) -> None:
    files = _retainer(
        "  cycle: {monthly: 2026-01-15}\n"
        "  pools:\n"
        "    reactive: {label: Reactive support, cap_hours: 20, overflow_to: prepaid}\n"
        "    prepaid: {label: Prepaid block, cap_hours: 40, resets: never}\n"
        "    backups: {label: Backup monitoring, tracked: false}\n"
        "  rollover: {max_hours: 5}\n"
        "  overage_policy: Billed at the standard rate.\n"
    )
    retainer = load_config(write(tmp_path, {**GOOD, **files}), environ={"TOKEN": "x"}).clients["acme"].retainer
    assert retainer.rollover is not None and str(retainer.rollover.max_hours) == "5"
    assert [(n, p.overflow_to, p.tracked, retainer.resets(n), str(p.cap)) for n, p in retainer.pools.items()] == [
        ("reactive", "prepaid", True, True, "20"), ("prepaid", None, True, False, "40"),
        ("backups", None, False, True, "0")]
    assert (retainer.cycle.kind, retainer.cycle.resets) == ("monthly", True)


def test_a_block_loads_and_never_resets(tmp_path: Path) -> None:
    files = _retainer("  cycle: {block: 2026-02-01}\n  pools: {hours: {cap_hours: 40}}\n")
    retainer = load_config(write(tmp_path, {**GOOD, **files}), environ={"TOKEN": "x"}).clients["acme"].retainer
    assert (retainer.cycle.kind, retainer.cycle.resets, retainer.resets("hours")) == ("block", False, False)
