"""What every client format says on the wire besides its payloads.

The marks that end a stream and where usage is found, per format (error
bodies and error events are in ``_errors``). Pure functions and small state
machines: no I/O happens here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from .ir import Format

__all__ = [
    "StreamWatcher",
    "TokenUsage",
    "first_model",
    "replace_model",
    "usage_from_body",
]


@dataclass(slots=True)
class TokenUsage:
    input: int = 0
    output: int = 0  # includes reasoning
    cached: int = 0
    reasoning: int = 0


# A stream is complete when one of these marks has been seen.
_TERMINATORS: dict[Format, tuple[bytes, ...]] = {
    Format.OPENAI: (b"data: [DONE]", b"data:[DONE]"),
    Format.ANTHROPIC: (b"message_stop",),
    Format.GEMINI: (b'"finishReason"',),
    Format.RESPONSES: (b"response.completed", b"response.failed", b"response.incomplete"),
}
# An error the upstream itself sent also ends the stream: the client has its answer.
_ERROR_MARKS: dict[Format, tuple[bytes, ...]] = {
    Format.OPENAI: (b'"error"',),
    Format.ANTHROPIC: (b"event: error", b"event:error"),
    Format.GEMINI: (b'"error"',),
    Format.RESPONSES: (b"event: error", b"response.failed"),
}
_USAGE_MARK: dict[Format, bytes] = {
    Format.OPENAI: b'"usage":{',
    Format.ANTHROPIC: b'"usage":',
    Format.GEMINI: b'"usageMetadata"',
    Format.RESPONSES: b'"usage":{',
}
_TAIL = 32
# Bytes of relayed reads looked at together: a stream comes in dozens of small reads,
# and scanning each one on its own cost more than relaying it (about 1.6 us a read).
_BATCH = 4096
_SEQUENCE = b'"sequence_number":'
_CREATED = b'"response.created"'


class StreamWatcher:
    """Watches a relayed stream without parsing every event.

    It answers three questions cheaply: did the upstream send its format's end
    mark (so a silent close can be told from a finished answer), did it end in
    an error of its own (``failed``; the client already has that error), and how
    many tokens were used (best effort, from the few events that carry usage).
    JSON strings escape their quotes, so a quoted mark such as ``"error"`` can
    only be a key, never text inside an answer.
    Bytes are scanned with ``in`` (memchr speed); JSON is parsed only for the
    lines that carry usage.

    Reads are kept (by reference, up to ``_BATCH`` bytes) and scanned together when
    that many have come or when an answer is asked for: the answers are read once,
    when the stream ends, so per read ``feed`` only appends. A usage line split
    between two reads of one batch is now read too.
    """

    __slots__ = (
        "fmt",
        "_done",
        "_failed",
        "_usage",
        "_response_id",
        "_sequence",
        "_tail",
        "_marks",
        "_errors",
        "_usage_mark",
        "_pending",
        "_size",
    )

    def __init__(self, fmt: Format) -> None:
        self.fmt = fmt
        self._done = False
        self._failed = False
        self._usage = TokenUsage()
        # Responses: the id and next sequence number a closing event must carry.
        self._response_id = ""
        self._sequence: int | None = None
        self._tail = b""
        self._marks = _TERMINATORS[fmt]
        self._errors = _ERROR_MARKS[fmt]
        self._usage_mark = _USAGE_MARK[fmt]
        self._pending: list[bytes] = []
        self._size = 0

    def _caught_up(self) -> StreamWatcher:
        """The watcher with every read kept so far scanned."""
        if self._pending:
            self._scan()
        return self

    @property
    def done(self) -> bool:
        """The end mark (or an error event of the upstream's own) was seen."""
        return self._caught_up()._done

    @property
    def failed(self) -> bool:
        """The stream ended with the upstream's own error event."""
        return self._caught_up()._failed

    @property
    def usage(self) -> TokenUsage:
        return self._caught_up()._usage

    @property
    def response_id(self) -> str:
        return self._caught_up()._response_id

    @property
    def sequence(self) -> int | None:
        return self._caught_up()._sequence

    def feed(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._size += len(chunk)
        if self._size >= _BATCH:
            self._scan()

    def _scan(self) -> None:
        pending = self._pending
        chunk = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._size = 0
        if self._usage_mark in chunk:
            self._read_usage(chunk)
        if self.fmt is Format.RESPONSES:
            self._follow_responses(chunk)
        if not self._done:
            window = self._tail + chunk if self._tail else chunk
            for mark in self._marks:
                if mark in window:
                    self._done = True
                    break
            for mark in self._errors:
                if mark in window:
                    self._done = self._failed = True
                    break
            self._tail = window[-_TAIL:]  # a short read keeps bytes of the one before

    def _follow_responses(self, chunk: bytes) -> None:
        """Note the response id (from ``response.created``) and the last sequence number,
        so a stream cut short can still end with a ``response.failed`` that fits it."""
        at = chunk.rfind(_SEQUENCE)
        if at >= 0:
            digits = chunk[at + len(_SEQUENCE) : at + len(_SEQUENCE) + 24].lstrip()
            end = 0
            while end < len(digits) and 48 <= digits[end] <= 57:
                end += 1
            if end:
                self._sequence = int(digits[:end]) + 1
        if not self._response_id and _CREATED in chunk:
            for line in chunk.splitlines():
                if _CREATED in line and line.startswith(b"data:"):
                    try:
                        obj = orjson.loads(line[5:])
                    except orjson.JSONDecodeError:
                        return  # split across reads: the id is best effort
                    resp = obj.get("response") if isinstance(obj, dict) else None
                    if isinstance(resp, dict) and isinstance(resp.get("id"), str):
                        self._response_id = resp["id"]
                    return

    def _read_usage(self, chunk: bytes) -> None:
        """Parse only the lines that carry the usage mark (usually one per stream)."""
        mark = self._usage_mark
        at = chunk.find(mark)
        while at >= 0:
            start = chunk.rfind(b"\n", 0, at) + 1
            end = chunk.find(b"\n", at)
            if end < 0:
                end = len(chunk)
            line = chunk[start:end]
            brace = line.find(b"{")
            if brace >= 0:
                try:
                    obj = orjson.loads(line[brace:])
                except orjson.JSONDecodeError:
                    obj = None  # split across reads: usage is best effort
                if isinstance(obj, dict):
                    _merge_usage(self.fmt, obj, self._usage)
            at = chunk.find(mark, end)


def _merge_usage(fmt: Format, obj: dict[str, object], usage: TokenUsage) -> None:
    """Fold one event's usage numbers into ``usage`` (later events win)."""
    if fmt is Format.GEMINI:
        meta = obj.get("usageMetadata")
        if isinstance(meta, dict):
            usage.input = int(meta.get("promptTokenCount") or 0)
            usage.output = int(meta.get("candidatesTokenCount") or 0) + int(
                meta.get("thoughtsTokenCount") or 0
            )
            usage.cached = int(meta.get("cachedContentTokenCount") or 0)
            usage.reasoning = int(meta.get("thoughtsTokenCount") or 0)
        return
    if fmt is Format.ANTHROPIC:
        msg = obj.get("message")
        u = msg.get("usage") if isinstance(msg, dict) else obj.get("usage")
        if isinstance(u, dict):
            if "input_tokens" in u and u.get("input_tokens") is not None:
                usage.input = max(usage.input, int(u["input_tokens"] or 0))
            if u.get("output_tokens") is not None:
                usage.output = int(u["output_tokens"] or 0)
            cached = u.get("cache_read_input_tokens")
            if cached:
                usage.cached = int(cached)
        return
    if fmt is Format.RESPONSES:
        resp = obj.get("response")
        u = resp.get("usage") if isinstance(resp, dict) else obj.get("usage")
        if isinstance(u, dict):
            usage.input = int(u.get("input_tokens") or 0)
            usage.output = int(u.get("output_tokens") or 0)
            details = u.get("input_tokens_details")
            if isinstance(details, dict):
                usage.cached = int(details.get("cached_tokens") or 0)
            out = u.get("output_tokens_details")
            if isinstance(out, dict):
                usage.reasoning = int(out.get("reasoning_tokens") or 0)
        return
    u = obj.get("usage")
    if isinstance(u, dict):
        usage.input = int(u.get("prompt_tokens") or 0)
        usage.output = int(u.get("completion_tokens") or 0)
        details = u.get("prompt_tokens_details")
        if isinstance(details, dict):
            usage.cached = int(details.get("cached_tokens") or 0)
        out = u.get("completion_tokens_details")
        if isinstance(out, dict):
            usage.reasoning = int(out.get("reasoning_tokens") or 0)


def usage_from_body(fmt: Format, body: bytes) -> TokenUsage:
    """Token usage of a complete (non-stream) response body; zeros if absent."""
    usage = TokenUsage()
    if _USAGE_MARK[fmt] not in body and b'"usage"' not in body:
        return usage
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return usage
    if isinstance(obj, dict):
        _merge_usage(fmt, obj, usage)
    return usage


_MODEL_KEY = b'"model"'
_FIRST_KEY = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"model"[ \t\r\n]*:[ \t\r\n]*')
_COLON = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*")


def first_model(raw: bytes) -> str | None:
    """The value of ``"model"`` when it is the first key of the JSON object ``raw`` and a
    plain string (no escapes): what routing needs, read before anything else of the body
    (None otherwise: the caller reads the body)."""
    first = _FIRST_KEY.match(raw)
    if first is None:
        return None
    start = first.end()
    if raw[start : start + 1] != b'"':
        return None
    end = raw.find(b'"', start + 1)
    value = raw[start + 1 : end]
    if end < 0 or b"\\" in value:
        return None
    try:
        return value.decode()
    except UnicodeDecodeError:
        return None


def replace_model(
    raw: bytes, old: str, new: str, body: Mapping[str, object] | None = None
) -> bytes | None:
    """``raw`` with the string value of its top-level ``"model"`` (``old``, what the router
    read) replaced by ``new`` and every other byte kept (key order, spacing, escapes,
    unknown fields); None when the value's span cannot be found cheaply and for sure
    (the caller then serializes the parsed body). ``raw`` is valid JSON (checked).

    Two places are found without reading the body: ``"model"`` as the first key
    (Claude Code, Codex and the TypeScript SDKs write it first), and, given ``body``
    (``raw`` parsed, whose key order says where to look), ``"model"`` followed only by
    keys of plain values (no object or array after it), where the last ``"model"`` in
    the bytes is the top-level one (nothing after it can nest another). Anywhere else,
    finding it means scanning the whole body, which costs more than orjson writing a
    body of long strings again (docs/performance.md), so the caller does that. The
    value must be spelt as orjson spells it (no escapes).
    """
    spelt = orjson.dumps(old)
    first = _FIRST_KEY.match(raw)
    if first is not None:
        value = first.end()
    elif body is None or body.get("model") != old:
        return None
    else:
        after = False
        for key, item in body.items():
            if after and isinstance(item, dict | list):
                return None
            after = after or key == "model"
        at = raw.rfind(_MODEL_KEY)
        colon = _COLON.match(raw, at + len(_MODEL_KEY)) if at > 0 else None
        if colon is None or raw[at - 1] == 0x5C:  # not a key, or one ending in \"model
            return None
        value = colon.end()
    if not raw.startswith(spelt, value):
        return None
    tail = memoryview(raw)[value + len(spelt) :]  # joined without a copy of its own
    return b"".join((raw[:value], orjson.dumps(new), tail))
