"""Shared helpers for the translation tests: fixtures, validators, SSE plumbing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.genai import types as gtypes

from router.formats import CODECS, Context, SSEParser, ir
from tests.fakes._anthropic_checks import check_messages_request
from tests.fakes._gemini_checks import check_generate
from tests.fakes._openai_checks import check_chat, check_responses

FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "clients"

FORMATS = ("anthropic", "openai", "gemini", "responses")  # Format values, the tests' order
MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o",
    "gemini": "gemini-3-pro-preview",
    "responses": "gpt-5",
}
CLIENT_FIXTURES = {
    "claude-code-turn1": ("anthropic", "claude-code/turn1-request.json"),
    "claude-code-turn2": ("anthropic", "claude-code/turn2-request.json"),
    "codex-turn1": ("responses", "codex/turn1-request.json"),
    "gemini-cli-router": ("gemini", "gemini-cli/router-request.json"),
    "gemini-cli-turn1": ("gemini", "gemini-cli/turn1-request.json"),
}

# Keywords a Gemini schema must not carry once cleaned.
FORBIDDEN_GEMINI_KEYS = {
    "$ref",
    "$defs",
    "definitions",
    "$schema",
    "$id",
    "anyOf",
    "oneOf",
    "allOf",
    "const",
    "additionalProperties",
    "examples",
    "default",
    "title",
    "pattern",
    "minLength",
    "maxLength",
    "exclusiveMinimum",
    "exclusiveMaximum",
}


def fixture_body(name: str) -> dict[str, Any]:
    fmt, rel = CLIENT_FIXTURES[name]
    body: dict[str, Any] = json.loads((FIXTURES / rel).read_text())["body"]
    return body


def schema_problems(schema: Any, path: str = "$") -> list[str]:
    """Why a cleaned schema would not pass Gemini (empty when clean)."""
    out: list[str] = []
    if not isinstance(schema, dict):
        return [f"{path}: not an object"]
    for key, value in schema.items():
        if key in FORBIDDEN_GEMINI_KEYS or key.startswith("x-"):
            out.append(f"{path}.{key}")
        if key == "type" and not isinstance(value, str):
            out.append(f"{path}.type is {value!r}")
        if key == "enum" and not all(isinstance(v, str) for v in value):
            out.append(f"{path}.enum has non-strings")
        if key == "properties":
            for name, sub in value.items():
                out += schema_problems(sub, f"{path}.properties.{name}")
        if key == "items":
            out += schema_problems(value, f"{path}.items")
        if key == "required":
            missing = [r for r in value if r not in schema.get("properties", {})]
            if missing:
                out.append(f"{path}.required names undeclared {missing}")
    if not out:
        gtypes.Schema.model_validate(schema)  # the SDK's own model (extra=forbid)
    return out


def check_request(fmt: str, body: dict[str, Any], model: str | None = None) -> None:
    """Assert ``body`` is what the real API of ``fmt`` accepts (the fakes' checks)."""
    model = model or MODELS[fmt]
    if fmt == "anthropic":
        problem = check_messages_request(body)
        assert problem is None, problem
        for m in body["messages"]:
            for block in m["content"]:
                if block["type"] == "text":
                    assert block["text"], "empty text block"
        roles = [m["role"] for m in body["messages"]]
        assert all(a != b for a, b in zip(roles, roles[1:], strict=False)), roles
    elif fmt == "openai":
        problem = check_chat(body)
        assert problem is None, problem
    elif fmt == "responses":
        problem = check_responses(body)
        assert problem is None, problem
        assert body["store"] is False
    else:
        problem = check_generate(body, model)
        assert problem is None, problem
        strict = copy.deepcopy(body)  # the proto ``parameters`` field is the strictest reader
        for tool in strict.get("tools", []):
            for decl in tool.get("functionDeclarations", []):
                if "parametersJsonSchema" in decl:
                    schema = decl.pop("parametersJsonSchema")
                    assert not schema_problems(schema), schema_problems(schema)
                    decl["parameters"] = schema
        cfg = strict.get("generationConfig", {})
        if "responseJsonSchema" in cfg:
            cfg["responseSchema"] = cfg.pop("responseJsonSchema")
            assert not schema_problems(cfg["responseSchema"])
        problem = check_generate(strict, model)
        assert problem is None, problem
        for content in body["contents"]:
            gtypes.Content.model_validate(content)
        for tool in body.get("tools", []):
            gtypes.Tool.model_validate(tool)
        if "generationConfig" in body:
            gtypes.GenerationConfig.model_validate(body["generationConfig"])


def frames(data: bytes) -> list[tuple[str | None, bytes]]:
    parser = SSEParser()
    return parser.feed(data) + parser.finish()


def sse_json(data: bytes) -> list[tuple[str | None, Any]]:
    return [(ev, json.loads(d)) for ev, d in frames(data) if d != b"[DONE]"]


def decode(fmt: str, data: bytes, *, chunk: int | None = None) -> list[ir.Event]:
    """Run upstream SSE bytes of ``fmt`` through its decoder (optionally in pieces)."""
    parser = SSEParser()
    decoder = CODECS[fmt].stream_decoder()
    out: list[ir.Event] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        for event, payload in parser.feed(piece):
            out += decoder.feed(event, payload)
    for event, payload in parser.finish():
        out += decoder.feed(event, payload)
    return out + decoder.finish()


def encode(
    fmt: str,
    events: Iterable[ir.Event],
    *,
    model: str = "client-model",
    tools: tuple[ir.Tool, ...] = (),
) -> bytes:
    encoder = CODECS[fmt].stream_encoder(Context(model, "req1", tools))
    return b"".join(encoder.encode(ev) for ev in events)


def sse(event: str | None, payload: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n".encode()


def typed_event(kind: str, **body: Any) -> bytes:
    """An SSE event named like the ``type`` its payload opens with (Anthropic, Responses)."""
    return sse(kind, {"type": kind, **body})
