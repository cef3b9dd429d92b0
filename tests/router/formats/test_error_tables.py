"""One table per format covers every error kind, and writes its body and events alike.

Each check goes through the format's own writers (HTTP body, relayed-stream
error event, translating encoder) rather than the tables, so a kind a table
forgot, or a writer that keeps words of its own, shows up as a difference.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.errors import ErrorKind
from router.formats import CODECS, Context, Format, SSEParser, error_body, stream_error_event

KINDS = list(ErrorKind)


def _events(data: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    parser = SSEParser()
    out = [*parser.feed(data), *parser.finish()]
    return [(name, json.loads(payload)) for name, payload in out if payload.strip() != b"[DONE]"]


def _words(fmt: Format, frame: bytes) -> tuple[object, ...]:
    """What a client of ``fmt`` reads from an error event: the format's words for it."""
    events = _events(frame)
    assert events, frame
    name, payload = events[-1]
    if fmt is Format.ANTHROPIC:
        assert name == "error" and payload["type"] == "error", frame
        return (payload["error"]["type"],)
    if fmt is Format.GEMINI:
        return (payload["error"]["status"], payload["error"]["code"])
    if fmt is Format.RESPONSES:
        assert name == "response.failed" == payload["type"], frame
        assert payload["response"]["status"] == "failed"
        return (payload["response"]["error"]["code"],)
    return (payload["error"]["type"], payload["error"]["code"])


def _body_words(fmt: Format, kind: ErrorKind) -> tuple[object, ...]:
    body = json.loads(error_body(fmt, kind.status, kind, "m"))
    if fmt is Format.ANTHROPIC:
        return (body["error"]["type"],)
    if fmt is Format.GEMINI:
        return (body["error"]["status"], body["error"]["code"])
    return (body["error"]["type"], body["error"]["code"])


def _translated(fmt: Format, kind: ErrorKind) -> bytes:
    enc = CODECS[fmt].stream_encoder(Context("m", "r"))
    return bytes(enc.error("boom", kind))


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
def test_every_kind_has_words_in_every_format(fmt: Format, kind: ErrorKind) -> None:
    """A kind missing from a format's table would fall back to a generic word (or fail)."""
    body = _body_words(fmt, kind)
    assert all(isinstance(w, (str, int)) or w is None for w in body)
    relayed = _words(fmt, stream_error_event(fmt, kind, "boom"))
    translated = _words(fmt, _translated(fmt, kind))
    assert relayed == translated, (kind, relayed, translated)
    if fmt is not Format.RESPONSES:  # Responses events carry a code of their own
        assert relayed == body, (kind, relayed, body)


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
def test_kinds_with_their_own_words_are_told_apart(fmt: Format) -> None:
    """Different words must mean different kinds where the provider has the words:
    not_implemented, for one, must not read as a plain server error."""
    words = {kind: _words(fmt, stream_error_event(fmt, kind, "m")) for kind in KINDS}
    assert words[ErrorKind.NOT_IMPLEMENTED] != words[ErrorKind.API_ERROR]
    assert words[ErrorKind.RATE_LIMIT] != words[ErrorKind.API_ERROR]
    assert words[ErrorKind.OVERLOADED] != words[ErrorKind.API_ERROR]


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
def test_an_error_read_back_keeps_its_words(fmt: Format, kind: ErrorKind) -> None:
    """The format's decoder reads its own error event back into a kind that the same
    table writes with the same words (kinds that share words may swap)."""
    frame = _translated(fmt, kind)
    decoder = CODECS[fmt].stream_decoder()
    events = []
    for name, data in SSEParser().feed(frame):
        events += decoder.feed(name, data)
    error = events[-1]
    assert error.message == "boom"
    again = _translated(fmt, error.kind)
    assert _words(fmt, again) == _words(fmt, frame), (kind, error.kind)


def test_gemini_array_stream_closes_with_the_error_element() -> None:
    frame = stream_error_event(Format.GEMINI, ErrorKind.OVERLOADED, "busy", gemini_array=True)
    assert frame.startswith(b",") and frame.endswith(b"]")
    error = json.loads(frame[1:-1])["error"]
    assert (error["code"], error["status"]) == (503, "UNAVAILABLE")


def test_a_relayed_responses_stream_fails_with_its_own_response_id() -> None:
    frame = stream_error_event(
        Format.RESPONSES, ErrorKind.RATE_LIMIT, "slow", response_id="resp_1", sequence=7
    )
    (name, payload), *_ = _events(frame)
    assert payload["sequence_number"] == 7
    assert payload["response"]["id"] == "resp_1"
    assert payload["response"]["error"] == {"code": "rate_limit_exceeded", "message": "slow"}
