"""The fast check of a body (``router.api._head``) is never looser than the endpoint's own.

For every body the fuzzer makes (a real client's body with one or two places
broken, bytes that are not JSON, not UTF-8, lone surrogates, NaN, integers past
64 bits, deep nests), whatever the fast check vouches for must pass the slow
check (the full parse and the endpoint's ``_checked``; not the nesting limit,
which guards only what the router builds) with the same model and ``stream``. The real bodies must pass the fast check, or it would vouch for
nothing and every body would go the slow way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.api import _anthropic, _gemini, _openai, _responses
from router.api._head import CHAT, GEMINI, MESSAGES, RESPONSES, Shape, fast_head
from router.errors import BadRequest
from tests.router.api._fuzz_bodies import SEEDS, as_bytes, bodies

_KINDS: dict[str, tuple[Shape, Callable[[dict[str, Any]], tuple[str, bool]]]] = {
    "messages": (MESSAGES, _anthropic._checked),
    "chat": (CHAT, _openai._checked),
    "responses": (RESPONSES, _responses._checked),
    "gemini": (GEMINI, _gemini._checked),
}


def _slow(kind: str, raw: bytes) -> tuple[str, bool] | None:
    """The slow way, but for the nesting limit: that one guards what the router builds
    and writes, and a body relayed as sent is neither (docs/performance.md)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    try:
        return _KINDS[kind][1](body)
    except BadRequest:
        return None


@pytest.mark.parametrize("kind", sorted(_KINDS))
def test_real_bodies_pass_the_fast_check(kind: str) -> None:
    for seed in SEEDS[kind]:
        raw = as_bytes(seed)
        head = fast_head(_KINDS[kind][0], raw)
        assert head is not None, seed
        assert (head.model, head.stream) == _slow(kind, raw)


@pytest.mark.parametrize("kind", sorted(_KINDS))
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_check_never_vouches_for_what_the_slow_one_refuses(
    kind: str, data: st.DataObject
) -> None:
    raw = data.draw(bodies(kind))
    head = fast_head(_KINDS[kind][0], raw)
    if head is not None:
        assert (head.model, head.stream) == _slow(kind, raw), raw[:300]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\xff"}]}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\xc3("}]}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\\ud800"}]}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}],"t":NaN}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}],"t":1e400}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}]} x',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"\x01"}]}',
        b'{"model":"m","max_tokens":true,"messages":[{"role":"user","content":"a"}]}',
        b'{"model":"m","max_tokens":5.0,"messages":[{"role":"user","content":"a"}]}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":{}}]}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"a"}]}',
        b'{"model":"m","max_tokens":5,"messages":[],"stream":true}',
        b'{"model":"","max_tokens":5,"messages":[{"role":"user","content":"a"}]}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}],"stream":1}',
        b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}],"x":'
        + b"[" * 1100
        + b"]" * 1100
        + b"}",
    ],
)
def test_what_the_fast_check_refuses(raw: bytes) -> None:
    assert fast_head(MESSAGES, raw) is None


def test_a_document_kept_past_its_check_does_not_break_the_next() -> None:
    """The parser's document must be gone before the next parse; if one ever is not
    (a bug keeping a reference), the next body gets a fresh parser, not an error."""
    from router.api import _head

    kept = _head._READER.parser.parse(b'{"a": [1]}')
    raw = b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"a"}]}'
    head = fast_head(MESSAGES, raw)
    assert head is not None and head.model == "m" and head.stream is False
    assert kept["a"][0] == 1  # the old document is intact: it has its old parser


def test_a_huge_body_leaves_no_buffers_behind() -> None:
    """The shared parser keeps buffers about five times the biggest body it read: a body
    far past what agents send is read by a parser of its own, gone with it."""
    import gc

    import psutil

    text = "x" * 60
    body = (
        b'{"model":"m","max_tokens":5,"messages":['
        + b",".join(b'{"role":"user","content":"%s"}' % text.encode() for _ in range(200_000))
        + b"]}"
    )
    assert len(body) > 12_000_000
    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    head = fast_head(MESSAGES, body)
    assert head is not None and head.model == "m"
    gc.collect()
    kept = proc.memory_info().rss - before
    assert kept < 25_000_000, f"{kept / 1e6:.0f} MB kept after a {len(body) / 1e6:.0f} MB body"


def _turns(*assistant: dict[str, Any], user: Any = "hi") -> bytes:
    return orjson.dumps(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [
                {"role": "user", "content": user},
                {"role": "assistant", "content": list(assistant)},
                {"role": "user", "content": "go on"},
            ],
        }
    )


def test_the_fast_check_finds_signatures_tagged_for_another_provider() -> None:
    """Passthrough strips signatures tagged for another provider only when the fast check
    says the body holds one (or did not look): it must find every one the cleaner does,
    in a thinking block and in a redacted one, wherever they sit in the turn."""
    from router.formats import Format, strip_foreign_signatures
    from router.formats._common import export_signature

    foreign = export_signature("sig-by-gemini", "gemini", "anthropic")
    text = {"type": "text", "text": "zcpa in prose is no signature"}
    tool = {"type": "tool_use", "id": "t1", "name": "ls", "input": {"signature": foreign}}
    cases = {
        _turns(text, tool): False,
        _turns({"type": "thinking", "thinking": "t", "signature": "native"}, tool): False,
        _turns({"type": "thinking", "thinking": "t", "signature": foreign}, tool): True,
        _turns(text, {"type": "redacted_thinking", "data": foreign}): True,
        _turns(text, "not a block", {"type": "thinking", "signature": foreign}): True,
    }
    for raw, tagged in cases.items():
        head = fast_head(MESSAGES, raw)
        assert head is not None and head.tagged is tagged, raw
        stripped = strip_foreign_signatures(Format.ANTHROPIC, orjson.loads(raw))
        assert (stripped is not None) is tagged, raw


@pytest.mark.parametrize("shape", [CHAT, RESPONSES, GEMINI])
def test_other_formats_leave_the_tag_to_the_byte_search(shape: Shape) -> None:
    for seed in SEEDS[{CHAT: "chat", RESPONSES: "responses", GEMINI: "gemini"}[shape]]:
        head = fast_head(shape, as_bytes(seed))
        assert head is not None and head.tagged is None
