"""Signatures tagged for another provider, taken out of a body passed through untranslated."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from router.formats import CODECS, Format, ir
from router.formats._common import export_signature
from router.formats._foreign import SIGNATURE_TAG, strip_foreign_signatures
from router.formats._gemini_parts import SKIP_SIGNATURE
from tests.fakes._anthropic_checks import check_messages_request
from tests.fakes._gemini_checks import check_generate
from tests.fakes._openai_checks import check_chat, check_responses

from ._loop import continue_conversation, initial_request, through, upstream_tool_reply
from ._support import CLIENT_FIXTURES, FORMATS, MODELS, fixture_body

ANTH = export_signature("SIGFROMCLAUDE", "anthropic", "openai")  # "zcpaANTH..."
GEMI = export_signature("SIGFROMGEMINI", "gemini", "anthropic")
RESP = export_signature("rs_1.gAAAA", "responses", "gemini")  # base64url behind the tag
ANTH_B64 = export_signature("SIGFROMCLAUDE", "anthropic", "gemini")


def _second_turn(client: str, upstream: str, stream: bool) -> dict[str, Any]:
    """The client's next request after ``upstream`` answered it through the IR."""
    first = initial_request(client)
    req = CODECS[client].request_to_ir(first)
    answer = through(client, upstream, upstream_tool_reply(upstream), req, stream)
    return continue_conversation(client, first, answer)


def _refusal(fmt: str, body: dict[str, Any]) -> object:
    """What the provider of ``fmt`` would say against ``body`` (the fakes' checks), or None."""
    if fmt == "anthropic":
        return check_messages_request(body)
    if fmt == "openai":
        return check_chat(body)
    if fmt == "responses":
        return check_responses(body)
    return check_generate(body, MODELS["gemini"])


def test_every_tag_starts_with_the_marker() -> None:
    for source in FORMATS:
        for target in FORMATS:
            if source != target:
                assert export_signature("x", source, target).encode().startswith(SIGNATURE_TAG)  # type: ignore[arg-type]


@pytest.mark.parametrize("fixture", list(CLIENT_FIXTURES))
def test_bodies_without_tags_are_left_alone(fixture: str) -> None:
    fmt = CLIENT_FIXTURES[fixture][0]
    assert strip_foreign_signatures(fmt, fixture_body(fixture)) is None


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("upstream", FORMATS)
@pytest.mark.parametrize("client", FORMATS)
def test_a_failover_to_the_clients_own_format(client: str, upstream: str, stream: bool) -> None:
    body = _second_turn(client, upstream, stream)
    before = copy.deepcopy(body)
    cleaned = strip_foreign_signatures(client, body)
    assert body == before  # pure
    if SIGNATURE_TAG not in orjson.dumps(body):
        assert cleaned is None
        return
    assert cleaned is not None and SIGNATURE_TAG not in orjson.dumps(cleaned)
    assert _refusal(client, cleaned) is None  # the client's own provider takes it
    # ... and hears what a translated request would have told it
    codec = CODECS[client]
    again = codec.request_from_ir(codec.request_to_ir(cleaned), "m", stream)
    assert again.data == codec.request_from_ir(codec.request_to_ir(body), "m", stream).data


def test_anthropic_blocks_go_and_thinking_turns_off_with_its_edits() -> None:
    own = {"type": "thinking", "thinking": "mine", "signature": "EqQBown"}
    body = {
        "model": "claude",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "context_management": {
            "edits": [{"type": "clear_thinking_20251015"}, {"type": "clear_tool_uses_20250919"}]
        },
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [own, {"type": "text", "text": "ok"}]},
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": GEMI}]},
            {"role": "user", "content": "again"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": GEMI},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
    }
    out = strip_foreign_signatures("anthropic", body)
    assert out is not None
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user", "user"] + [
        "assistant",
        "user",
    ]  # the turn that only held foreign thinking is gone
    assert out["messages"][1]["content"][0] == own  # its own signatures stay
    assert out["messages"][4]["content"] == [
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
    ]
    assert "thinking" not in out
    assert out["context_management"] == {"edits": [{"type": "clear_tool_uses_20250919"}]}


