"""Executors: one per upstream kind, each a transport for one provider instance."""

from router.relay import RelayHub
from suite.config import KINDS as _KINDS
from suite.config import OpenAIOptions, ProviderConfig

from ._aistudio import AIStudioExecutor, RelayReply
from ._apikey import AnthropicExecutor, GeminiExecutor, OpenAIExecutor, OpenAIResponsesExecutor
from ._base import Action, Executor, UpstreamCall, UpstreamReply
from ._claude import ClaudeOAuthExecutor
from ._codex import CodexOAuthExecutor
from ._ctonew import CtoNewExecutor
from ._http import HTTPExecutor, HTTPReply, parse_retry_after
from ._profiles import client_headers
from ._webai import WebAIExecutor

__all__ = [
    "AIStudioExecutor",
    "Action",
    "AnthropicExecutor",
    "ClaudeOAuthExecutor",
    "CodexOAuthExecutor",
    "CtoNewExecutor",
    "Executor",
    "GeminiExecutor",
    "HTTPExecutor",
    "HTTPReply",
    "OpenAIExecutor",
    "OpenAIResponsesExecutor",
    "RelayReply",
    "UpstreamCall",
    "UpstreamReply",
    "WebAIExecutor",
    "build_executor",
    "client_headers",
    "parse_retry_after",
]

_BY_KIND: dict[str, type[HTTPExecutor]] = {
    "anthropic": AnthropicExecutor,
    "openai-compatible": OpenAIExecutor,
    "gemini": GeminiExecutor,
    "claude-oauth": ClaudeOAuthExecutor,
    "codex-oauth": CodexOAuthExecutor,
    "ctonew": CtoNewExecutor,
    "webai": WebAIExecutor,
}


def build_executor(provider: ProviderConfig, relay: RelayHub | None = None) -> Executor | None:
    """The executor for a provider, or None for a kind this router cannot run yet.

    The rest of a kind's record (credentials, default URL, options) is
    ``suite.config.KINDS``; a test checks every kind there has a class here."""
    if _KINDS[provider.kind].credentials == "relay":
        return AIStudioExecutor(provider, relay) if relay is not None else None
    cls = _BY_KIND.get(provider.kind)
    settings = provider.settings
    if (
        cls is OpenAIExecutor
        and isinstance(settings, OpenAIOptions)
        and settings.wire == "responses"
    ):
        cls = OpenAIResponsesExecutor
    return cls(provider) if cls is not None else None
