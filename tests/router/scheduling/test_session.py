"""The sticky key of a conversation, from what each client really sends."""

from __future__ import annotations

import importlib
from pathlib import Path

import orjson
import pytest
from multidict import CIMultiDict

from router.scheduling import session_key

FIXTURES = Path("/work/shared/fixtures/clients")


def _load(name: str) -> tuple[dict, CIMultiDict[str]]:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    doc = orjson.loads(path.read_bytes())
    return doc["body"], CIMultiDict(doc["headers"])


def test_claude_code_turns_share_a_key_from_the_header_or_the_metadata() -> None:
    b1, h1 = _load("claude-code/turn1-request.json")
    b2, h2 = _load("claude-code/turn2-request.json")
    assert session_key(b1, h1, "c") == session_key(b2, h2, "c")
    del h1["X-Claude-Code-Session-Id"], h2["X-Claude-Code-Session-Id"]
    assert session_key(b1, h1, "c") == session_key(b2, h2, "c")  # metadata.user_id
    other = {**b1, "metadata": {"user_id": '{"session_id": "another"}'}}
    assert session_key(other, h1, "c") != session_key(b1, h1, "c")
    assert session_key(b1, h1, "c") != session_key(b1, h1, "another client")


def test_codex_session_header_and_prompt_cache_key() -> None:
    body, headers = _load("codex/turn1-request.json")
    key = session_key(body, headers, "c")
    del headers["session-id"]
    assert session_key(body, headers, "c") != ""
    assert session_key({"prompt_cache_key": "x"}, {}, "c") != session_key(
        {"prompt_cache_key": "y"}, {}, "c"
    )
    assert key


def test_other_clients_are_told_apart_by_their_opening() -> None:
    body, headers = _load("gemini-cli/turn1-request.json")
    first = session_key(body, headers, "c")
    later = {**body, "contents": [*body["contents"], {"role": "model", "parts": [{"text": "x"}]}]}
    assert session_key(later, headers, "c") == first  # the same conversation, a turn later
    new = {**body, "contents": [{"role": "user", "parts": [{"text": "something else"}]}]}
    assert session_key(new, headers, "c") != first


def test_public_surface() -> None:
    module = importlib.import_module("router.scheduling")
    assert list(module.__all__) == sorted(module.__all__)
    assert all(hasattr(module, name) for name in module.__all__)
