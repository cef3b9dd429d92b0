"""One error hierarchy for the whole router.

Executors map what went wrong upstream into these at their edge; routing
decides from the class whether to fail over; only ``router.api`` turns them
into HTTP responses, in the client's own format.

    ProxyError                      status, kind, message
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
        └── UpstreamHTTPError       the upstream's own status    (retryable: 5xx, 429, 401, 403)
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
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
    "UpstreamTimeout",
]


class ProxyError(Exception):
    """An error with an HTTP status and a kind every client format can express.

    ``kind`` is one of: invalid_request, authentication, permission, not_found,
    request_too_large, rate_limit, api_error, overloaded, timeout, not_implemented.
    """

    status = 500
    kind = "api_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after: float | None = None


class BadRequest(ProxyError):
    status = 400
    kind = "invalid_request"


class Unauthorized(ProxyError):
    status = 401
    kind = "authentication"


class Forbidden(ProxyError):
    status = 403
    kind = "permission"


class NotFound(ProxyError):
    status = 404
    kind = "not_found"


class MethodNotAllowed(ProxyError):
    status = 405
    kind = "invalid_request"


class PayloadTooLarge(ProxyError):
    status = 413
    kind = "request_too_large"


class NotImplementedYet(ProxyError):
    status = 501
    kind = "not_implemented"


class NoCapacity(ProxyError):
    """Every credential that could serve the model is cooling down."""

    status = 429
    kind = "rate_limit"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(ProxyError):
    """An attempt at one upstream failed; ``retryable`` tells routing to try the next."""

    status = 502
    kind = "api_error"
    retryable = True


class UpstreamConnectError(UpstreamError):
    status = 502


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = "timeout"


class UpstreamHTTPError(UpstreamError):
    """The upstream answered with an error status; ``body`` is its raw error body."""

    def __init__(
        self,
        status: int,
        message: str,
        body: bytes = b"",
        retry_after: float | None = None,
        content_type: str = "application/json",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.content_type = content_type
        self.is_auth_failure = status in (401, 403)
        self.retryable = status >= 500 or status in (401, 403, 408, 429)
        self.kind = _KIND_BY_STATUS.get(status, "api_error" if status >= 500 else "invalid_request")

    @property
    def is_rate_limit(self) -> bool:
        return self.status == 429

    def mark_auth_failure(self) -> None:
        """The upstream refused the credential under another status (Gemini: 400)."""
        self.is_auth_failure = True
        self.retryable = True


_KIND_BY_STATUS = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    408: "timeout",
    413: "request_too_large",
    429: "rate_limit",
    503: "overloaded",
    529: "overloaded",
}
