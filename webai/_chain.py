"""The fallback chain: backends tried in order, only until one produces its first byte.

Like g4f's ``IterListProvider`` (which our g4f backends are built on), a
backend that fails before it has produced any content hands over to the next;
once content has flowed, a failure ends the answer with an error instead of
switching (the client has already seen text from this backend). Unlike it,
each failure keeps its own status, so the caller can tell "cookies expired"
(401) from "rate limited" (429) from "broken" (502), and the final error
lists every backend on its own line.

Every wait is bounded: the first content within ``first_byte`` seconds, each
later piece within ``idle`` seconds, the whole answer within ``total``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

from suite.logging import get_logger, redact

from ._errors import BackendError, BackendTimeout, BackendUnavailable, ChainFailed
from ._messages import ChatRequest

__all__ = ["Backend", "BackendHealth", "Delta", "Opened", "Timeouts", "open_first"]

log = get_logger("webai.chain")


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of an answer: visible text and/or reasoning ("thoughts")."""

    text: str = ""
    reasoning: str = ""

    def __bool__(self) -> bool:
        return bool(self.text or self.reasoning)


@dataclass(frozen=True, slots=True)
class BackendHealth:
    name: str
    state: str  # ready, starting, cookies missing, cookies need renewing, ...
    ready: bool
    healthy: bool = True  # False makes the whole service report unhealthy
    detail: str = ""
    cookies: str | None = None  # Gemini web only: valid, missing, need renewing


class Backend(Protocol):
    """Answers chat requests. ``stream`` raises ``BackendError`` (mapped at its edge)."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncGenerator[Delta, None]: ...

    def health(self) -> BackendHealth: ...

    def models(self) -> list[str]: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Timeouts:
    first_byte: float = 120.0
    idle: float = 300.0
    total: float = 1800.0


class Opened:
    """A backend that has produced its first content; iterate the rest with :meth:`rest`."""

    def __init__(
        self,
        backend: str,
        first: Delta,
        gen: AsyncGenerator[Delta, None],
        timeouts: Timeouts,
        failures: Sequence[BackendError],
    ) -> None:
        self.backend = backend
        self.first = first
        self.failures = tuple(failures)  # the backends that failed before this one answered
        self._gen = gen
        self._timeouts = timeouts
        self._deadline = asyncio.get_running_loop().time() + timeouts.total

    async def rest(self) -> AsyncGenerator[Delta, None]:
        """The pieces after the first. Raises ``BackendError`` on failure or silence."""
        loop = asyncio.get_running_loop()
        while True:
            left = self._deadline - loop.time()
            wait = min(self._timeouts.idle, left)
            if wait <= 0:
                raise BackendTimeout(
                    f"answer not finished within {self._timeouts.total:g}s", backend=self.backend
                )
            try:
                async with asyncio.timeout(wait):
                    delta = await anext(self._gen)
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise BackendTimeout(
                    f"silent for {wait:g}s in the middle of the answer", backend=self.backend
                ) from None
            except BackendError:
                raise
            except Exception as exc:  # a backend that leaked an unmapped error
                raise _unmapped(self.backend, exc) from exc
            if delta:
                yield delta

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._gen.aclose()


async def open_first(
    backends: Sequence[Backend], request: ChatRequest, timeouts: Timeouts
) -> Opened:
    """The first backend, in order, that produces content; ``ChainFailed`` if none does."""
    failures: list[BackendError] = []
    for backend in backends:
        gen = backend.stream(request)
        try:
            async with asyncio.timeout(timeouts.first_byte):
                first = await _first_content(gen)
        except TimeoutError:
            failure: BackendError = BackendTimeout(
                f"no answer within {timeouts.first_byte:g}s", backend=backend.name
            )
        except BackendError as exc:
            failure = exc
        except Exception as exc:
            failure = _unmapped(backend.name, exc)
        else:
            if first is not None:
                return Opened(backend.name, first, gen, timeouts, failures)
            failure = BackendUnavailable("answered nothing", backend=backend.name)
        with contextlib.suppress(Exception):
            await gen.aclose()
        failure.backend = failure.backend or backend.name
        log.info("backend failed before its first byte", backend=backend.name, error=failure.line())
        failures.append(failure)
    if len(failures) == 1:
        raise failures[0]
    raise ChainFailed(failures)


async def _first_content(gen: AsyncGenerator[Delta, None]) -> Delta | None:
    async for delta in gen:
        if delta:
            return delta
    return None


def _unmapped(backend: str, exc: BaseException) -> BackendError:
    return BackendUnavailable(f"{type(exc).__name__}: {redact(str(exc))[:300]}", backend=backend)
