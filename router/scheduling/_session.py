"""Which conversation a request belongs to, for the ``sticky`` strategy.

Each client says it its own way (the fixtures in ``../shared/fixtures/clients``):

* Claude Code: ``X-Claude-Code-Session-Id``, and the same id as ``session_id``
  inside ``metadata.user_id`` (a JSON text; older versions wrote
  ``user_…_account_…_session_<uuid>``).
* Codex: the ``session-id`` header, and ``prompt_cache_key`` in the body (which
  other OpenAI clients may set too).
* Gemini CLI talking to the public API sends no session id; its
  ``x-gemini-api-privileged-user-id`` names the installation, not the
  conversation, so it only joins the fallback below.
* Anyone else: a hash of the client key and the conversation's opening (the
  system text and the first message), which stays the same turn after turn.

The key is a hash (never the client's text) and is computed only for rules
whose strategy is ``sticky``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["session_key"]

_HEADERS = ("x-claude-code-session-id", "session-id", "session_id", "conversation_id")
_OPENING_BYTES = 8192  # of each part: enough to tell conversations apart, a bounded cost


def session_key(body: Mapping[str, Any], headers: Mapping[str, str], client: str) -> str:
    """A short stable id of the conversation ``body`` continues."""
    for name in _HEADERS:
        value = headers.get(name)
        if value:
            return _hash("h", client, value)
    meta = body.get("metadata")
    if isinstance(meta, dict):
        found = _claude_session(meta.get("user_id"))
        if found:
            return _hash("m", client, found)
    cache_key = body.get("prompt_cache_key")
    if isinstance(cache_key, str) and cache_key:
        return _hash("p", client, cache_key)
    who = headers.get("x-gemini-api-privileged-user-id", "")
    return _hash("o", client, who, _opening(body))


def _claude_session(user_id: Any) -> str | None:
    if not isinstance(user_id, str) or not user_id:
        return None
    if user_id.startswith("{"):
        try:
            doc = orjson.loads(user_id)
        except orjson.JSONDecodeError:
            return None
        sid = doc.get("session_id") if isinstance(doc, dict) else None
        return sid if isinstance(sid, str) and sid else None
    _, sep, sid = user_id.rpartition("_session_")
    return sid if sep and sid else None


def _opening(body: Mapping[str, Any]) -> str:
    """The system text and the first message, whichever format the body is in (the
    start of each: a long system prompt must not hide the first message)."""
    system = _text([body.get("system"), body.get("instructions"), body.get("systemInstruction")])
    first: Any = None
    for name in ("messages", "input", "contents"):
        items = body.get(name)
        if isinstance(items, list) and items:
            first = items[0]
            break
        if isinstance(items, str):
            first = items
            break
    return system[:_OPENING_BYTES] + "\0" + _text(first)[:_OPENING_BYTES]


def _text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return repr(value)


def _hash(*parts: str) -> str:
    digest = hashlib.blake2b(digest_size=12)
    for part in parts:
        digest.update(part.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()
