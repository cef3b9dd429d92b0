"""The three API-key executors: Anthropic, OpenAI-compatible and Gemini."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote

from router.auth import Credential
from router.errors import UpstreamHTTPError
from router.formats import Format

from ._base import UpstreamCall
from ._http import HTTPExecutor

__all__ = ["AnthropicExecutor", "GeminiExecutor", "OpenAIExecutor", "OpenAIResponsesExecutor"]

_RETRY_DELAY = re.compile(rb'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"')


class AnthropicExecutor(HTTPExecutor):
    """Anthropic Messages with ``x-api-key``."""

    wire = Format.ANTHROPIC
    default_headers = {"anthropic-version": "2023-06-01"}

    def url(self, call: UpstreamCall) -> str:
        if call.action == "count_tokens":
            return f"{self.base_url}/v1/messages/count_tokens"
        return f"{self.base_url}/v1/messages"

    def auth_headers(self, credential: Credential) -> Mapping[str, str]:
        return {"x-api-key": credential.secret}


class OpenAIExecutor(HTTPExecutor):
    """OpenAI Chat Completions at any base URL (OpenAI, OpenRouter, vLLM, ...)."""

    wire = Format.OPENAI

    def url(self, call: UpstreamCall) -> str:
        if call.action == "embed":
            return f"{self.base_url}/embeddings"
        return f"{self.base_url}/chat/completions"

    def auth_headers(self, credential: Credential) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {credential.secret}"}


class OpenAIResponsesExecutor(HTTPExecutor):
    """OpenAI Responses at any base URL (``wire: responses`` on an openai-compatible provider)."""

    wire = Format.RESPONSES

    def url(self, call: UpstreamCall) -> str:
        if call.action == "embed":
            return f"{self.base_url}/embeddings"
        return f"{self.base_url}/responses"

    def auth_headers(self, credential: Credential) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {credential.secret}"}


class GeminiExecutor(HTTPExecutor):
    """Gemini ``generateContent`` with ``x-goog-api-key`` (never the key in the URL)."""

    wire = Format.GEMINI

    def url(self, call: UpstreamCall) -> str:
        model = quote(call.model, safe="")
        if call.action == "count_tokens":
            return f"{self.base_url}/v1beta/models/{model}:countTokens"
        if call.action == "embed":
            return f"{self.base_url}/v1beta/models/{model}:embedContent"
        if call.action == "batch_embed":
            return f"{self.base_url}/v1beta/models/{model}:batchEmbedContents"
        if call.stream:
            suffix = "?alt=sse" if call.sse else ""
            return f"{self.base_url}/v1beta/models/{model}:streamGenerateContent{suffix}"
        return f"{self.base_url}/v1beta/models/{model}:generateContent"

    def auth_headers(self, credential: Credential) -> Mapping[str, str]:
        return {"x-goog-api-key": credential.secret}

    def refine(self, error: UpstreamHTTPError) -> UpstreamHTTPError:
        """Google answers a bad key with 400 API_KEY_INVALID, and puts the 429
        wait in a RetryInfo detail (``"retryDelay": "7s"``) instead of a header."""
        if error.status == 400 and b"API_KEY_INVALID" in error.body:
            error.mark_auth_failure()
        if error.status == 429 and error.retry_after is None:
            found = _RETRY_DELAY.search(error.body)
            if found:
                error.retry_after = float(found.group(1))
        return error
