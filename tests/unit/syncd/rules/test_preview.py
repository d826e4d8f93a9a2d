"""`syncd preview` and `syncd explain` from a store built by hand: exact, deterministic output."""

from __future__ import annotations

import dataclasses

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from syncd.cli import app
from syncd.config import Config, load_config
from syncd.models import TimeEntry
from syncd.rules.preview import explain_lines, preview_lines, run_client, select_cycle
from syncd.store import Store

NOW = datetime(2026, 3, 20, 17, 0, tzinfo=UTC)  # Friday 20 March, 12:00 in New York (EDT)

FILES = {
    "syncd.yaml": "accounts:\n  hv: {vendor: harvest, account_id: 1, token: t}\n"
                  "defaults: {timezone: America/New_York, rules: [standard]}\n",
    "rules/standard.yaml": (
        "holidays: [2026-03-17]\n"
        "rules:\n"
        "  - {name: no travel, when: {work_type: Travel}, drop: travel is not billed}\n"
        "  - {name: after hours, when: {outside_hours: 'mon-fri 08:00-18:00'}, multiply: 2, label: After-hours ×2}\n"
        "  - {name: tidy, redact: [ip]}\n"
    ),
    "rules/maintenance.yaml": (
        "rules:\n"
        "  - {name: maintenance, when: {work_type: Maintenance}, pool: scheduled, round: {up_to: 15m, minimum: 30m}}\n"
    ),
    "clients/acme.yaml": (
        "name: Acme Dental\n"
        "sources: [{account: hv, client_id: 5}]\n"
        "retainer:\n"
        "  cycle: {monthly: 2026-01-15}\n"
        "  pools: {reactive: {label: Reactive support, cap_hours: 10}, scheduled: {cap_hours: 2}}\n"
        "  adjustments: [{date: 2026-03-16, hours: 1, note: Top-up}]\n"
        "rules: [standard, maintenance]\n"
    ),
}


def entry(vendor_id: str, start: datetime | None, seconds: int, **fields: Any) -> TimeEntry:
    return TimeEntry(account="hv", vendor_id=vendor_id, client_key="acme",
                     work_date=fields.pop("work_date", start.date() if start else date(2026, 3, 16)),
                     duration_seconds=seconds, updated_at=NOW, started_at=start, **fields)


ENTRIES = [
    entry("101", datetime(2026, 3, 16, 13, 0, tzinfo=UTC), 2700, work_type="Travel", worker_name="Priya Raman",
          notes="Drive to site"),
    entry("102", datetime(2026, 3, 16, 23, 30, tzinfo=UTC), 5400, work_type="Remote support",
          worker_name="Priya Raman", notes="Priya restored mail on 10.0.0.4", internal_notes="Slow payer"),
    entry("103", datetime(2026, 3, 17, 14, 0, tzinfo=UTC), 600, work_type="Maintenance",
          worker_name="Sven Lindqvist", notes="Patched the NAS"),  # on the holiday
    entry("104", datetime(2026, 3, 18, 14, 0, tzinfo=UTC), 3600, work_type="Remote support",
          worker_name="Sven Lindqvist", notes="Reset a password"),
    entry("105", None, 1800, work_date=date(2026, 3, 19), deleted=True, notes="Gone"),
    entry("90", datetime(2026, 3, 2, 15, 0, tzinfo=UTC), 7200, work_type="Remote support",
          notes="Last cycle's work"),
]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    for name, text in FILES.items():
        path = tmp_path / "config" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load_config(tmp_path / "config", environ={})


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    sqlite_store.apply_entries("hv", ENTRIES, now=NOW)
    return sqlite_store


def block(text: str, source: str, next_source: str) -> str:
    """The preview's lines for one entry: from its heading line to the next entry's."""
    start = text.rfind("\n", 0, text.index(source)) + 1
    return text[start:text.rfind("\n", 0, text.index(next_source))]


