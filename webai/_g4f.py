"""gpt4free providers as fallback backends.

Each configured entry is one g4f provider class, by its name in
``g4f.Provider`` or as ``package.module:Class`` (your own provider, built on
g4f's ``AsyncGeneratorProvider`` or any other g4f provider base class). It is
called the way g4f's own ``IterListProvider`` calls its members
(``get_async_provider_method``), and its chunks are read the way g4f reads
them: ``str`` is answer text, ``Reasoning`` is thinking, the rest (provider
info, usage, finish reasons...) carries no text.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncGenerator
from typing import Any

from suite.logging import redact

from ._chain import BackendHealth, Delta
from ._errors import (
    AuthFailed,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelNotFound,
    RateLimited,
)
from ._messages import ChatRequest
from ._settings import FallbackSettings

__all__ = ["G4FBackend", "resolve_provider"]


def resolve_provider(spec: str) -> type[Any]:
    """The g4f provider class named by ``spec``; ValueError says why not."""
    try:
        from g4f.providers.types import BaseProvider
    except ImportError:
        raise ValueError(
            "g4f is not installed: pip install -e '.[webai]' (or remove the fallback list)"
        ) from None
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import {spec}: {exc}") from None
    else:
        import g4f.Provider

        try:
            obj = getattr(g4f.Provider, spec)
        except AttributeError:
            raise ValueError(f"g4f has no provider named {spec!r}") from None
    if not (isinstance(obj, type) and issubclass(obj, BaseProvider)):
        raise ValueError(f"{spec} is not a g4f provider class")
    return obj


class G4FBackend:
    """One g4f provider; stateless between requests."""

    def __init__(self, entry: FallbackSettings, provider: type[Any]) -> None:
        self.entry = entry
        self.provider = provider
        # As configured ("PollinationsAI"), or the class name for "package.module:Class".
        label = provider.__name__ if ":" in entry.provider else entry.provider
        self.name = f"g4f:{label}"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def models(self) -> list[str]:
        return []

    def health(self) -> BackendHealth:
        return BackendHealth(self.name, "ready", ready=True)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[Delta, None]:
        from g4f.providers.base_provider import get_async_provider_method
        from g4f.providers.response import Reasoning

        kwargs: dict[str, Any] = {"stream": True}
        if self.entry.api_key:
            kwargs["api_key"] = self.entry.api_key
        if self.entry.proxy:
            kwargs["proxy"] = self.entry.proxy
        for key in ("temperature", "top_p", "max_tokens"):
            value = getattr(request, key)
            if value is not None:
                kwargs[key] = value
        method = get_async_provider_method(self.provider)
        model = self.entry.model or request.model
        try:
            gen = method(model=model, messages=request.chat_messages(), **kwargs)
            async with contextlib.aclosing(gen):
                async for chunk in gen:
                    if isinstance(chunk, str):
                        if chunk:
                            yield Delta(text=chunk)
                    elif isinstance(chunk, Reasoning) and chunk.token:
                        yield Delta(reasoning=str(chunk.token))
        except BackendError:
            raise
        except Exception as exc:
            raise map_error(exc, self.name) from exc


def map_error(exc: BaseException, backend: str) -> BackendError:
    """g4f's exceptions, by class name (g4f is optional, so no import here)."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    text = redact(str(exc)).strip() or type(exc).__name__
    message = f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
    if names & {"MissingAuthError", "NoValidHarFileError"}:
        return AuthFailed(message, backend=backend)
    if names & {"RateLimitError", "PaymentRequiredError", "ConversationLimitError"}:
        return RateLimited(message, backend=backend)
    if names & {"ModelNotFoundError", "ModelNotAllowedError", "ModelNotSupportedError"}:
        return ModelNotFound(message, backend=backend)
    if "TimeoutError" in names:
        return BackendTimeout(message, backend=backend)
    return BackendUnavailable(message, backend=backend)
