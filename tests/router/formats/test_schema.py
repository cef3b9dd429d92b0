"""Gemini schema cleaning on hand-made and real client tool schemas."""

from __future__ import annotations

from typing import Any

import pytest

from router.formats import anthropic, responses
from router.formats._schema import clean_for_gemini, from_gemini

from ._support import fixture_body, schema_problems


def test_refs_are_inlined_from_defs_and_definitions() -> None:
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/Point", "description": "where"},
            "b": {"$ref": "#/definitions/Name"},
        },
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "definitions": {"Name": {"type": "string", "minLength": 1}},
    }
    out = clean_for_gemini(schema)
    assert out == {
        "type": "object",
        "properties": {
            "a": {
                "type": "object",
                "properties": {"x": {"type": "number"}},
                "description": "where",
            },
            "b": {"type": "string", "description": "minLength: 1"},
        },
    }


def test_recursive_and_unknown_refs_become_described_objects() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "node": {"$ref": "#/$defs/Node"},
            "remote": {"$ref": "https://example.com/s.json"},
        },
        "$defs": {
            "Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}},
        },
    }
    out = clean_for_gemini(schema)
    child = out["properties"]["node"]["properties"]["child"]
    assert child == {"type": "object", "description": "See: Node"}
    assert out["properties"]["remote"]["type"] == "object"
    assert not schema_problems(out)


def test_unions_flatten_to_their_richest_branch() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "opt"},
            "either": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "properties": {"k": {"type": "integer"}}},
                ]
            },
            "list": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]},
        },
    }
    props = clean_for_gemini(schema)["properties"]
    assert props["maybe"] == {"type": "string", "nullable": True, "description": "opt"}
    assert props["either"]["type"] == "object"
    assert props["either"]["properties"] == {"k": {"type": "integer"}}
    assert "Accepts: string | object" in props["either"]["description"]
    assert props["list"]["type"] == "array" and props["list"]["items"] == {"type": "string"}


def test_all_of_merges_properties_and_required() -> None:
    schema: dict[str, Any] = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    }
    out = clean_for_gemini(schema)
    assert out["type"] == "object"
    assert set(out["properties"]) == {"a", "b"}
    assert out["required"] == ["a", "b"]


def test_const_enum_type_arrays_and_constraints() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "kind": {"const": "fixed"},
            "level": {"type": "integer", "enum": [1, 2, 3]},
            "flag": {"type": "boolean", "enum": [True]},
            "name": {"type": ["string", "null"], "pattern": "^a", "maxLength": 5, "default": "x"},
            "when": {"type": "string", "format": "date-time"},
            "site": {"type": "string", "format": "uri", "examples": ["https://a"]},
            "count": {"type": "NUMBER", "exclusiveMinimum": 0, "title": "Count"},
            "x-ext": {"type": "string", "x-google-enum-descriptions": ["a"]},
        },
        "required": ["kind", "missing"],
    }
    out = clean_for_gemini(schema)
    p = out["properties"]
    assert p["kind"] == {"enum": ["fixed"], "type": "string"}
    assert p["level"] == {"type": "integer", "description": "Allowed: 1, 2, 3"}
    assert p["flag"] == {"type": "boolean", "description": "Allowed: true"}
    assert p["name"]["type"] == "string" and p["name"]["nullable"] is True
    assert "pattern: ^a" in p["name"]["description"] and "default: x" in p["name"]["description"]
    assert p["when"] == {"type": "string", "format": "date-time"}
    assert p["site"] == {"type": "string", "description": "format: uri"}
    assert p["count"] == {"type": "number", "description": "exclusiveMinimum: 0"}
    assert p["x-ext"] == {"type": "string"}
    assert out["required"] == ["kind"]
    assert not schema_problems(out)


def test_properties_named_like_keywords_are_kept() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "properties": {"type": "object", "properties": {"items": {"type": "string"}}},
            "$ref": {"type": "string"},
        },
    }
    out = clean_for_gemini(schema)
    assert set(out["properties"]) == {"type", "properties", "$ref"}
    assert out["properties"]["properties"]["properties"] == {"items": {"type": "string"}}


def test_arrays_always_get_items_and_untyped_nodes_are_inferred() -> None:
    out = clean_for_gemini(
        {
            "properties": {
                "a": {"type": "array"},
                "b": {"items": [{"type": "integer"}]},
                "c": {"enum": ["x"]},
            }
        }
    )
    assert out["type"] == "object"
    assert out["properties"]["a"] == {"type": "array", "items": {"type": "string"}}
    assert out["properties"]["b"] == {"type": "array", "items": {"type": "integer"}}
    assert out["properties"]["c"] == {"enum": ["x"], "type": "string"}


def test_input_is_not_modified() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "$defs": {"A": {"const": 1}},
    }
    before = repr(schema)
    clean_for_gemini(schema)
    assert repr(schema) == before


@pytest.mark.parametrize("fixture", ["claude-code-turn1", "claude-code-turn2"])
def test_every_claude_code_tool_schema_cleans(fixture: str) -> None:
    req = anthropic.request_to_ir(fixture_body(fixture))
    assert len(req.tools) == 12
    for tool in req.tools:
        cleaned = clean_for_gemini(tool.parameters)
        assert not schema_problems(cleaned), (tool.name, schema_problems(cleaned))


def test_every_codex_tool_schema_cleans() -> None:
    req = responses.request_to_ir(fixture_body("codex-turn1"))
    for tool in req.tools:
        assert not schema_problems(clean_for_gemini(tool.parameters)), tool.name


def test_from_gemini_gives_plain_json_schema() -> None:
    schema: dict[str, Any] = {
        "type": "OBJECT",
        "properties": {
            "a": {"type": "STRING", "nullable": True, "format": "enum", "enum": ["x"]},
            "b": {"type": "ARRAY", "items": {"type": "INTEGER"}},
        },
        "propertyOrdering": ["a", "b"],
        "required": ["a"],
    }
    assert from_gemini(schema) == {
        "type": "object",
        "properties": {
            "a": {"type": ["string", "null"], "enum": ["x"]},
            "b": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["a"],
    }