def test_preview_shows_each_entry_beside_its_fate_and_the_totals(config: Config, store: Store) -> None:
    out = "\n".join(preview_lines(run_client(config, store, "acme", now=NOW)))
    assert out.splitlines()[:3] == [
        "Preview of Acme Dental (acme), cycle 2026-03-15 – 2026-04-14 (America/New_York)",
        "Rules in evaluation order: 'maintenance' (maintenance), 'no travel' (standard), 'after hours' (standard), "
        "'tidy' (standard)",
        "From the store (no API requests): 4 entries; 3 become lines, 1 dropped, 0 skipped.",
    ]
    assert "✗ dropped by rule 'no travel' (standard): travel is not billed" in block(out, "hv:101", "hv:102")
    evening = block(out, "hv:102", "hv:103")
    assert "2026-03-16 Mon 19:30  hv:102  1.50 h  Remote support · Priya Raman" in evening
    assert "internal: Slow payer" in evening  # an admin view: internal fields appear here
    assert "fired:    'after hours' (standard): multiply ×2, label After-hours ×2" in evening
    assert ("→ line 2026-03-16  pool reactive  1.50 h logged ×2 = 3.00 h charged  [After-hours ×2]  "
            "'Our technician restored mail on [redacted]'") in evening
    holiday = block(out, "hv:103", "hv:104")
    assert "0.17 h logged rounded to 0.50 ×2 = 1.00 h charged  [After-hours ×2]" in holiday
    assert "hv:90" not in out and "hv:105" not in out  # other cycles' and deleted entries
    totals = [" ".join(line.split()) for line in out.splitlines()[-4:]]
    assert totals == [
        "Reactive support (reactive) used 4.00 of 11.00 available remaining 7.00 over 0.00",
        "Scheduled (scheduled) used 1.00 of 2.00 available remaining 1.00 over 0.00",
        "All pools used 5.00 of 13.00 available remaining 8.00 over 0.00",
        "Dropped: 1 entry, 0.75 h logged: 'no travel' 1 (0.75 h)",
    ]


def test_preview_of_the_previous_cycle(config: Config, store: Store) -> None:
    out = preview_lines(run_client(config, store, "acme", cycle="previous", now=NOW))
    assert out[0] == "Preview of Acme Dental (acme), cycle 2026-02-15 – 2026-03-14 (America/New_York)"
    assert any("hv:90" in line for line in out)
    assert not any("hv:102" in line for line in out)


def test_explain_traces_every_figure_to_lines_and_entries(config: Config, store: Store) -> None:
    run = run_client(config, store, "acme", now=NOW)
    out = explain_lines(run)
    text = "\n".join(out)
    assert "  available 11.00 = cap 10.00 + carried in 0.00 + adjustments 1.00" in text
    assert "    adjustment 2026-03-16  1.00 h  'Top-up'" in text
    assert "  used 4.00 = the sum of 2 lines (hours charged):" in text
    assert ("    2026-03-16  3.00 h = 1.50 logged ×2  balance after 8.00  'Our technician restored mail on "
            "[redacted]'\n      ← hv:102  2026-03-16 19:30  1.50 h logged") in text
    assert "    2026-03-17  1.00 h = 0.17 logged (rounded to 0.50) ×2  balance after 1.00" in text
    assert "  remaining 7.00 = max(0, 11.00 − 4.00);  over 0.00 = max(0, 4.00 − 11.00);  36.4% used" in text
    assert "Totals: used 5.00 = reactive 4.00 + scheduled 1.00" in text
    assert "  2026-02-15 – 2026-03-14: used 2.00 = 1 line (hv:90); available 12.00" in text
    assert out[-1] == "Every figure adds up."
    assert run.statement.used == D("5.00")
    assert "Slow payer" not in text and "Priya" not in text  # explain shows published figures only


