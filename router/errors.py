"""One error hierarchy for the whole router.

Executors map what went wrong upstream into these at their edge; routing
decides from the class whether to fail over; only ``router.api`` turns them
into HTTP responses, in the client's own format.

    ProxyError                      status, kind (an ErrorKind), message
    ├── BadRequest                  400  client sent something invalid
    ├── Unauthorized                401  missing / wrong client key
    ├── Forbidden                   403
    ├── NotFound                    404  unknown model or path
    ├── MethodNotAllowed            405
    ├── PayloadTooLarge             413
    ├── NotImplementedYet           501  e.g. a format pair not translated
    ├── NoCapacity                  429  every credential is cooling down
    └── UpstreamError               what an upstream attempt ended with
        ├── UpstreamConnectError    502  refused / reset / DNS   (retryable)
        ├── UpstreamTimeout         504  connect or first byte   (retryable)
        ├── UpstreamInvalidReply    502  a 2xx that is not the API's answer (retryable)
        │   └── UpstreamReplyTooLarge    past server.limits: refused, not buffered
        └── UpstreamHTTPError       the upstream's own status    (retryable: 5xx, 429, 401, 403)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "BadRequest",
    "ErrorKind",
    "Forbidden",
    "MethodNotAllowed",
    "NoCapacity",
    "NotFound",
    "NotImplementedYet",
    "PayloadTooLarge",
    "ProxyError",
    "Unauthorized",
    "UpstreamConnectError",
    "UpstreamError",
    "UpstreamHTTPError",
    "UpstreamInvalidReply",
    "UpstreamReplyTooLarge",
    "UpstreamTimeout",
]


class ErrorKind(enum.StrEnum):
    """What went wrong, in words every client format can express.

    The one list of kinds: each format keeps one table from kind to its own
    wire words (``router.formats``), used by its error bodies and its stream
    error events alike, and a test checks every table covers every kind.
    ``status`` is the HTTP status a failure of the kind has when nothing more
    specific is known (a mid-stream error event carries no status; Gemini's
    ``code`` says it).
    """

    INVALID_REQUEST = "invalid_request"
    AUTHENTICATION = "authentication"
    PERMISSION = "permission"
    NOT_FOUND = "not_found"
    REQUEST_TOO_LARGE = "request_too_large"
    RATE_LIMIT = "rate_limit"
    API_ERROR = "api_error"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    NOT_IMPLEMENTED = "not_implemented"

    @property
    def status(self) -> int:
        return _STATUS[self]

    @classmethod
    def of_status(cls, status: int) -> ErrorKind:
        """The kind an upstream's HTTP error status means."""
        kind = _KIND_BY_STATUS.get(status)
        if kind is not None:
            return kind
        return ErrorKind.API_ERROR if status >= 500 else ErrorKind.INVALID_REQUEST


_STATUS = {
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.PERMISSION: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.REQUEST_TOO_LARGE: 413,
    ErrorKind.RATE_LIMIT: 429,
    ErrorKind.API_ERROR: 500,
    ErrorKind.NOT_IMPLEMENTED: 501,
    ErrorKind.OVERLOADED: 503,
    ErrorKind.TIMEOUT: 504,
}
_KIND_BY_STATUS = {
    **{status: kind for kind, status in _STATUS.items()},
    408: ErrorKind.TIMEOUT,
    529: ErrorKind.OVERLOADED,  # Anthropic's "overloaded"
}


class ProxyError(Exception):
    """An error with an HTTP status and a kind every client format can express."""

    status = 500
    kind = ErrorKind.API_ERROR

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after: float | None = None


class BadRequest(ProxyError):
    status = 400
    kind = ErrorKind.INVALID_REQUEST


class Unauthorized(ProxyError):
    status = 401
    kind = ErrorKind.AUTHENTICATION


class Forbidden(ProxyError):
    status = 403
    kind = ErrorKind.PERMISSION


class NotFound(ProxyError):
    status = 404
    kind = ErrorKind.NOT_FOUND


class MethodNotAllowed(ProxyError):
    status = 405
    kind = ErrorKind.INVALID_REQUEST


class PayloadTooLarge(ProxyError):
    status = 413
    kind = ErrorKind.REQUEST_TOO_LARGE


class NotImplementedYet(ProxyError):
    status = 501
    kind = ErrorKind.NOT_IMPLEMENTED


class NoCapacity(ProxyError):
    """Every credential that could serve the model is cooling down."""

    status = 429
    kind = ErrorKind.RATE_LIMIT

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(ProxyError):
    """An attempt at one upstream failed; ``retryable`` tells routing to try the next."""

    status = 502
    kind = ErrorKind.API_ERROR
    retryable = True


class UpstreamConnectError(UpstreamError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = ErrorKind.TIMEOUT


class UpstreamInvalidReply(UpstreamError):
    """The upstream said 2xx but sent something else than its API's answer: an HTML page
    (a captive portal, a CDN challenge), a body that is not JSON.
    Nothing of it reaches the client; the next provider is tried."""

    status = 502


class UpstreamReplyTooLarge(UpstreamInvalidReply):
    """The answer passed ``server.limits``: a whole body over ``max_response_bytes`` or one
    stream line over ``max_sse_line_bytes``. Refused instead of held in memory."""


class UpstreamHTTPError(UpstreamError):
    """The upstream answered with an error status; ``body`` is its raw error body."""

    def __init__(
        self,
        status: int,
        message: str,
        body: bytes = b"",
        retry_after: float | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.content_type = content_type
        # The rate-limit headers of the answer (lower-case names): which limit it was.
        self.headers: Mapping[str, str] = headers or {}
        self.is_auth_failure = status in (401, 403)
        self.retryable = status >= 500 or status in (401, 403, 408, 429)
        self.kind = ErrorKind.of_status(status)

    @property
    def is_rate_limit(self) -> bool:
        return self.status == 429

    def mark_auth_failure(self) -> None:
        """The upstream refused the credential under another status (Gemini: 400)."""
        self.is_auth_failure = True
        self.retryable = True
