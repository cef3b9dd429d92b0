"""A local Gemini API (generativelanguage.googleapis.com) for tests.

Wire facts reproduced (ai.google.dev/api/generate-content,
ai.google.dev/gemini-api/docs/troubleshooting, recorded upstream streams):

* ``POST /v1beta/models/{m}:generateContent`` -> a pretty-printed
  ``GenerateContentResponse``; ``:streamGenerateContent?alt=sse`` ->
  ``data: {...}\\r\\n\\r\\n`` events with no terminator, every chunk carrying
  ``usageMetadata`` (full counts and ``finishReason`` on the last);
  without ``alt=sse`` the same chunks as one streamed JSON array;
  ``:countTokens`` -> ``{"totalTokens": N}``; ``GET /v1beta/models[/{m}]``.
* Auth by ``x-goog-api-key`` or ``?key=``. A wrong key is **400**
  ``INVALID_ARGUMENT`` / ``API_KEY_INVALID`` and a missing one **403**
  ``PERMISSION_DENIED`` -- Google never answers 401 to an API key.
* Errors: ``{"error": {"code", "message", "status", "details"}}``; 429
  ``RESOURCE_EXHAUSTED`` puts the retry delay in a ``RetryInfo`` detail
  (``"retryDelay": "7s"``), not in a header.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Any

from aiohttp import web

from . import _sse
from ._base import Call, FakeServer, request_json, usage_of
from ._behaviours import Reply, split_text
from ._embeddings import gemini_embedding_routes
from ._gemini_checks import Invalid, check_count_tokens, check_generate

__all__ = ["FakeGemini", "thought_signature"]

_VERSIONS = ("v1", "v1beta", "v1alpha")
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login"
        " cookie or other valid authentication credential. See"
        " https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: (
        "You exceeded your current quota, please check your plan and billing details. For more"
        " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
    ),
    500: (
        "An internal error has occurred. Please retry or report in"
        " https://developers.generativeai.google/guide/troubleshooting"
    ),
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please"
    " use API key or other form of API consumer identity to call this API."
)
_BAD_KEY = "API key not valid. Please pass a valid API key."
_DEFAULT_MODELS = (
    ("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("gemini-2.5-pro", "Gemini 2.5 Pro"),
    ("gemini-2.5-flash-lite", "Gemini 2.5 Flash-Lite"),
    ("gemini-3-pro-preview", "Gemini 3 Pro Preview"),
)
_FINISH = {
    "end_turn": "STOP",
    "stop_sequence": "STOP",
    "tool_use": "STOP",
    "max_tokens": "MAX_TOKENS",
    "refusal": "SAFETY",
}
_GOOGLE_HEADERS = {
    "Vary": "Origin, X-Origin, Referer",
    "X-XSS-Protection": "0",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Server-Timing": "gfet4t7; dur=412",
}
_HTML_404 = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n"
    "  <p><b>404.</b> <ins>That’s an error.</ins>\n  <p>The requested URL <code>{path}</code>"
    " was not found on this server.  <ins>That’s all we know.</ins>\n"
)


def thought_signature(thinking: str) -> str:
    """The deterministic ``thoughtSignature`` the fake attaches when it thinks."""
    return base64.b64encode(b"fake-thought:" + hashlib.sha256(thinking.encode()).digest()).decode()


def _pretty(payload: Any) -> bytes:
    """Google's whole-body JSON: two-space indent, HTML characters escaped."""
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    return text.translate(_sse.GOOGLE_ESCAPES).encode()


def _google_json(payload: Any, status: int = 200) -> web.Response:
    resp = web.Response(body=_pretty(payload), status=status, headers=_GOOGLE_HEADERS)
    resp.headers["Content-Type"] = "application/json; charset=UTF-8"
    return resp


