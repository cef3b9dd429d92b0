"""Request validation of the Gemini API (generativelanguage v1beta).

Google parses the body as protobuf JSON: a key the proto lacks is a 400
``Invalid JSON payload received. Unknown name "X" at 'path': Cannot find
field.`` with a ``BadRequest.fieldViolations`` detail. That is what bites
translated requests: JSON-Schema keywords (``$ref``, ``$schema``,
``additionalProperties``, ``const``) in ``parameters``, OpenAI/Anthropic
keys leaking into ``parts``. Semantic checks (turn order around function
calls, Gemini 3 thought signatures) use the API's own sentences. Paths
use proto field names (``function_declarations``, ``any_of``) and map
entries as ``properties[N].value``, as Google writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Invalid", "check_count_tokens", "check_generate"]

_TOP = {
    "contents",
    "tools",
    "toolConfig",
    "tool_config",
    "safetySettings",
    "safety_settings",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "cached_content",
    "model",
}
_PART = {
    "text",
    "inlineData",
    "inline_data",
    "fileData",
    "file_data",
    "functionCall",
    "function_call",
    "functionResponse",
    "function_response",
    "executableCode",
    "executable_code",
    "codeExecutionResult",
    "code_execution_result",
    "thought",
    "thoughtSignature",
    "thought_signature",
    "videoMetadata",
    "video_metadata",
    "partMetadata",
    "part_metadata",
    "mediaResolution",
    "media_resolution",
}
_DATA = {
    "text",
    "inlineData",
    "inline_data",
    "fileData",
    "file_data",
    "functionCall",
    "function_call",
    "functionResponse",
    "function_response",
    "executableCode",
    "executable_code",
    "codeExecutionResult",
    "code_execution_result",
}
_SCHEMA = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "max_items",
    "minItems",
    "min_items",
    "properties",
    "required",
    "minProperties",
    "min_properties",
    "maxProperties",
    "max_properties",
    "minLength",
    "min_length",
    "maxLength",
    "max_length",
    "pattern",
    "example",
    "anyOf",
    "any_of",
    "propertyOrdering",
    "property_ordering",
    "default",
    "items",
    "minimum",
    "maximum",
}
_TYPES = {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_SIGNATURE_DOC = "https://ai.google.dev/gemini-api/docs/thought-signatures"


@dataclass(slots=True)
class Invalid:
    """A 400 INVALID_ARGUMENT: its message and any field violations."""

    message: str
    violations: list[dict[str, str]] = field(default_factory=list)


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    return obj.get(camel, obj.get(snake))


def _unknown(name: str, path: str) -> dict[str, str]:
    where = f" at '{path}'" if path else ""
    return {
        "field": path,
        "description": f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.',
    }


def _from_violations(violations: list[dict[str, str]]) -> Invalid | None:
    if not violations:
        return None
    return Invalid("\n".join(v["description"] for v in violations), violations)


def _walk_schema(schema: Any, path: str, out: list[dict[str, str]]) -> None:
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key not in _SCHEMA:
            out.append(_unknown(key, path))
        elif key == "properties" and isinstance(value, dict):
            for n, sub in enumerate(value.values()):
                _walk_schema(sub, f"{path}.properties[{n}].value", out)
        elif key == "enum" and isinstance(value, list):
            for n, item in enumerate(value):
                if not isinstance(item, str):
                    where = f"{path}.enum[{n}]"
                    text = json.dumps(item)
                    message = f"Invalid value at '{where}' (TYPE_STRING), {text}"
                    out.append({"field": where, "description": message})
        elif key == "items":
            _walk_schema(value, f"{path}.items", out)
        elif key in ("anyOf", "any_of") and isinstance(value, list):
            for n, sub in enumerate(value):
                _walk_schema(sub, f"{path}.any_of[{n}]", out)
        elif key == "type" and isinstance(value, list):
            out.append(
                {
                    "field": f"{path}.type",
                    "description": "Invalid JSON payload received. Proto field is not repeating, cannot start list.",
                }
            )
        elif key == "type" and (not isinstance(value, str) or value.upper() not in _TYPES):
            out.append(
                {
                    "field": f"{path}.type",
                    "description": (
                        f"Invalid value at '{path}.type'"
                        f' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), "{value}"'
                    ),
                }
            )


def _schema_violations(body: dict[str, Any]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = [_unknown(k, "") for k in body if k not in _TOP]
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict):
            continue
        decls = _get(tool, "functionDeclarations", "function_declarations")
        for j, decl in enumerate(decls if isinstance(decls, list) else []):
            if not isinstance(decl, dict):
                continue
            base = f"tools[{i}].function_declarations[{j}]"
            # parametersJsonSchema / responseJsonSchema take full JSON Schema.
            _walk_schema(decl.get("parameters"), f"{base}.parameters", out)
            _walk_schema(decl.get("response"), f"{base}.response", out)
    config = _get(body, "generationConfig", "generation_config")
    if isinstance(config, dict):
        _walk_schema(
            _get(config, "responseSchema", "response_schema"),
            "generation_config.response_schema",
            out,
        )
    return out


def _check_contents(contents: Any, prefix: str) -> Invalid | None:
    if not isinstance(contents, list) or not contents:
        return Invalid(f"* {prefix}.contents: contents is not specified\n")
    violations: list[dict[str, str]] = []
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            return Invalid(f"* {prefix}.contents[{i}]: content must be an object\n")
        role = content.get("role", "")
        if role not in ("user", "model", ""):
            return Invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return Invalid(f"* {prefix}.contents[{i}].parts: contents.parts must not be empty.\n")
        for j, part in enumerate(parts):
            if not isinstance(part, dict):
                continue
            violations += [_unknown(k, f"contents[{i}].parts[{j}]") for k in part if k not in _PART]
            if not violations and not any(k in _DATA for k in part):
                return Invalid(
                    f"* {prefix}.contents[{i}].parts[{j}].data: required oneof field 'data'"
                    " must have one initialized field\n"
                )
    return _from_violations(violations)


def _calls(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p
        for p in content.get("parts", [])
        if isinstance(p, dict) and _get(p, "functionCall", "function_call") is not None
    ]


def _responses(content: dict[str, Any]) -> int:
    return sum(
        1
        for p in content.get("parts", [])
        if isinstance(p, dict) and _get(p, "functionResponse", "function_response") is not None
    )


def _check_turns(contents: list[dict[str, Any]], model: str) -> Invalid | None:
    for i, content in enumerate(contents):
        previous = contents[i - 1] if i else None
        if _responses(content):
            if previous is None or not _calls(previous):
                return Invalid(
                    "Please ensure that function response turn comes immediately after a"
                    " function call turn."
                )
            if _responses(content) != len(_calls(previous)):
                return Invalid(
                    "Please ensure that the number of function response parts is equal to the"
                    " number of function call parts of the function call turn."
                )
        if _calls(content) and (previous is None or previous.get("role", "user") != "user"):
            return Invalid(
                "Please ensure that function call turn comes immediately after a user turn or"
                " after a function response turn."
            )
    if model.startswith("gemini-3"):
        return _check_signatures(contents)
    return None


def _check_signatures(contents: list[dict[str, Any]]) -> Invalid | None:
    """Gemini 3: in the current turn (after the last user text), the first
    function call of every model step must carry its thought signature."""
    start = 0
    for i, content in enumerate(contents):
        if content.get("role", "user") == "user" and not _responses(content):
            start = i + 1
    for i in range(start, len(contents)):
        calls = _calls(contents[i])
        if calls and not _get(calls[0], "thoughtSignature", "thought_signature"):
            name = _get(calls[0], "functionCall", "function_call").get("name", "")
            return Invalid(
                "Function call is missing a thought_signature in functionCall parts. This is"
                " required for tools to work correctly, and missing thought_signature may lead"
                " to degraded model performance. Additional data, function call"
                f" `default_api:{name}` , position {i + 1}. Please refer to {_SIGNATURE_DOC}"
                " for more details."
            )
    return None


def check_generate(body: Any, model: str) -> Invalid | None:
    """Validate a ``generateContent`` / ``streamGenerateContent`` body."""
    if not isinstance(body, dict):
        return Invalid("Invalid JSON payload received. Expected an object.")
    found = _from_violations(_schema_violations(body))
    if found is not None:
        return found
    contents = body.get("contents")
    found = _check_contents(contents, "GenerateContentRequest")
    if found is not None:
        return found
    system = _get(body, "systemInstruction", "system_instruction")
    if isinstance(system, dict) and isinstance(system.get("parts"), list):
        for j, part in enumerate(system["parts"]):
            if isinstance(part, dict):
                bad = [
                    _unknown(k, f"system_instruction.parts[{j}]") for k in part if k not in _PART
                ]
                if bad:
                    return _from_violations(bad)
    assert isinstance(contents, list)  # _check_contents vouched for it
    return _check_turns(contents, model)


def check_count_tokens(body: Any, model: str) -> Invalid | None:
    """Validate a ``countTokens`` body (``contents`` or ``generateContentRequest``)."""
    if not isinstance(body, dict):
        return Invalid("Invalid JSON payload received. Expected an object.")
    inner = _get(body, "generateContentRequest", "generate_content_request")
    if isinstance(inner, dict):
        return check_generate(inner, model)
    return _check_contents(body.get("contents"), "CountTokensRequest")
