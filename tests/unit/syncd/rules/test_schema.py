"""The JSON Schemas in config/schema/: generated from the models, committed, and true to the files."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from syncd.cli import app
from syncd.schema import FILES, SCHEMA_DIR, generate, render

ROOT = Path(__file__).resolve().parents[4]
CONFIG_FILES = sorted(p for p in (ROOT / "config").rglob("*.yaml") if "schema" not in p.parts)


def schema_for(path: Path) -> str:
    if path.name == "syncd.yaml":
        return "syncd.schema.json"
    return "rules.schema.json" if path.parent.name == "rules" else "client.schema.json"


def as_json(value: Any) -> Any:
    # YAML reads dates as dates; JSON (and so the schema) sees the text the admin wrote.
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(FILES))
def test_committed_schema_equals_what_the_models_generate(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render(generate()[name]), f"config/schema/{name} is stale: run `syncd schema`"


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(ROOT))) for p in CONFIG_FILES])
def test_every_shipped_config_file_validates_against_its_schema(path: Path) -> None:
    errors = list(validator(schema_for(path)).iter_errors(as_json(yaml.safe_load(path.read_text()))))
    assert errors == [], [e.message for e in errors]


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(ROOT)))
                                  for p in CONFIG_FILES if p.parent.name == "rules"])
def test_rule_files_point_editors_at_their_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1].strip()).resolve()
    assert target == (SCHEMA_DIR / schema_for(path)).resolve()


@pytest.mark.parametrize(
    ("rule", "valid"),
    [
        pytest.param({"name": "a", "when": {"work_type": "Travel"}, "drop": True}, True, id="single-value"),
        pytest.param({"name": "a", "when": {"min_duration": "15m", "outside_hours": "mon-fri 08:00-18:00"},
                      "round": "15m", "label": "x"}, True, id="durations-and-hours-as-written"),
        pytest.param({"name": "a", "round": {"up_to": "15m", "minimum": "30m"},
                      "redact": ["ip", {"pattern": "PO-\\d+"}], "translate": {"FW": "firewall"}}, True, id="actions"),
        pytest.param({"name": "a", "when": {"wrok_type": "x"}, "label": "x"}, False, id="unknown-condition"),
        pytest.param({"name": "a", "redact": ["mac"]}, False, id="unknown-redaction"),
        pytest.param({"name": "a", "round": "soon"}, False, id="bad-duration"),
        pytest.param({"name": "a", "when": {"outside_hours": "weekdays"}, "label": "x"}, False, id="bad-hours"),
    ],
)
def test_the_schema_catches_what_the_loader_catches(rule: dict[str, Any], valid: bool) -> None:
    errors = list(validator("rules.schema.json").iter_errors({"rules": [rule]}))
    assert (errors == []) is valid, [e.message for e in errors]


def test_the_schema_command_writes_the_same_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 schemas, 3 updated" in result.output
    for name in FILES:
        assert (tmp_path / name).read_text() == (SCHEMA_DIR / name).read_text()
    again = CliRunner().invoke(app, ["schema", "--out", str(tmp_path)])
    assert "3 schemas, 0 updated" in again.output
