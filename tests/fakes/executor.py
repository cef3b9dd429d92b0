"""An executor that answers from a script, with no sockets (like httpx's MockTransport).

    ex = FakeExecutor("p", script={"p/key1-…": [Fail.connect(), ok()], "*": ok()})
    ex = FakeExecutor("p", handler=lambda call, cred: ok(text=cred.id))

``script`` maps a credential id (or ``"*"``) to what its calls get, one item per
call (the last one repeats): a ``FakeReply``, an ``UpstreamError`` to raise, or
a callable ``(call, credential) -> either``. Every call is recorded in
``calls`` as ``(UpstreamCall, credential id)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import orjson

from router.auth import Credential
from router.errors import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from router.executors import UpstreamCall
from router.formats import Format

__all__ = ["FakeExecutor", "FakeReply", "connect_error", "http_error", "ok", "timeout"]

Outcome = Any  # FakeReply | UpstreamError | Callable[[UpstreamCall, Credential], ...]


class FakeReply:
    """A 2xx answer: ``body`` for ``read()``, ``pieces`` for ``chunks()``."""

    def __init__(
        self,
        body: bytes = b"{}",
        pieces: Sequence[bytes] = (),
        headers: Mapping[str, str] | None = None,
        status: int = 200,
    ) -> None:
        self.body = body
        self.pieces = tuple(pieces) or (body,)
        self.headers = dict(headers or {})
        self.status = status
        self.content_type = "application/json"
        self.closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece

    async def read(self) -> bytes:
        return self.body

    def close(self) -> None:
        self.closed = True


def ok(text: str = "ok", headers: Mapping[str, str] | None = None) -> FakeReply:
    return FakeReply(orjson.dumps({"text": text}), headers=headers)


def connect_error() -> UpstreamError:
    return UpstreamConnectError("fake: unreachable (connection refused)")


def timeout() -> UpstreamError:
    return UpstreamTimeout("fake: no answer within 2s")


def http_error(
    status: int,
    body: Any = None,
    retry_after: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> UpstreamHTTPError:
    raw = body if isinstance(body, bytes) else orjson.dumps(body or {"error": {"message": "x"}})
    return UpstreamHTTPError(
        status, f"fake: upstream answered {status}", raw, retry_after, headers=headers
    )


class FakeExecutor:
    """A provider's executor whose upstream is a script."""

    def __init__(
        self,
        name: str,
        script: Mapping[str, Outcome | Sequence[Outcome]] | None = None,
        *,
        handler: Callable[[UpstreamCall, Credential], Outcome] | None = None,
        wire: Format = Format.OPENAI,
    ) -> None:
        self.name = name
        self.wire = wire
        self.calls: list[tuple[UpstreamCall, str]] = []
        self._handler = handler
        self._script: dict[str, list[Outcome]] = {}
        for key, value in (script or {}).items():
            items = list(value) if isinstance(value, list | tuple) else [value]
            self._script[key] = items

    def then(self, credential_id: str, *outcomes: Outcome) -> FakeExecutor:
        """What the next calls with ``credential_id`` (or ``"*"``) get."""
        self._script[credential_id] = list(outcomes)
        return self

    async def send(self, call: UpstreamCall, credential: Credential) -> FakeReply:
        self.calls.append((call, credential.id))
        outcome = self._next(credential.id) if self._handler is None else self._handler
        if callable(outcome) and not isinstance(outcome, FakeReply | BaseException):
            outcome = outcome(call, credential)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    def _next(self, credential_id: str) -> Outcome:
        items = self._script.get(credential_id) or self._script.get("*")
        if not items:
            return ok(credential_id)
        return items.pop(0) if len(items) > 1 else items[0]

    async def close(self) -> None:
        return None

    def served(self) -> list[str]:
        """The credential id of every call, in order."""
        return [cid for _, cid in self.calls]
