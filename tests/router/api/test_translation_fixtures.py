"""Real captured client requests, sent through the router to every *other*
upstream format and accepted by the validating fakes.

Claude Code turns 1 and 2 (12 tools, a tool_use/tool_result pair), Codex
CLI's first Responses request (function, namespace and built-in tools,
developer messages) and Gemini CLI's two requests (a JSON-schema router call
and an agent turn with 8 tools). Each is sent as captured (model name aside);
the test then checks a few facts on what the fake received and that the
answer is a well-formed stream or body in the client's format.
"""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.fakes import Reply

from ._matrix import FIXTURES, KEY, calls_sent, results_sent, start_matrix, text_of

_HOP = {"content-length", "accept-encoding", "connection", "host"}
_AUTH = {"anthropic": "x-api-key", "responses": "Authorization", "gemini": "x-goog-api-key"}
CASES = [
    ("claude-code/turn1-request.json", "anthropic", ("chat", "responses", "gemini")),
    ("claude-code/turn2-request.json", "anthropic", ("chat", "responses", "gemini")),
    ("codex/turn1-request.json", "responses", ("anthropic", "chat", "gemini")),
    ("gemini-cli/router-request.json", "gemini", ("anthropic", "chat", "responses")),
    ("gemini-cli/turn1-request.json", "gemini", ("anthropic", "chat", "responses")),
]
PARAMS = [(name, client, up) for name, client, ups in CASES for up in ups]


@pytest.fixture
async def matrix(start_router):
    async with AsyncExitStack() as stack:
        yield await start_matrix(start_router, stack)


def tool_names(upstream: str, body: dict[str, Any]) -> list[str]:
    """Names of the function tools offered in ``body``."""
    up = upstream.removesuffix("-3")
    tools = body.get("tools") or []
    if up == "anthropic":
        return [t["name"] for t in tools if "name" in t]
    if up == "chat":
        return [t["function"]["name"] for t in tools if t.get("type") == "function"]
    if up == "responses":
        return [t["name"] for t in tools if t.get("type") == "function"]
    return [
        d["name"]
        for t in tools
        for d in t.get("functionDeclarations", t.get("function_declarations", []))
    ]


def system_text(upstream: str, body: dict[str, Any]) -> str:
    """All system / developer instruction text in ``body``."""
    up = upstream.removesuffix("-3")
    if up == "anthropic":
        return text_of(body.get("system"))
    if up == "chat":
        return "".join(
            text_of(m["content"]) for m in body["messages"] if m["role"] in ("system", "developer")
        )
    if up == "responses":
        items = body["input"] if isinstance(body["input"], list) else []
        rest = "".join(
            text_of(i.get("content")) for i in items if i.get("role") in ("system", "developer")
        )
        return (body.get("instructions") or "") + rest
    system = body.get("systemInstruction", body.get("system_instruction")) or {}
    return "".join(p.get("text", "") for p in system.get("parts", []))


def _load(name: str) -> dict[str, Any]:
    captured: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return captured


async def _send(url: str, captured: dict[str, Any], client: str, upstream: str) -> httpx.Response:
    body = dict(captured["body"])
    path: str = captured["path"]
    if client == "gemini":
        model = path.split("/models/")[1].split(":")[0]
        path = path.replace(f"/models/{model}:", f"/models/via-{upstream}:")
    else:
        body["model"] = f"via-{upstream}"
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in _HOP}
    headers[_AUTH[client]] = f"Bearer {KEY}" if client == "responses" else KEY
    async with httpx.AsyncClient(timeout=15) as http:
        return await http.post(f"{url}{path}", json=body, headers=headers)


def _sse(text: str) -> list[tuple[str, Any]]:
    """``(event name, parsed data)`` of every SSE frame."""
    out: list[tuple[str, Any]] = []
    for frame in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "", []
        for line in frame.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        if data:
            out.append((event, json.loads("\n".join(data))))
    return out


def _answer_text(client: str, resp: httpx.Response, stream: bool) -> str:
    """The answer's text, after checking it is complete in the client's format."""
    if client == "gemini" and not stream:
        body = resp.json()
        assert body["candidates"][0]["finishReason"] == "STOP"
        return "".join(p.get("text", "") for p in body["candidates"][0]["content"]["parts"])
    frames = _sse(resp.text)
    assert frames, resp.text
    if client == "anthropic":
        names = [e for e, _ in frames]
        assert names[0] == "message_start" and names[-1] == "message_stop", names
        assert "error" not in names
        return "".join(d["delta"].get("text", "") for e, d in frames if e == "content_block_delta")
    if client == "responses":
        assert frames[-1][0] == "response.completed", [e for e, _ in frames]
        return "".join(d["delta"] for e, d in frames if e == "response.output_text.delta")
    datas = [d for _, d in frames]
    assert all("error" not in d for d in datas), datas
    assert datas[-1]["candidates"][0]["finishReason"] == "STOP"
    return "".join(
        p.get("text", "")
        for d in datas
        for c in d["candidates"]
        for p in c["content"].get("parts", [])
    )


