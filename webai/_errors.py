"""What can go wrong in the webai service, and the HTTP status each failure answers with.

Backends map their library's exceptions into these at their edge; only
``webai._app`` turns them into HTTP responses (OpenAI error bodies).

    WebAIError                      status, kind, message
    ├── RequestError                400  the client sent something we cannot serve
    ├── Unauthorized                401  missing / wrong service token
    └── BackendError                one backend's attempt failed
        ├── AuthFailed              401  the account's cookies / key were refused
        ├── RateLimited             429  usage limit, temporarily blocked
        ├── ModelNotFound           404  the backend has no such model
        ├── BackendTimeout          504  no first byte, or silence mid-answer
        ├── BackendUnavailable      502  connection, protocol or unknown errors
        └── ChainFailed             every backend failed: their common status, else 502
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthFailed",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "ChainFailed",
    "ModelNotFound",
    "RateLimited",
    "RequestError",
    "Unauthorized",
    "WebAIError",
]

_LINE_LIMIT = 300


class WebAIError(Exception):
    """An error with an HTTP status and an OpenAI-style kind.

    ``kind`` is one of: invalid_request, authentication, not_found, rate_limit,
    api_error, timeout.
    """

    status = 500
    kind = "api_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class RequestError(WebAIError):
    status = 400
    kind = "invalid_request"


class Unauthorized(WebAIError):
    status = 401
    kind = "authentication"


class BackendError(WebAIError):
    """One backend's attempt failed; ``backend`` names it in messages."""

    status = 502
    kind = "api_error"

    def __init__(
        self, message: str, *, backend: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.backend = backend

    def line(self) -> str:
        """``backend: status message`` on one line, short enough for a log or an error body."""
        text = " ".join(self.message.split())
        if len(text) > _LINE_LIMIT:
            text = text[: _LINE_LIMIT - 1] + "…"
        return f"{self.backend or 'backend'}: {self.status} {text}"


class AuthFailed(BackendError):
    status = 401
    kind = "authentication"


class RateLimited(BackendError):
    status = 429
    kind = "rate_limit"


class ModelNotFound(BackendError):
    status = 404
    kind = "not_found"


class BackendTimeout(BackendError):
    status = 504
    kind = "timeout"


class BackendUnavailable(BackendError):
    status = 502
    kind = "api_error"


class ChainFailed(BackendError):
    """Every backend failed before its first byte.

    The status is the one they all share (every backend rate-limited: 429, so
    the router cools the credential down; every backend refused auth: 401),
    else 502. The message lists each backend and its error, one per line.
    """

    def __init__(self, failures: Sequence[BackendError]) -> None:
        self.failures = tuple(failures)
        statuses = {f.status for f in self.failures}
        first = self.failures[0] if self.failures else None
        if len(statuses) == 1 and first is not None:
            self.status, self.kind = first.status, first.kind
        else:
            self.status, self.kind = 502, "api_error"
        waits = [f.retry_after for f in self.failures if f.retry_after is not None]
        lines = [f.line() for f in self.failures] or ["no backend is configured"]
        super().__init__(
            "every backend failed:\n" + "\n".join(lines),
            backend="webai",
            retry_after=min(waits) if waits and self.status == 429 else None,
        )
