"""Local g4f providers for the fallback-chain tests, built on g4f's own base class.

Configured like any g4f provider, by import path:
``fallback: [{provider: "tests.webai.providers:Broken"}, {provider: "tests.webai.providers:Answers"}]``.
Each counts its calls (class attribute), so a test can prove a provider was never asked.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from g4f.errors import MissingAuthError, RateLimitError
from g4f.providers.base_provider import AsyncGeneratorProvider
from g4f.providers.response import FinishReason, Reasoning
from g4f.typing import AsyncResult, Messages


class _Counted(AsyncGeneratorProvider):
    working = True
    supports_stream = True
    calls: ClassVar[int] = 0
    last: ClassVar[dict[str, Any]] = {}

    @classmethod
    def reset(cls) -> None:
        cls.calls = 0
        cls.last = {}

    @classmethod
    def _record(cls, model: str, messages: Messages, kwargs: dict[str, Any]) -> None:
        cls.calls += 1
        cls.last = {"model": model, "messages": messages, **kwargs}


class Answers(_Counted):
    """Answers word by word, with a little thinking first."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        yield Reasoning("thinking it over")
        for word in ("Fallback ", "says ", "hello"):
            await asyncio.sleep(0.01)
            yield word
        yield FinishReason("stop")


class Broken(_Counted):
    """Fails before any content (the upstream site changed, or is down)."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        await asyncio.sleep(0)
        raise RuntimeError("upstream page layout changed")
        yield ""  # pragma: no cover - makes this an async generator


class Limited(_Counted):
    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        raise RateLimitError("Response 429: too many requests")
        yield ""  # pragma: no cover


class NeedsKey(_Counted):
    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        raise MissingAuthError("Add a api_key (secret sk-0123456789abcdef0123)")
        yield ""  # pragma: no cover


class DiesMidway(_Counted):
    """Sends two pieces, then the connection breaks."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        yield "Half "
        await asyncio.sleep(0.01)
        yield "an answer"
        await asyncio.sleep(0.01)
        raise ConnectionResetError("peer reset the connection")


class Silent(_Counted):
    """Ends without producing any text."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        yield FinishReason("stop")


class Hangs(_Counted):
    """Never says anything (bounded here only by the test's own timeout)."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        await asyncio.sleep(30)
        yield "too late"


class Trickles(_Counted):
    """A long answer, one word every 20 ms; ``closed`` is set when it is stopped."""

    closed: ClassVar[asyncio.Event | None] = None

    @classmethod
    def reset(cls) -> None:
        super().reset()
        cls.closed = None

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        cls.closed = asyncio.Event()
        try:
            for i in range(500):
                yield f"w{i} "
                await asyncio.sleep(0.02)
        finally:
            cls.closed.set()


class StallsMidway(_Counted):
    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        cls._record(model, messages, kwargs)
        yield "Started "
        await asyncio.sleep(30)
        yield "never"


ALL = (Answers, Broken, Limited, NeedsKey, DiesMidway, Silent, Hangs, Trickles, StallsMidway)