def _user_texts(client: str, body: dict[str, Any]) -> list[str]:
    """The user's own words in a captured request (the last text of each user turn)."""
    if client == "anthropic":
        turns = [m["content"] for m in body["messages"] if m["role"] == "user"]
        return [b["text"] for t in turns for b in t if b.get("type") == "text"][-1:]
    if client == "responses":
        return [c["text"] for i in body["input"] if i.get("role") == "user" for c in i["content"]][
            -1:
        ]
    return [
        p["text"]
        for c in body["contents"]
        if c.get("role", "user") == "user"
        for p in c["parts"]
        if "text" in p
    ]


def _appears(text: str, body: dict[str, Any]) -> bool:
    snippet = text.strip()[:60]
    return json.dumps(snippet)[1:-1] in json.dumps(body)


def _expected_tools(client: str, body: dict[str, Any]) -> list[str]:
    """Function tools a translation must keep (Responses namespaces flattened:
    one tool per member; built-in tools such as web_search have no equivalent)."""
    if client == "anthropic":
        return [t["name"] for t in body["tools"]]
    if client == "responses":
        names = []
        for t in body["tools"]:
            if t["type"] == "function":
                names.append(t["name"])
            elif t["type"] == "namespace":
                names += [m["name"] for m in t["tools"]]
        return names
    return [d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]


@pytest.mark.parametrize(
    ("name", "client", "upstream"),
    PARAMS,
    ids=[f"{n.split('-request')[0]}-to-{u}" for n, _, u in PARAMS],
)
async def test_captured_request_reaches_every_other_upstream(
    matrix, name: str, client: str, upstream: str
) -> None:
    captured = _load(name)
    body = captured["body"]
    stream = bool(body.get("stream")) or "streamGenerateContent" in captured["path"]
    matrix.fake(upstream).enqueue(Reply(text="On it: all files listed."))

    resp = await _send(matrix.url, captured, client, upstream)

    assert resp.status_code == 200, resp.text
    assert _answer_text(client, resp, stream) == "On it: all files listed."
    sent = matrix.received(upstream)
    assert len(sent) == 1
    got = sent[0]

    expected = _expected_tools(client, body)
    names = tool_names(upstream, got)
    assert len(names) == len(expected), names
    for tool in expected:  # namespaced members may be renamed, never dropped
        assert any(n == tool or n.endswith(tool) for n in names), (tool, names)

    for text in _user_texts(client, body):
        assert _appears(text, got), text
    system = system_text(upstream, got)
    marker = {
        "claude-code": "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
        "codex/": "You are a coding agent running in the Codex CLI",
        "router-request": "You are a specialized Task Routing AI.",
        "gemini-cli/turn1": "You are Gemini CLI, an autonomous CLI agent",
    }
    assert next(m for k, m in marker.items() if k in name) in system, system[:300]


@pytest.mark.parametrize("upstream", ["chat", "responses", "gemini"])
async def test_claude_code_tool_result_stays_paired(matrix, upstream: str) -> None:
    resp = await _send(matrix.url, _load("claude-code/turn2-request.json"), "anthropic", upstream)
    assert resp.status_code == 200, resp.text
    got = matrix.received(upstream)[0]
    calls = calls_sent(upstream, got)
    results = results_sent(upstream, got)
    assert [(name, args) for _, name, args in calls] == [
        ("Bash", {"command": "ls -1", "description": "List files"})
    ]
    assert len(results) == 1 and results[0][1].startswith("a.txt")
    if upstream == "gemini":
        assert results[0][0] == "Bash"
    else:
        assert calls[0][0] == results[0][0] == "toolu_01"


@pytest.mark.parametrize("upstream", ["chat", "responses"])
async def test_gemini_cli_json_schema_becomes_structured_output(matrix, upstream: str) -> None:
    captured = _load("gemini-cli/router-request.json")
    resp = await _send(matrix.url, captured, "gemini", upstream)
    assert resp.status_code == 200, resp.text
    got = matrix.received(upstream)[0]
    wanted = captured["body"]["generationConfig"]["responseJsonSchema"]
    fmt = got["response_format"] if upstream == "chat" else got["text"]["format"]
    assert fmt["type"] == "json_schema"
    schema = fmt["json_schema"]["schema"] if upstream == "chat" else fmt["schema"]
    assert set(schema["properties"]) == set(wanted["properties"])
    # Gemini's upper-case type names are not JSON Schema: OpenAI wants "object", "string"...
    assert schema["type"] == "object"
    assert {p["type"] for p in schema["properties"].values()} == {"string", "integer"}
