"""Per-request facts gathered along the way and written as one access line."""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field

from aiohttp import web

from router.formats import Format
from router.observability import Capture
from suite.logging import ERROR_TEXT_LIMIT, clip

__all__ = ["CONTEXT", "RequestContext", "client_format", "model_ref", "new_request_id"]

_MODEL_REF = 64  # characters of a model name quoted inside an error message


_PREFIX = os.urandom(6).hex()
_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """Unique per process start (random prefix) and per request (counter): no syscall."""
    return f"{_PREFIX}{next(_COUNTER):012x}"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    fmt: Format
    started: float
    model: str | None = None
    rule: str | None = None
    provider: str | None = None
    credential: str | None = None
    attempts: int = 0
    status: int = 0
    stream: bool = False
    ttfb_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    tokens_cached: int | None = None
    tokens_reasoning: int | None = None
    client: str | None = None  # the client key's id (a hash prefix), never the key
    # Attempts that failed before the answer: (provider, status or error kind).
    failures: list[tuple[str, str]] | None = None
    capture: Capture | None = None  # logging.capture: the bodies, when capture is on
    _error: str | None = field(default=None, repr=False)

    @property
    def error(self) -> str | None:
        """Why the request failed, scrubbed and bounded (``suite.logging.clip``) when set:
        it goes to the access log and the usage database, and may quote an upstream's
        text (which may quote the key it was sent) or a client's (of any length)."""
        return self._error

    @error.setter
    def error(self, value: str | None) -> None:
        self._error = None if value is None else clip(value, ERROR_TEXT_LIMIT)

    def attempt_failed(self, provider: str, outcome: str) -> None:
        if self.failures is None:
            self.failures = []
        self.failures.append((provider, outcome))

    def mark_first_byte(self) -> None:
        if self.ttfb_ms is None:
            self.ttfb_ms = round((time.perf_counter() - self.started) * 1000, 2)

    def access_fields(self) -> dict[str, object]:
        out: dict[str, object] = {
            "request_id": self.request_id,
            "format": self.fmt.value,
            "status": self.status,
            "ms": round((time.perf_counter() - self.started) * 1000, 2),
        }
        # One test per field, in the line's order (this runs for every request).
        if self.model is not None:
            out["model"] = self.model
        if self.rule is not None:
            out["rule"] = self.rule
        if self.provider is not None:
            out["provider"] = self.provider
        if self.credential is not None:
            out["credential"] = self.credential
        if self.client is not None:
            out["client"] = self.client
        if self._error is not None:
            out["error"] = self._error
        if self.attempts:
            out["attempts"] = self.attempts
        if self.model is not None:
            out["stream"] = self.stream
        if self.ttfb_ms is not None:
            out["ttfb_ms"] = self.ttfb_ms
        if self.tokens_in is not None:
            out["tokens_in"] = self.tokens_in
            out["tokens_out"] = self.tokens_out
            if self.tokens_cached:
                out["tokens_cached"] = self.tokens_cached
            if self.tokens_reasoning:
                out["tokens_reasoning"] = self.tokens_reasoning
        return out


def model_ref(model: str) -> str:
    """A model name as an error message quotes it: whole when short, else its start.

    The access line logs the model once, in ``model`` (bounded there too); an
    error that names it must not carry a client's megabyte a second time.
    """
    return model if len(model) <= _MODEL_REF else f"{model[:_MODEL_REF]}…"


CONTEXT: web.RequestKey[RequestContext] = web.RequestKey("cliproxy_context", RequestContext)


def client_format(request: web.Request) -> Format:
    """Which format a caller speaks, from the path (and, for /v1/models, a header)."""
    path = request.path
    if path.startswith("/v1beta"):
        return Format.GEMINI
    if path.startswith("/v1/messages"):
        return Format.ANTHROPIC
    if path.startswith("/v1/responses"):
        return Format.RESPONSES
    if path.startswith("/v1/models"):
        # One path, three clients: Google's SDKs use /v1/models too (their default
        # API version is v1) and say who they are in their own headers.
        headers = request.headers
        if ":" in path or "x-goog-api-client" in headers or "x-goog-api-key" in headers:
            return Format.GEMINI
        if "anthropic-version" in headers:
            return Format.ANTHROPIC
    return Format.OPENAI