class FakeGemini(FakeServer):
    """Fake ``https://generativelanguage.googleapis.com`` (``base_url`` has no
    version; requests go to ``{base}/v1beta/models/{m}:generateContent``)."""

    base_path = ""
    server_header = "scaffolding on HTTPServer2"
    json_content_type = "application/json; charset=UTF-8"

    def routes(self) -> list[web.RouteDef]:
        return [
            *gemini_embedding_routes(self),  # before the generic model actions
            web.post("/{version}/models/{target}", self._model_action),
            web.get("/{version}/models", self._list_models),
            web.get("/{version}/models/{target}", self._get_model),
        ]

    # -- errors -----------------------------------------------------------

    def _google_error(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        state: str | None = None,
    ) -> web.Response:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": state or _STATUS.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = details
        return _google_json({"error": error}, status)

    def error_response(
        self, status: int, message: str | None, retry_after: float | None, kind: str | None
    ) -> web.Response:
        details: list[dict[str, Any]] = []
        if status == 429:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaValue": "10",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
            ]
            if retry_after is not None:
                details.append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": f"{max(0, math.ceil(retry_after))}s",
                    }
                )
        return self._google_error(
            status, message or _MESSAGES.get(status, "Unknown error."), details, kind
        )

    def _invalid(self, problem: Invalid) -> web.Response:
        details = (
            [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": problem.violations,
                }
            ]
            if problem.violations
            else None
        )
        return self._google_error(400, problem.message, details)

    def stream_error(self, status: int, message: str | None, call: Call, sent: int) -> bytes:
        error = {
            "code": status,
            "message": message or _MESSAGES.get(status, "Unknown error."),
            "status": _STATUS.get(status, "UNKNOWN"),
        }
        if call.api == "sse":
            return _sse.gemini_data({"error": error})
        return (b"\n,\r\n" if sent else b"[") + _pretty({"error": error}) + b"\n]"

    def not_found(self, request: web.Request) -> web.Response:
        resp = web.Response(body=_HTML_404.format(path=request.path).encode(), status=404)
        resp.headers["Content-Type"] = "text/html; charset=UTF-8"
        return resp

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if not self.api_keys:
            return None
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key is None:
            bearer = request.headers.get("Authorization", "")
            key = bearer[7:] if bearer[:7].lower() == "bearer " else None
        if key is None:
            return self._google_error(403, _NO_KEY)
        if key not in self.api_keys:
            return self._google_error(
                400,
                _BAD_KEY,
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US",
                        "message": _BAD_KEY,
                    },
                ],
            )
        return None

    def _unknown_model(self, version: str, model: str, method: str) -> web.Response | None:
        if self.models is None or model in self.models:
            return None
        return self._google_error(
            404,
            f"models/{model} is not found for API version {version}, or is not supported for"
            f" {method}. Call ListModels to see the list of available models and their"
            " supported methods.",
        )

    # -- handlers ---------------------------------------------------------

    async def _model_action(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        model, _, method = request.match_info["target"].partition(":")
        if version not in _VERSIONS or method not in (
            "generateContent",
            "streamGenerateContent",
            "countTokens",
        ):
            return self.not_found(request)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        body = request_json(request)
        if body is None:
            return self._google_error(400, "Invalid JSON payload received. Unexpected token.")
        checker = check_count_tokens if method == "countTokens" else check_generate
        try:
            problem = checker(body, model)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A field of a type the checks do not expect: a 400, as the real API answers.
            return self._google_error(400, f"Invalid JSON payload received. {exc}")
        if problem is not None:
            return self._invalid(problem)
        refused = self._unknown_model(version, model, method)
        if refused is not None:
            return refused
        if method == "countTokens":
            call = self.new_call(request, model, False, body)
            tokens = call.input_tokens
            details = [{"modality": "TEXT", "tokenCount": tokens}]
            return _google_json({"totalTokens": tokens, "promptTokensDetails": details})
        stream = method == "streamGenerateContent"
        api = "sse" if request.query.get("alt") == "sse" else "array"
        return await self.answer(request, self.new_call(request, model, stream, body, api))

    def _model_infos(self) -> list[dict[str, Any]]:
        names = dict(_DEFAULT_MODELS)
        ids = self.models if self.models is not None else tuple(names)
        return [
            {
                "name": f"models/{m}",
                "version": "001",
                "displayName": names.get(m, m),
                "description": f"{names.get(m, m)} (fake)",
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "supportedGenerationMethods": [
                    "generateContent",
                    "countTokens",
                    "createCachedContent",
                    "batchGenerateContent",
                ],
                "temperature": 1,
                "topP": 0.95,
                "topK": 64,
                "maxTemperature": 2,
                "thinking": True,
            }
            for m in ids
        ]

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["version"] not in _VERSIONS:
            return self.not_found(request)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        return _google_json({"models": self._model_infos()})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        version = request.match_info["version"]
        if version not in _VERSIONS:
            return self.not_found(request)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        target = request.match_info["target"]
        for info in self._model_infos():
            if info["name"] == f"models/{target}":
                return _google_json(info)
        return self._google_error(404, f"models/{target} is not found for API version {version}")

    # -- rendering --------------------------------------------------------

    def response_headers(self, call: Call) -> dict[str, str]:
        if call.stream and call.api == "sse":
            return {**_GOOGLE_HEADERS, "Content-Disposition": "attachment"}
        return dict(_GOOGLE_HEADERS)

    def stream_content_type(self, call: Call) -> str:
        return "text/event-stream" if call.api == "sse" else self.json_content_type

    def _shows_thoughts(self, call: Call) -> bool:
        config = call.body.get("generationConfig", call.body.get("generation_config"))
        if not isinstance(config, dict):
            return False
        thinking = config.get("thinkingConfig", config.get("thinking_config"))
        if not isinstance(thinking, dict):
            return False
        return bool(thinking.get("includeThoughts", thinking.get("include_thoughts")))

    def _usage(self, reply: Reply, call: Call, final: bool) -> dict[str, Any]:
        tokens_in, tokens_out = usage_of(reply, call)
        usage: dict[str, Any] = {"promptTokenCount": tokens_in}
        thoughts = max(1, len(reply.thinking) // 4) if reply.thinking else 0
        if final:
            usage["candidatesTokenCount"] = tokens_out
            usage["totalTokenCount"] = tokens_in + tokens_out + thoughts
        else:
            usage["totalTokenCount"] = tokens_in
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": tokens_in}]
        if final and thoughts:
            usage["thoughtsTokenCount"] = thoughts
        return usage

    def _parts(self, reply: Reply, call: Call, whole: bool) -> list[list[dict[str, Any]]]:
        """Parts grouped by the stream chunk that carries them (one group
        holding each text whole when ``whole``, for a non-stream answer)."""

        def pieces(text: str) -> list[str]:
            return ([text] if text else []) if whole else split_text(text, reply.chunks)

        groups: list[list[dict[str, Any]]] = []
        if reply.thinking and self._shows_thoughts(call):
            groups += [[{"text": p, "thought": True}] for p in pieces(reply.thinking)]
        groups += [[{"text": p}] for p in pieces(reply.text)]
        calls: list[dict[str, Any]] = [
            {"functionCall": {"name": t.name, "args": dict(t.arguments)}} for t in reply.tool_calls
        ]
        if calls:
            groups.append(calls)
        if not groups:
            groups.append([{"text": ""}])
        if reply.thinking:
            # The signature rides on the first function call, else on the
            # last answer part, as Gemini 2.5/3 return it.
            target = calls[0] if calls else groups[-1][-1]
            target["thoughtSignature"] = thought_signature(reply.thinking)
        if whole:
            return [[p for group in groups for p in group]]
        return groups

    def _chunk(self, reply: Reply, call: Call, parts: list[Any], final: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if final:
            stop = reply.stop or "end_turn"
            candidate["finishReason"] = _FINISH.get(stop, stop)
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": self._usage(reply, call, final),
            "modelVersion": reply.model or call.model,
            "responseId": call.rid,
        }

    def render_json(self, reply: Reply, call: Call) -> bytes:
        return _pretty(self._chunk(reply, call, self._parts(reply, call, True)[0], True))

    def render_stream(self, reply: Reply, call: Call) -> list[bytes]:
        groups = self._parts(reply, call, False)
        if call.api == "sse":
            return self._sse_frames(reply, call, groups)
        chunks = [self._chunk(reply, call, g, i == len(groups) - 1) for i, g in enumerate(groups)]
        # Without alt=sse Google streams one JSON array, element by element.
        frames = [b"[" + _pretty(chunks[0])]
        frames += [b"\n,\r\n" + _pretty(c) for c in chunks[1:]]
        frames.append(b"\n]")
        return frames

    def _sse_frames(
        self, reply: Reply, call: Call, groups: list[list[dict[str, Any]]]
    ) -> list[bytes]:
        templates: dict[bool, _sse.GeminiTextFrames] = {}
        frames: list[bytes] = []
        for i, group in enumerate(groups):
            part = group[0]
            plain = len(group) == 1 and set(part) in ({"text"}, {"text", "thought"})
            if i == len(groups) - 1 or not plain:
                frames.append(
                    _sse.gemini_data(self._chunk(reply, call, group, i == len(groups) - 1))
                )
                continue
            thought = "thought" in part
            if thought not in templates:
                hole = {"text": _sse.HOLE, **({"thought": True} if thought else {})}
                templates[thought] = _sse.GeminiTextFrames(self._chunk(reply, call, [hole], False))
            frames.append(templates[thought].frame(part["text"]))
        return frames
