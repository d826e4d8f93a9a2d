"""JSON Schemas of the config files, generated from the pydantic models (for editors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from syncd.config import BUILTIN_REDACTIONS, ClientFile, ExpectedLine, Redaction, Rounding, RuleSetFile, SyncdFile
from syncd.durations import parse_interval

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "config" / "schema"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# File name → (model, title, what the file is). Editors find these through the
# `# yaml-language-server: $schema=…` line at the top of each config file.
FILES: dict[str, tuple[type[BaseModel], str, str]] = {
    "syncd.schema.json": (SyncdFile, "syncd.yaml", "syncd's main file: accounts, defaults and publishing."),
    "client.schema.json": (ClientFile, "clients/<key>.yaml", "One client: its sources, retainer and rules."),
    "rules.schema.json": (RuleSetFile, "rules/<name>.yaml", "A rule set: ordered rules, holidays and tests."),
}


_DURATION: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": r"^\s*(?:\d+\s*[dhmsDHMS]\s*)+$"}, {"type": "integer", "minimum": 1}],
}

# Models that also accept a plain string in YAML (their before-validators expand it).
_SHORTHANDS: dict[type[BaseModel], dict[str, Any]] = {
    ExpectedLine: {"type": "string", "enum": ["dropped", "kept"]},
    Redaction: {"type": "string", "enum": list(BUILTIN_REDACTIONS), "description": "A built-in pattern."},
    Rounding: {**_DURATION, "description": "Shorthand for {up_to: …}."},
}


class _ConfigSchema(GenerateJsonSchema):
    """Describes values as they are written in YAML rather than as they are held in Python."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        body = super().model_schema(schema)
        shorthand = _SHORTHANDS.get(schema["cls"])
        if shorthand is None:
            return body
        title, description = body.pop("title", None), body.pop("description", None)
        out: dict[str, Any] = {"anyOf": [shorthand, body]}
        if title:
            out["title"] = title
        if description:
            out["description"] = description
        return out

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        # Intervals are written "15m" or "1h30m" (or as seconds), not only as integers.
        if schema["function"]["function"] is parse_interval:
            return dict(_DURATION)
        return super().function_before_schema(schema)


def generate() -> dict[str, dict[str, Any]]:
    """Every schema, by file name, as the models define them now."""
    out = {}
    for name, (model, title, description) in FILES.items():
        body = model.model_json_schema(mode="validation", schema_generator=_ConfigSchema)
        body["title"] = title
        body["description"] = description
        out[name] = {"$schema": DRAFT, **body}
    return out


def render(schema: dict[str, Any]) -> str:
    """The committed text of one schema: stable key order, two-space indent, final newline."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write(folder: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema into ``folder``; return the files whose content changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, schema in generate().items():
        path = folder / name
        text = render(schema)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed
