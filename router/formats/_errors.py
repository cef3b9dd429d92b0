"""What each client format says for each kind of error.

One table per format, from :class:`~router.errors.ErrorKind` to the format's
own words. A format's HTTP error body, its mid-stream error event (on the
passthrough path and on the translated path alike) and its stream decoder,
which reads an upstream's error back into a kind, all use the same table, so
a client sees the same error whichever path served it. The words are the
ones each provider sends itself:

* OpenAI Chat: ``server_error`` for its own failures, ``invalid_request_error``
  for nearly every refusal (with ``invalid_api_key`` / ``model_not_found`` as
  the ``code``), type ``requests`` and code ``rate_limit_exceeded`` for a rate
  limit, ``service_unavailable_error`` / ``server_is_overloaded`` when
  overloaded. A stream that fails ends with the error chunk, no ``[DONE]``.
* Responses: the same bodies; a stream fails with ``response.failed`` whose
  ``error.code`` is one the ChatGPT backend sends (``server_error``,
  ``rate_limit_exceeded``, ``server_is_overloaded``, ``invalid_prompt``, ...).
* Anthropic: ``error.type`` (``overloaded_error`` for 529, ...).
* Gemini: ``error.status`` (a google.rpc code name) with ``error.code`` the
  HTTP status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.errors import ErrorKind

from .ir import Format

__all__ = [
    "ANTHROPIC",
    "CHAT",
    "GEMINI",
    "RESPONSES",
    "OpenAIWords",
    "anthropic_error_event",
    "chat_error_event",
    "error_body",
    "gemini_error",
    "kind_from_anthropic",
    "kind_from_gemini",
    "kind_from_openai",
    "responses_failed_error",
    "stream_error_event",
]

K = ErrorKind


@dataclass(frozen=True, slots=True)
class OpenAIWords:
    """``error.type`` and ``error.code`` of an OpenAI error body; ``failed`` is the
    ``error.code`` of a Responses ``response.failed`` event."""

    type: str
    code: str | None = None
    failed: str = "server_error"


CHAT: dict[ErrorKind, OpenAIWords] = {
    K.INVALID_REQUEST: OpenAIWords("invalid_request_error"),
    K.AUTHENTICATION: OpenAIWords("invalid_request_error", "invalid_api_key"),
    K.PERMISSION: OpenAIWords("invalid_request_error", "permission_denied"),
    K.NOT_FOUND: OpenAIWords("invalid_request_error", "model_not_found"),
    K.REQUEST_TOO_LARGE: OpenAIWords("invalid_request_error", "request_too_large"),
    K.RATE_LIMIT: OpenAIWords("requests", "rate_limit_exceeded"),
    K.API_ERROR: OpenAIWords("server_error"),
    K.OVERLOADED: OpenAIWords("service_unavailable_error", "server_is_overloaded"),
    K.TIMEOUT: OpenAIWords("server_error", "timeout"),
    K.NOT_IMPLEMENTED: OpenAIWords("invalid_request_error", "not_implemented"),
}
RESPONSES: dict[ErrorKind, OpenAIWords] = {
    K.INVALID_REQUEST: OpenAIWords("invalid_request_error", None, "invalid_prompt"),
    K.AUTHENTICATION: OpenAIWords("invalid_request_error", "invalid_api_key", "invalid_api_key"),
    K.PERMISSION: OpenAIWords("invalid_request_error", "permission_denied", "permission_denied"),
    K.NOT_FOUND: OpenAIWords("invalid_request_error", "model_not_found", "model_not_found"),
    K.REQUEST_TOO_LARGE: OpenAIWords(
        "invalid_request_error", "request_too_large", "request_too_large"
    ),
    K.RATE_LIMIT: OpenAIWords("requests", "rate_limit_exceeded", "rate_limit_exceeded"),
    K.API_ERROR: OpenAIWords("server_error", None, "server_error"),
    K.OVERLOADED: OpenAIWords(
        "service_unavailable_error", "server_is_overloaded", "server_is_overloaded"
    ),
    K.TIMEOUT: OpenAIWords("server_error", "timeout", "timeout"),
    K.NOT_IMPLEMENTED: OpenAIWords("invalid_request_error", "not_implemented", "not_implemented"),
}
ANTHROPIC: dict[ErrorKind, str] = {
    K.INVALID_REQUEST: "invalid_request_error",
    K.AUTHENTICATION: "authentication_error",
    K.PERMISSION: "permission_error",
    K.NOT_FOUND: "not_found_error",
    K.REQUEST_TOO_LARGE: "request_too_large",
    K.RATE_LIMIT: "rate_limit_error",
    K.API_ERROR: "api_error",
    K.OVERLOADED: "overloaded_error",
    K.TIMEOUT: "timeout_error",
    K.NOT_IMPLEMENTED: "invalid_request_error",  # Anthropic has no word of its own
}
GEMINI: dict[ErrorKind, str] = {
    K.INVALID_REQUEST: "INVALID_ARGUMENT",
    K.AUTHENTICATION: "UNAUTHENTICATED",
    K.PERMISSION: "PERMISSION_DENIED",
    K.NOT_FOUND: "NOT_FOUND",
    K.REQUEST_TOO_LARGE: "INVALID_ARGUMENT",  # what Google answers an oversized payload
    K.RATE_LIMIT: "RESOURCE_EXHAUSTED",
    K.API_ERROR: "INTERNAL",
    K.OVERLOADED: "UNAVAILABLE",
    K.TIMEOUT: "DEADLINE_EXCEEDED",
    K.NOT_IMPLEMENTED: "UNIMPLEMENTED",
}
TABLES: dict[Format, dict[ErrorKind, Any]] = {
    Format.OPENAI: CHAT,
    Format.RESPONSES: RESPONSES,
    Format.ANTHROPIC: ANTHROPIC,
    Format.GEMINI: GEMINI,
}

# --------------------------------------------------------------------------- writing


def error_body(
    fmt: Format, status: int, kind: ErrorKind, message: str, param: str | None = None
) -> bytes:
    """The JSON error body a client of ``fmt`` expects for an HTTP error."""
    if fmt is Format.ANTHROPIC:
        return orjson.dumps(_anthropic(kind, message))
    if fmt is Format.GEMINI:
        return orjson.dumps(gemini_error(kind, message, status))
    return orjson.dumps(
        _openai((RESPONSES if fmt is Format.RESPONSES else CHAT)[kind], message, param)
    )


def _anthropic(kind: ErrorKind, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ANTHROPIC[kind], "message": message}}


def _openai(words: OpenAIWords, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": words.type, "param": param, "code": words.code}}


def chat_error_event(kind: ErrorKind, message: str) -> bytes:
    """The Chat chunk that ends a stream in error (no ``[DONE]`` follows it)."""
    return b"data: " + orjson.dumps(_openai(CHAT[kind], message)) + b"\n\n"


def anthropic_error_event(kind: ErrorKind, message: str) -> bytes:
    return b"event: error\ndata: " + orjson.dumps(_anthropic(kind, message)) + b"\n\n"


def gemini_error(kind: ErrorKind, message: str, code: int | None = None) -> dict[str, Any]:
    """Google's ``{"error": ...}``; ``code`` is the HTTP status (by default the kind's, as
    in the element that ends a stream in error)."""
    status = ErrorKind(kind).status if code is None else code
    return {"error": {"code": status, "message": message, "status": GEMINI[kind]}}


def responses_failed_error(kind: ErrorKind, message: str) -> dict[str, str]:
    """The ``response.error`` of a ``response.failed`` event."""
    return {"code": RESPONSES[kind].failed, "message": message}


def stream_error_event(
    fmt: Format,
    kind: ErrorKind,
    message: str,
    *,
    gemini_array: bool = False,
    response_id: str = "",
    sequence: int | None = None,
) -> bytes:
    """The frame that ends a relayed stream in error, in the client's own format.

    Sent once the first byte is out and an HTTP status can no longer change; the
    same frame the translated path sends (see the module docstring). A Responses
    stream ends with ``response.failed`` for ``response_id``, numbered ``sequence``.
    """
    if fmt is Format.ANTHROPIC:
        return anthropic_error_event(kind, message)
    if fmt is Format.GEMINI:
        body = orjson.dumps(gemini_error(kind, message))
        return b",\r\n" + body + b"]" if gemini_array else b"data: " + body + b"\r\n\r\n"
    if fmt is Format.RESPONSES:
        payload: dict[str, Any] = {"type": "response.failed"}
        if sequence is not None:
            payload["sequence_number"] = sequence
        payload["response"] = {
            "id": response_id,
            "object": "response",
            "status": "failed",
            "error": responses_failed_error(kind, message),
            "incomplete_details": None,
            "output": [],
        }
        return b"event: response.failed\ndata: " + orjson.dumps(payload) + b"\n\n"
    return chat_error_event(kind, message)


# --------------------------------------------------------------------------- reading


def _reverse(table: dict[ErrorKind, str]) -> dict[str, ErrorKind]:
    """Word -> kind; where kinds share a word, the first kind (in enum order) wins."""
    out: dict[str, ErrorKind] = {}
    for kind in ErrorKind:
        out.setdefault(table[kind], kind)
    return out


_ANTHROPIC_KINDS = {**_reverse(ANTHROPIC), "billing_error": K.PERMISSION}
_GEMINI_KINDS = {**_reverse(GEMINI), "FAILED_PRECONDITION": K.INVALID_REQUEST}
_OPENAI_CODES = {
    **{w.code: k for k, w in CHAT.items() if w.code},
    **{w.failed: k for k, w in RESPONSES.items() if w.failed != "server_error"},
    "insufficient_quota": K.RATE_LIMIT,
    "context_length_exceeded": K.INVALID_REQUEST,
    "slow_down": K.OVERLOADED,
}
_OPENAI_TYPES = {
    **_reverse({k: w.type for k, w in CHAT.items()}),
    "tokens": K.RATE_LIMIT,
    "rate_limit_exceeded": K.RATE_LIMIT,
    "insufficient_quota": K.RATE_LIMIT,
    "rate_limit_error": K.RATE_LIMIT,
    "authentication_error": K.AUTHENTICATION,
    "permission_error": K.PERMISSION,
    "not_found_error": K.NOT_FOUND,
}


def kind_from_anthropic(error_type: str) -> ErrorKind:
    return _ANTHROPIC_KINDS.get(error_type, K.API_ERROR)


def kind_from_gemini(status: str, code: int) -> ErrorKind:
    """By ``status``; where kinds share it (``INVALID_ARGUMENT``), ``code`` tells them apart."""
    by_code = ErrorKind.of_status(code) if code >= 400 else None
    if by_code is not None and GEMINI[by_code] == status:
        return by_code
    return _GEMINI_KINDS.get(status) or by_code or K.API_ERROR


def kind_from_openai(error_type: str, code: str = "") -> ErrorKind:
    """The kind of an OpenAI error (Chat ``error``, Responses ``error`` / ``response.error``):
    by its ``code`` when that says more, else by its ``type``."""
    return _OPENAI_CODES.get(code) or _OPENAI_TYPES.get(error_type) or K.API_ERROR