@pytest.mark.parametrize(
    ("which", "start"),
    [
        pytest.param("current", date(2026, 3, 15), id="current"),
        pytest.param("previous", date(2026, 2, 15), id="previous"),
        pytest.param("2026-01", date(2026, 1, 15), id="month-starting-that-cycle"),
        pytest.param("2025-12", date(2025, 12, 15), id="before-the-anchor"),
    ],
)
def test_select_cycle(config: Config, which: str, start: date) -> None:
    assert select_cycle(config.clients["acme"], which, NOW).start == start


@pytest.mark.parametrize("which", ["last", "2026-13", "2026-3"])
def test_select_cycle_refuses_what_it_cannot_read(config: Config, which: str) -> None:
    with pytest.raises(ValueError, match="use current, previous or a month such as 2026-03"):
        select_cycle(config.clients["acme"], which, NOW)


def test_cli_preview_and_explain(config: Config, store: Store, tmp_path: Path) -> None:
    db = store.engine.url.render_as_string(hide_password=False)
    env = {"SYNCD_DATABASE_URL": db, "SYNCD_LOG_FORMAT": "json"}
    runner = CliRunner()
    result = runner.invoke(app, ["preview", "acme", "--cycle", "2026-02", "--config", str(tmp_path / "config")],
                           env=env)
    assert result.exit_code == 0, result.output
    assert "Preview of Acme Dental (acme), cycle 2026-02-15" in result.output
    result = runner.invoke(app, ["explain", "acme", "--config", str(tmp_path / "config")], env=env)
    assert result.exit_code == 0, result.output
    assert "Totals: used" in result.output
    unknown = runner.invoke(app, ["preview", "nobody", "--config", str(tmp_path / "config")], env=env)
    assert unknown.exit_code == 2 and "no client named nobody (known: acme)" in unknown.output
    bad = runner.invoke(app, ["preview", "acme", "--cycle", "soon", "--config", str(tmp_path / "config")], env=env)
    assert bad.exit_code == 2 and "use current, previous or a month" in bad.output


def test_cli_preview_still_runs_when_a_rule_test_fails_and_says_so(config: Config, store: Store,
                                                                    tmp_path: Path) -> None:
    rules = tmp_path / "config" / "rules" / "standard.yaml"
    rules.write_text(rules.read_text() + "tests:\n  - {name: wrong, entry: {work_type: Travel}, expect: kept}\n")
    env = {"SYNCD_DATABASE_URL": store.engine.url.render_as_string(hide_password=False)}
    result = CliRunner().invoke(app, ["preview", "acme", "--cycle", "2026-03", "--config",
                                      str(tmp_path / "config")], env=env)
    assert result.exit_code == 0, result.output
    assert f"warning: {rules}:7: tests[0]: rule test 'wrong' fails: expected a line, but rule 'no travel'" \
        in result.output
    assert "✗ dropped by rule 'no travel' (standard)" in result.output


def test_explain_and_preview_of_a_prepaid_block(config: Config, store: Store) -> None:
    retainer = config.clients["acme"].retainer.model_copy(update={
        "cycle": config.clients["acme"].retainer.cycle.model_validate({"block": "2026-03-01"})})
    client = dataclasses.replace(config.clients["acme"], retainer=retainer)
    blocked = dataclasses.replace(config, clients={"acme": client})
    assert select_cycle(client, "previous", NOW) == select_cycle(client, "current", NOW)
    run = run_client(blocked, store, "acme", now=NOW)
    assert run.statement.cycle.end is None
    explained = explain_lines(run)
    assert explained[1] == "Cycle prepaid block from 2026-03-01 (America/New_York), never resets"
    assert preview_lines(run)[0] == "Preview of Acme Dental (acme), cycle prepaid block from 2026-03-01 (America/New_York)"
    # Every entry since the block started is in it: last cycle's line of 2 March too.
    assert any(line.source == ("hv", "90") for line in run.statement.lines)
