"""What the fuzzer sends: valid seed bodies per client format, and the ways to break them.

Random JSON alone rarely gets past the first check of a handler, so most
examples start from a body that the router would serve (every content part,
tool call, tool result, schema and sampling parameter a client sends) and
break one or two places in it: a value of the wrong type, a number out of
range, a missing key, a 100-400-level nest, a lone surrogate, NaN. The rest
are bytes that are not JSON (truncated, a byte flipped, not UTF-8) or no
object at all. Bodies are written with the standard ``json`` module because
it, unlike orjson, writes what a hostile client can: ``NaN``, ``Infinity``,
``\\ud800`` and integers past 64 bits.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "EMBED_MODELS",
    "MODELS",
    "SEEDS",
    "as_bytes",
    "bodies",
    "header_values",
    "nest",
    "query_values",
]

#: Model names: one per upstream (routing in test_fuzz), an aliased one, unknown ones.
MODELS = (
    "claude-sonnet-4-5",
    "gpt-4o",
    "gpt-5",
    "gemini-2.5-flash",
    "alias-chat",
    "unknown-model",
)
#: Embedding models: OpenAI's, Gemini's (each reached from the other format too), unknown.
EMBED_MODELS = ("text-embedding-3-small", "gemini-embedding-001", "gpt-4o", "unknown-model")

_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name", "minLength": 1},
        "unit": {"type": "string", "enum": ["c", "f"]},
        "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 7},
        "where": {"$ref": "#/$defs/place"},
    },
    "required": ["city"],
    "additionalProperties": False,
    "$defs": {"place": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
}
_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

CHAT = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris? Here is a map."},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{_PNG}"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
        {"role": "user", "content": "And tomorrow?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather.", "parameters": _SCHEMA},
        }
    ],
    "tool_choice": "auto",
    "max_tokens": 200,
    "temperature": 0.5,
    "top_p": 0.9,
    "stop": ["END"],
    "seed": 7,
    "user": "fuzz-user",
}

RESPONSES = {
    "model": "gpt-5",
    "instructions": "Be brief.",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Weather in Paris? Here is a map."},
                {"type": "input_image", "image_url": f"data:image/png;base64,{_PNG}"},
            ],
        },
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "get_weather",
            "arguments": '{"city": "Paris"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21 C"},
        {"role": "user", "content": "And tomorrow?"},
    ],
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather.",
            "parameters": _SCHEMA,
        }
    ],
    "tool_choice": "auto",
    "max_output_tokens": 200,
    "reasoning": {"effort": "low"},
    "text": {"format": {"type": "text"}},
}

ANTHROPIC = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 200,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather in Paris? Here is a map."},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": _PNG},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "P"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "text", "text": "sunny, 21 C"}],
                },
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ],
    "tools": [{"name": "get_weather", "description": "Weather.", "input_schema": _SCHEMA}],
    "tool_choice": {"type": "auto"},
    "temperature": 0.5,
    "top_k": 40,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "fuzz-user"},
}

GEMINI = {
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "contents": [
        {
            "role": "user",
            "parts": [
                {"text": "Weather in Paris? Here is a map."},
                {"inlineData": {"mimeType": "image/png", "data": _PNG}},
            ],
        },
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "P"}}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}},
                {"text": "And tomorrow?"},
            ],
        },
    ],
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather.",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
    "generationConfig": {
        "temperature": 0.5,
        "topP": 0.9,
        "topK": 40,
        "maxOutputTokens": 200,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinkingBudget": 512},
    },
}

_COUNT = {k: v for k, v in ANTHROPIC.items() if k not in ("max_tokens", "stop_sequences")}

#: Seeds by kind of endpoint (what its handler expects).
SEEDS: dict[str, tuple[dict[str, Any], ...]] = {
    "chat": (CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    "responses": (RESPONSES, {"model": "gpt-5", "input": "hi"}),
    "messages": (
        ANTHROPIC,
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ),
    "count_tokens": (
        _COUNT,
        {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "gemini": (GEMINI, {"contents": [{"parts": [{"text": "hi"}]}]}),
    "gemini_count": (
        {"contents": GEMINI["contents"]},
        {"generateContentRequest": {"model": "models/gemini-2.5-flash", **GEMINI}},
    ),
    "embeddings": (
        {"model": "text-embedding-3-small", "input": ["hello", "world"]},
        {"model": "text-embedding-3-small", "input": "hi", "encoding_format": "float"},
    ),
    "gemini_embed": (
        {"content": {"parts": [{"text": "hello"}, {"text": "world"}]}},
        {"content": {"parts": [{"text": "hi"}]}, "taskType": "RETRIEVAL_DOCUMENT"},
    ),
    "gemini_batch_embed": (
        {
            "requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}},
            ]
        },
    ),
    "login": ({"provider": "claude", "mode": "paste"}, {"provider": "codex", "mode": "paste"}),
    "code": ({"code": "abc#state"}, {"url": "http://localhost:1/callback?code=a&state=b"}),
    "ctonew": ({"cookie": "__client=eyJhbGciOi.x.y"},),
    "none": ({},),
}


def nest(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 3 == 2 else {"n": value}
    return value


#: Odd values, each one draw (a sampled list is far cheaper to generate than a
#: composed strategy, and these are the values that find bugs).
_ODD = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        1e20,
        -1e20,
        1e308,
        -1e308,
        2**63,
        2**64 + 1,
        -(2**63) - 1,
        2**70,
        0.5,
        -0.0,
        5e-324,
        float("nan"),
        float("inf"),
        float("-inf"),
        "",
        " ",
        "\ud800",
        "a\udc80b",
        "\x00",
        "\u202e",
        "😀😀",
        "x" * 5000,
        "null",
        "{}",
        [],
        {},
        [None],
        {"": None},
        {"type": None},
        {"type": "text"},
        [{"type": "text"}],
    ]
)
_SCALARS = _ODD | st.integers(-(2**72), 2**72) | st.floats() | st.text(max_size=12)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["type", "text", "role", "", "a"]), inner, max_size=3)
    ),
    max_leaves=4,
)
#: A value to put where a known field was: any JSON type, odd numbers and strings, deep nests.
replacements = st.one_of(_ODD, _ODD, _SCALARS, _JSON, st.integers(100, 400).map(nest))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return out
    for key, sub in items:
        path = (*prefix, key)
        out.append(path)
        out.extend(_paths(sub, path))
    return out


def _parent(body: Any, path: tuple[Any, ...]) -> Any:
    node = body
    for key in path[:-1]:
        node = node[key]
    return node


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    """A seed of ``kind`` with up to two fields broken, and a model and stream flag."""
    body: Any = json.loads(json.dumps(draw(st.sampled_from(SEEDS[kind]))))
    if "model" in body:
        models = EMBED_MODELS if kind == "embeddings" else MODELS
        body["model"] = draw(st.sampled_from(models) | st.text(max_size=12))
    if kind in ("chat", "responses", "messages") and draw(st.booleans()):
        body["stream"] = True
        if kind == "chat":
            body["stream_options"] = {"include_usage": True}
    for _ in range(draw(st.integers(0, 2))):
        paths = _paths(body)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(body, path)
        op = draw(st.sampled_from(("replace", "replace", "replace", "delete", "extra")))
        # A copy: the sampled odd values are shared, and a later mutation may go inside.
        value = copy.deepcopy(draw(replacements))
        if op == "delete":
            del parent[path[-1]]
        elif op == "extra" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = value
        else:
            parent[path[-1]] = value
    return body


def as_bytes(body: Any) -> bytes:
    """JSON text as a hostile client may write it (NaN, lone surrogates, big integers)."""
    try:
        return json.dumps(body, allow_nan=True).encode()
    except RecursionError:
        return b"[" * 5000


@st.composite
def _broken_json(draw: st.DrawFn, kind: str) -> bytes:
    raw = as_bytes(draw(st.sampled_from(SEEDS[kind])))
    at = draw(st.integers(0, max(0, len(raw) - 1)))
    how = draw(st.sampled_from(("cut", "byte", "insert")))
    if how == "cut":
        return raw[:at]
    byte = draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"{", b'"', b"\\", b"\xed\xa0\x80"]))
    if how == "byte":
        return raw[:at] + byte + raw[at + 1 :]
    return raw[:at] + byte + raw[at:]


def bodies(kind: str) -> st.SearchStrategy[bytes]:
    """Request bodies for an endpoint that expects ``kind`` (see SEEDS)."""
    return st.one_of(
        mutated(kind).map(as_bytes),
        mutated(kind).map(as_bytes),
        mutated(kind).map(as_bytes),
        _broken_json(kind),
        _JSON.map(as_bytes),
        st.binary(max_size=64),
        st.integers(100, 1100).map(lambda n: b"[" * n + b"]" * n),
        st.integers(100, 1100).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )


#: Header values: printable text, and bytes that are not UTF-8 (obs-text), never CR/LF.
header_values = st.one_of(
    st.sampled_from(
        [
            b"",
            b"application/json",
            b"text/plain",
            b"2023-06-01",
            b"Bearer",
            b"Bearer ",
            b"x" * 2000,
            b"\xff\xfe",
            b"Bearer \xe9\xe8",
            b"\xed\xa0\x80",
            b"sk-\x80\x81",
            b"\x7f",
            b"\x01",
            b"a\tb",
        ]
    ),
    # Printable ASCII and obs-text (0x80-0xff, not UTF-8 on its own): what a parser passes on.
    st.binary(max_size=12).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F).strip()),
)
query_values = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "-1", "0", "9999-12-31", "0001-01-01", "x"]),
)