def test_anthropic_keeps_thinking_when_the_tool_turn_still_opens_with_it() -> None:
    body = {
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "", "signature": GEMI}],
            },
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "EqQBown"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                ],
            },
        ],
    }
    out = strip_foreign_signatures("anthropic", body)
    assert out is not None and out["thinking"] == body["thinking"]
    assert out["context_management"] == body["context_management"]
    body["messages"][3]["content"].pop(0)  # a tool turn without thinking, once cleaned
    out = strip_foreign_signatures("anthropic", body)
    assert out is not None and "thinking" not in out and "context_management" not in out


def test_chat_calls_lose_only_the_foreign_signature() -> None:
    def call(extra: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": "c", "type": "function", "function": {"name": "f"}}
        if extra is not None:
            out["extra_content"] = extra
        return out

    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    call({"google": {"thought_signature": ANTH}}),
                    call({"google": {"thought_signature": ANTH, "x": 1}, "y": 2}),
                    call({"google": {"thought_signature": "OWNSIG"}}),
                ],
            },
        ]
    }
    out = strip_foreign_signatures(Format.OPENAI, body)
    assert out is not None
    assert out["messages"][1]["tool_calls"] == [
        call(None),
        call({"google": {"x": 1}, "y": 2}),
        call({"google": {"thought_signature": "OWNSIG"}}),
    ]
    assert out["messages"][0] is body["messages"][0]  # what did not change is shared


def test_gemini_thoughts_go_and_calls_keep_a_signature() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "plan", "thought": True},
                    {"text": "", "thought": True, "thoughtSignature": RESP},
                    {"functionCall": {"name": "f", "args": {}}, "thought_signature": ANTH_B64},
                    {"functionCall": {"name": "g", "args": {}}},
                ],
            },
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
            {"role": "model", "parts": [{"text": "", "thoughtSignature": ANTH_B64}]},
            {"role": "model", "parts": [{"text": "ok", "thoughtSignature": "zcpaGEMIU0lH"}]},
        ]
    }
    out = strip_foreign_signatures("gemini", body)
    assert out is not None
    assert out["contents"][1]["parts"] == [
        {"text": "plan", "thought": True},
        {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SKIP_SIGNATURE},
        {"functionCall": {"name": "g", "args": {}}},
    ]
    assert len(out["contents"]) == 4  # the turn that only carried a foreign signature is gone
    assert out["contents"][3] is body["contents"][4]  # its own format's tag is no tag of ours


def test_responses_reasoning_items_go() -> None:
    own = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"}
    body = {
        "input": [
            {"role": "user", "content": "hi"},
            {"type": "reasoning", "id": "rs_x_0", "summary": [], "encrypted_content": ANTH},
            own,
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        ]
    }
    out = strip_foreign_signatures("responses", body)
    assert out is not None
    assert [i.get("type") for i in out["input"]] == [None, "reasoning", "function_call"]
    assert out["input"][1] is own
    assert strip_foreign_signatures("responses", {"input": "just text"}) is None


def test_odd_shapes_are_left_to_the_provider() -> None:
    for fmt, body in (
        ("anthropic", {"messages": [1, {"content": "x"}, {"content": [2, {"type": None}]}]}),
        ("openai", {"messages": [{"tool_calls": [3, {"extra_content": 4}]}]}),
        ("gemini", {"contents": [5, {"parts": [6, {"thoughtSignature": 7}]}]}),
        ("responses", {"input": [8]}),
        ("gemini", {}),
    ):
        assert strip_foreign_signatures(fmt, body) is None
    with pytest.raises(ValueError):
        strip_foreign_signatures("cohere", {})


def test_one_format_type_names_every_format() -> None:
    """Routing and the IR share one ``Format``: a body passed through is cleaned for
    the format it was routed as, with no name to translate in between. Its values
    are what logs, metrics and usage records carry, so they stay as they were."""
    assert Format is ir.Format
    assert [f.value for f in Format] == ["openai", "responses", "anthropic", "gemini"]
    tagged = export_signature("SIG", Format.ANTHROPIC, Format.OPENAI)
    body = {
        "messages": [{"tool_calls": [{"extra_content": {"google": {"thought_signature": tagged}}}]}]
    }
    for fmt in (Format.OPENAI, "openai"):  # a value read from a log names it too
        assert strip_foreign_signatures(fmt, body) == {"messages": [{"tool_calls": [{}]}]}
