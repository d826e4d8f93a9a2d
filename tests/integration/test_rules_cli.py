"""The rule tooling as an admin runs it: `syncd preview`, `explain` and `test-rules` in real processes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO_ENV = {"DEMO_HARVEST_URL": "http://127.0.0.1:9", "DEMO_HARVEST_ACCOUNT": "1", "DEMO_HARVEST_TOKEN": "t"}
CLIENTS = ("acme-dental", "birchwood-legal", "cobalt-logistics", "delta-veterinary")
ENTRY = re.compile(r"^\d{4}-\d{2}-\d{2} \w{3} (?:\d{2}:\d{2}|  -- )  [\w-]+:\S+ ", re.M)


def syncd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process, as an admin would."""
    return subprocess.run([sys.executable, "-m", "syncd", *args], env={**os.environ, **(env or {})},
                          capture_output=True, text=True, timeout=180, cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A store seeded by one `syncd demo --once` run, and a copy of config/demo to read it with."""
    folder = tmp_path_factory.mktemp("rules-cli")
    done = syncd("demo", "--once", "--dir", str(folder / "demo"), env={"SYNCD_HTTP_PORT": "0"})
    assert done.returncode == 0, done.stderr
    config = folder / "config"
    shutil.copytree(ROOT / "config" / "demo", config)
    env = {**DEMO_ENV, "SYNCD_DATABASE_URL": f"sqlite:///{folder / 'demo' / 'syncd.db'}", "SYNCD_LOG_FORMAT": "json"}
    yield config, env


def entry_blocks(out: str) -> list[str]:
    """The preview's entries, each with its indented detail lines."""
    starts = [m.start() for m in ENTRY.finditer(out)]
    ends = [*starts[1:], out.index("\nTotals that would be published")]
    return [out[s:e] for s, e in zip(starts, ends, strict=True)]


def test_preview_on_a_demo_client_shows_drops_by_rule_and_after_hours_multipliers(
    demo_store: tuple[Path, dict[str, str]],
) -> None:
    config, env = demo_store
    travel = after_hours = None
    for client in CLIENTS:
        done = syncd("preview", client, "--cycle", "previous", "--config", str(config), env=env)
        assert done.returncode == 0, done.stderr
        assert "From the store (no API requests):" in done.stdout
        for block in entry_blocks(done.stdout):
            if re.search(r" h  Travel( · |$)", block.splitlines()[0]) and travel is None:
                travel = block
            if "×2 = " in block and after_hours is None:
                after_hours = block
        if travel and after_hours:
            break
    assert travel is not None, "no travel entry in any demo client's previous cycle"
    assert "✗ dropped by rule 'no travel' (standard): travel is not billed against the retainer" in travel
    assert after_hours is not None, "no after-hours entry in any demo client's previous cycle"
    assert "fired:    'after hours' (standard): multiply ×2, label After-hours ×2" in after_hours
    assert re.search(r"→ line \S+  pool \w+  (\d+\.\d\d) h logged( rounded to \S+)? ×2 = \d+\.\d\d h charged  "
                     r"\[After-hours ×2[\],]", after_hours), after_hours


def test_preview_totals_match_explain_and_the_published_page(demo_store: tuple[Path, dict[str, str]]) -> None:
    config, env = demo_store
    preview = syncd("preview", "acme-dental", "--config", str(config), env=env)
    explain = syncd("explain", "acme-dental", "--config", str(config), env=env)
    assert preview.returncode == 0 and explain.returncode == 0, (preview.stderr, explain.stderr)
    used = re.search(r"^  All pools\s+used\s+(\d+\.\d\d)", preview.stdout, re.M)
    total = re.search(r"^Totals: used (\d+\.\d\d) = ", explain.stdout, re.M)
    assert used and total and used[1] == total[1]
    assert explain.stdout.rstrip().endswith("Every figure adds up.")
    assert re.search(r"^      ← [\w-]+:\S+  \d{4}-\d{2}-\d{2}[ \d:]*  \d+\.\d\d h logged$", explain.stdout, re.M)


def test_preview_of_an_unknown_client_or_cycle_is_refused(demo_store: tuple[Path, dict[str, str]]) -> None:
    config, env = demo_store
    unknown = syncd("preview", "nobody", "--config", str(config), env=env)
    assert unknown.returncode == 2 and "no client named nobody" in unknown.stderr
    bad = syncd("preview", "acme-dental", "--cycle", "last-month", "--config", str(config), env=env)
    assert bad.returncode == 2 and "use current, previous or a month" in bad.stderr


def test_test_rules_passes_on_the_shipped_configs() -> None:
    done = syncd("test-rules", "--config", str(ROOT / "config" / "example"), "--config", str(ROOT / "config" / "demo"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^All \d+ rule tests passed\.$", done.stdout, re.M)


def test_test_rules_names_the_rule_file_and_test_when_a_rule_breaks_one(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config" / "demo", config)
    rules = config / "rules" / "standard.yaml"
    # Someone narrows the travel rule to another spelling: the travel work type is kept again.
    rules.write_text(rules.read_text().replace("{work_type: [Travel]}", "{work_type: [Drive Time]}", 1))
    done = syncd("test-rules", "--config", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL ")]
    assert len(failures) == 1, done.stdout
    assert re.match(rf"FAIL {re.escape(str(rules))}:\d+: tests\[0\] 'travel is dropped': expected a drop by "
                    r"'no travel', but it was kept as ", failures[0]), failures[0]
    assert "1 of " in done.stdout and "rule tests failed." in done.stdout
