"""Signatures this gateway tagged, found again in a body it passes through.

A client once served by another format's provider holds that provider's
signatures, tagged by :func:`~._common.export_signature`. Translated, such a
request loses them (:func:`~._common.replayable`); passed through untranslated
to the client's own provider (after a failover, say), they would make it
answer 400. :func:`strip_foreign_signatures` takes them out of the raw body
the way the format allows, as the request translators do:

* Anthropic: the ``thinking`` / ``redacted_thinking`` block goes (a turn left
  empty goes too); when the last assistant turn of a tool loop then no longer
  opens with thinking, thinking is turned off, with the ``clear_thinking``
  context edits that need it.
* Chat: the tool call loses its ``extra_content.google.thought_signature``.
* Gemini: a thought part goes; another part only loses its signature (an
  empty text part that only carried one goes). A turn whose first call is
  left unsigned gets Google's skip value, as translated requests do.
* Responses: the ``reasoning`` item goes (stateless, it cannot be replayed
  without its ``encrypted_content``).

The body is never changed in place: what changes is copied, the rest shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._common import SIGNATURE_TAG, import_signature
from ._gemini_parts import SKIP_SIGNATURE
from .ir import Format

__all__ = ["SIGNATURE_TAG", "strip_foreign_signatures"]

Body = Mapping[str, Any]


def strip_foreign_signatures(fmt: Format, body: Body) -> dict[str, Any] | None:
    """``body`` (a request of format ``fmt``) without the signatures tagged for
    another provider; None when it holds none.

    Callers test ``SIGNATURE_TAG in raw`` first: without it there is nothing to
    find. A name that is no format raises ``ValueError``.
    """
    return _CLEANERS[Format(fmt)](body)


def _foreign(signature: object, fmt: Format) -> bool:
    """A signature this gateway tagged for a provider of another format."""
    return isinstance(signature, str) and import_signature(signature, fmt)[1] != fmt


Clean = Callable[[Any], tuple[Any, bool]]  # item -> (the item, new or None to drop; changed?)


def _each(items: list[Any], clean: Clean) -> tuple[list[Any], bool]:
    """``items`` through ``clean``: the new list and whether anything changed."""
    out: list[Any] = []
    changed = False
    for item in items:
        new, touched = clean(item)
        changed = changed or touched
        if new is not None:
            out.append(new)
    return out, changed


def _cleaned(body: Body, key: str, clean: Clean) -> dict[str, Any] | None:
    """``body`` with its list under ``key`` through ``clean``; None when nothing changed."""
    items = body.get(key)
    if not isinstance(items, list):
        return None
    items, changed = _each(items, clean)
    return {**body, key: items} if changed else None


# --------------------------------------------------------------------------- Anthropic


def _anthropic(body: Body) -> dict[str, Any] | None:
    out = _cleaned(body, "messages", _anthropic_message)
    if out is None:
        return None
    thinking = out.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") != "disabled":
        if not _thinking_fits(out["messages"]):
            del out["thinking"]
            _drop_thinking_edits(out)
    return out


def _anthropic_message(m: Any) -> tuple[Any, bool]:
    content = m.get("content") if isinstance(m, Mapping) else None
    if not isinstance(content, list):
        return m, False
    kept = [b for b in content if not _anthropic_foreign(b)]
    if len(kept) == len(content):
        return m, False
    return ({**m, "content": kept} if kept else None), True


def _anthropic_foreign(block: Any) -> bool:
    if not isinstance(block, Mapping):
        return False
    kind = block.get("type")
    if kind == "thinking":
        return _foreign(block.get("signature"), Format.ANTHROPIC)
    return kind == "redacted_thinking" and _foreign(block.get("data"), Format.ANTHROPIC)


def _thinking_fits(messages: list[Any]) -> bool:
    """The last assistant turn of a tool loop opens with thinking (see ``anthropic``)."""
    for m in reversed(messages):
        if isinstance(m, Mapping) and m.get("role") == "assistant":
            content = m.get("content")
            if not isinstance(content, list) or not any(
                isinstance(b, Mapping) and b.get("type") == "tool_use" for b in content
            ):
                return True
            first = content[0]
            return isinstance(first, Mapping) and first.get("type") in (
                "thinking",
                "redacted_thinking",
            )
    return True


def _drop_thinking_edits(body: dict[str, Any]) -> None:
    cm = body.get("context_management")
    edits = cm.get("edits") if isinstance(cm, Mapping) else None
    if not isinstance(cm, Mapping) or not isinstance(edits, list):
        return
    kept = [
        e
        for e in edits
        if not (isinstance(e, Mapping) and str(e.get("type", "")).startswith("clear_thinking"))
    ]
    if len(kept) == len(edits):
        return
    if kept:
        body["context_management"] = {**cm, "edits": kept}
    else:
        rest = _without(cm, "edits")
        if rest:
            body["context_management"] = rest
        else:
            del body["context_management"]


# --------------------------------------------------------------------------- Chat


def _chat_message(m: Any) -> tuple[Any, bool]:
    calls = m.get("tool_calls") if isinstance(m, Mapping) else None
    if not isinstance(calls, list):
        return m, False
    calls, changed = _each(calls, _chat_call)
    return ({**m, "tool_calls": calls} if changed else m), changed


def _chat_call(call: Any) -> tuple[Any, bool]:
    extra = call.get("extra_content") if isinstance(call, Mapping) else None
    if not isinstance(extra, Mapping):
        return call, False
    google = extra.get("google")
    if not isinstance(google, Mapping) or not _foreign(
        google.get("thought_signature"), Format.OPENAI
    ):
        return call, False
    google = _without(google, "thought_signature")
    extra = {**extra, "google": google} if google else _without(extra, "google")
    return ({**call, "extra_content": extra} if extra else _without(call, "extra_content")), True


def _without(m: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k != key}


# --------------------------------------------------------------------------- Gemini

_GEMINI_SIGNATURE_KEYS = ("thoughtSignature", "thought_signature")


def _gemini_content(content: Any) -> tuple[Any, bool]:
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list):
        return content, False
    parts, changed = _each(parts, _gemini_part)
    if not changed:
        return content, False
    calls = [
        i
        for i, p in enumerate(parts)
        if isinstance(p, Mapping) and ("functionCall" in p or "function_call" in p)
    ]
    if calls and not any(k in parts[calls[0]] for k in _GEMINI_SIGNATURE_KEYS):
        parts[calls[0]] = {**parts[calls[0]], "thoughtSignature": SKIP_SIGNATURE}
    return ({**content, "parts": parts} if parts else None), True


def _gemini_part(part: Any) -> tuple[Any, bool]:
    if not isinstance(part, Mapping):
        return part, False
    key = next((k for k in _GEMINI_SIGNATURE_KEYS if _foreign(part.get(k), Format.GEMINI)), None)
    if key is None:
        return part, False
    if part.get("thought") is True:
        return None, True  # a thought goes with its signature
    rest = _without(part, key)
    return (None if rest == {"text": ""} else rest), True  # an empty text only carried it


# --------------------------------------------------------------------------- Responses


def _responses_item(item: Any) -> tuple[Any, bool]:
    foreign = (
        isinstance(item, Mapping)
        and item.get("type") == "reasoning"
        and _foreign(item.get("encrypted_content"), Format.RESPONSES)
    )
    return (None, True) if foreign else (item, False)


_CLEANERS: dict[Format, Callable[[Body], dict[str, Any] | None]] = {
    Format.ANTHROPIC: _anthropic,
    Format.OPENAI: lambda body: _cleaned(body, "messages", _chat_message),
    Format.GEMINI: lambda body: _cleaned(body, "contents", _gemini_content),
    Format.RESPONSES: lambda body: _cleaned(body, "input", _responses_item),
}
