"""A local OpenAI platform API (and ChatGPT Codex backend) for tests.

Serves, under ``base_url = http://127.0.0.1:PORT/v1``: ``POST
/chat/completions``, ``POST /responses``, ``GET /models`` and ``GET
/models/{id}``; and under ``codex_base_url =
http://127.0.0.1:PORT/backend-api/codex``: ``POST /responses`` with the
ChatGPT backend's extra rules (``_codex_backend``: ``store: false``,
``stream: true``, no system messages, instructions only on an older backend
(``codex_legacy``), ``{"detail": ...}`` 400 bodies and a
``usage_limit_reached`` 429 as codex-rs parses it), the plan's
``x-codex-*`` usage headers on every answer (``codex_usage``), the
conversations' session ids (``codex_sessions``), and ``GET
/backend-api/wham/usage``.

Errors use the platform shape ``{"error": {"message", "type", "param",
"code"}}`` with ``x-request-id``; 401 texts, 429 ``rate_limit_exceeded`` /
``insufficient_quota`` and the invalid-JSON message are the real ones
(platform.openai.com/docs/guides/error-codes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from . import _openai_render as render
from . import _sse
from ._base import Call, FakeServer, request_json
from ._behaviours import Behaviour, Reply
from ._codex_backend import Sessions, check_codex, usage_body, usage_headers
from ._embeddings import openai_embedding_routes
from ._openai_checks import Problem, check_chat, check_responses

__all__ = ["FakeOpenAI"]

_DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "gpt-5-codex", "o3")
_ORG = "org-fakeorganization000000"
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't"
    " using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was"
    " sent was not valid JSON. If you have trouble figuring out how to fix this, please"
    " contact us through our help center at help.openai.com.)"
)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization"
    " header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field"
    " (with blank username) if you're accessing the API from your browser and are prompted for"
    " a username. You can obtain an API key from https://platform.openai.com/account/api-keys."
)
# status -> (type, code, message)
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "request_forbidden",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests in organization " + _ORG + " on requests per min (RPM):"
        " Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit"
        " https://platform.openai.com/account/rate-limits to learn more.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more"
    " information on this error, read the docs:"
    " https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def _redact(key: str) -> str:
    if len(key) <= 8:
        return key[:2] + "*" * max(0, len(key) - 2)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


class FakeOpenAI(FakeServer):
    """Fake ``https://api.openai.com/v1`` (and the Codex backend beside it).

    ``reasoning_field``: where Chat Completions puts ``Reply.thinking``
    (``reasoning_content`` as DeepSeek/vLLM/OpenRouter-style servers do;
    ``None`` for api.openai.com, which never returns reasoning text).
    """

    base_path = "/v1"

    def __init__(
        self,
        api_keys: Sequence[str] = (),
        *,
        port: int = 0,
        models: Sequence[str] | None = None,
        default: Behaviour | None = None,
        reasoning_field: str | None = "reasoning_content",
    ) -> None:
        super().__init__(api_keys, port=port, models=models, default=default)
        self.reasoning_field = reasoning_field
        #: The ChatGPT plan's windows, used percent (``primary``: 5 hours, ``secondary``: week).
        self.codex_usage: dict[str, float] = {"primary": 12.0, "secondary": 3.0}
        #: An older backend: instructions required, as before Codex CLI dropped them.
        self.codex_legacy = False
        self.codex_sessions = Sessions()

    @property
    def codex_base_url(self) -> str:
        """Base URL of the fake ChatGPT Codex backend (``/responses`` under it)."""
        return f"http://{self.host}:{self.port}/backend-api/codex"

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._chat),
            web.post("/v1/responses", self._responses),
            web.get("/v1/models", self._list_models),
            web.get("/v1/models/{model_id}", self._get_model),
            web.post("/backend-api/codex/responses", self._codex),
            web.get("/backend-api/wham/usage", self._wham_usage),
            *openai_embedding_routes(self),
        ]

    # -- errors -----------------------------------------------------------

    def response_headers(self, call: Call) -> dict[str, str]:
        return {
            "x-request-id": "req_" + call.rid + call.rid[:8],
            "openai-organization": _ORG,
            "openai-processing-ms": "42",
            "openai-version": "2020-10-01",
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            **({"Cache-Control": "no-cache"} if call.stream else {}),
            **(usage_headers(self.codex_usage) if call.api == "codex" else {}),
        }

    def _error(
        self,
        status: int,
        message: str,
        kind: str,
        code: str | None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        all_headers = {"x-request-id": "req_" + "0" * 32, "openai-version": "2020-10-01"}
        all_headers.update(headers or {})
        return self.json(body, status, all_headers)

    def error_response(
        self, status: int, message: str | None, retry_after: float | None, kind: str | None
    ) -> web.Response:
        kind_, code, text = _ERRORS.get(status, ("server_error", None, "Internal error."))
        if kind == "insufficient_quota":
            kind_, code, text = "insufficient_quota", "insufficient_quota", _QUOTA
        elif kind is not None:
            kind_ = code = kind
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["retry-after"] = str(max(0, math.ceil(retry_after)))
        if status == 429:
            headers["x-ratelimit-remaining-requests"] = "0"
            headers["x-ratelimit-reset-requests"] = f"{retry_after or 0.12:g}s"
        return self._error(status, message or text, kind_, code, headers=headers)

    def stream_error(self, status: int, message: str | None, call: Call, sent: int) -> bytes:
        kind, code, text = _ERRORS.get(status, ("server_error", None, "Internal error."))
        if call.api == "chat":
            error = {"message": message or text, "type": kind, "param": None, "code": code}
            return _sse.unnamed({"error": error})
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        return render.responses_failed(call, code, message or text, sent)

    def _problem(self, problem: Problem) -> web.Response:
        return self._error(
            400, problem.message, "invalid_request_error", problem.code, problem.param
        )

    def not_found(self, request: web.Request) -> web.Response:
        return self._error(
            404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error", None
        )

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if not self.api_keys:
            return None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer ":
            return self._error(401, _NO_KEY, "invalid_request_error", None)
        key = header[7:].strip()
        if key not in self.api_keys:
            return self._error(
                401,
                f"Incorrect API key provided: {_redact(key)}. You can find your API key at"
                " https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    def _unknown_model(self, model: str) -> web.Response | None:
        if self.models is None or model in self.models:
            return None
        return self._error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )

    # -- handlers ---------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._model_request(request, check_chat, "chat")

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._model_request(request, check_responses, "responses")

    async def _model_request(
        self, request: web.Request, check: Callable[[Any], Problem | None], api: str
    ) -> web.StreamResponse:
        """Auth, JSON, the API's own validation and the model check, then the answer."""
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        body = request_json(request)
        if body is None:
            return self._error(400, _BAD_JSON, "invalid_request_error", None)
        try:
            problem = check(body)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A field of a type the checks do not expect: a 400, as the real API answers.
            return self._error(400, f"Invalid request body: {exc}", "invalid_request_error", None)
        if problem is not None:
            return self._problem(problem)
        refused = self._unknown_model(body["model"])
        if refused is not None:
            return refused
        call = self.new_call(request, body["model"], body.get("stream") is True, body, api)
        return await self.answer(request, call)

    def _codex_auth(self, request: web.Request) -> web.Response | None:
        if self.api_keys:
            header = request.headers.get("Authorization", "")
            if header[:7].lower() != "bearer " or header[7:].strip() not in self.api_keys:
                return self.json(
                    {
                        "detail": "Could not parse your authentication token. Please try signing in again."
                    },
                    401,
                )
        return None

    async def _wham_usage(self, request: web.Request) -> web.StreamResponse:
        denied = self._codex_auth(request)
        if denied is not None:
            return denied
        account = request.headers.get("chatgpt-account-id", "")
        return self.json(usage_body(self.codex_usage, account))

    async def _codex(self, request: web.Request) -> web.StreamResponse:
        denied = self._codex_auth(request)
        if denied is not None:
            return denied
        body = request_json(request)
        detail = check_codex(body, legacy=self.codex_legacy)
        if detail is None:
            problem = check_responses(body)
            detail = problem.message if problem is not None else None
        if detail is not None:
            return self.json({"detail": detail}, 400)
        self.codex_sessions.turn(body, request.headers)
        call = self.new_call(request, body["model"], True, body, "codex")
        return await self.answer(request, call, self._codex_error)

    def _codex_error(
        self, status: int, message: str | None, retry_after: float | None, kind: str | None
    ) -> web.Response:
        if status == 429:
            seconds = math.ceil(retry_after) if retry_after is not None else 3600
            body: dict[str, Any] = {
                "error": {
                    "type": kind or "usage_limit_reached",
                    "message": message or "The usage limit has been reached",
                    "plan_type": "plus",
                    "resets_in_seconds": seconds,
                }
            }
            return self.json(body, 429, {"retry-after": str(seconds)} if retry_after else None)
        return self.json(
            {"detail": message or _ERRORS.get(status, ("", None, "Internal error."))[2]}, status
        )

    def _model_list(self) -> list[dict[str, Any]]:
        ids = self.models if self.models is not None else _DEFAULT_MODELS
        return [
            {"id": m, "object": "model", "created": 1715367049, "owned_by": "system"} for m in ids
        ]

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        return self.json({"object": "list", "data": self._model_list()})

    async def _get_model(self, request: web.Request) -> web.StreamResponse:
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        for info in self._model_list():
            if info["id"] == request.match_info["model_id"]:
                return self.json(info)
        model = request.match_info["model_id"]
        return self._error(
            404,
            f"The model '{model}' does not exist",
            "invalid_request_error",
            "model_not_found",
            "model",
        )

    # -- rendering --------------------------------------------------------

    def render_json(self, reply: Reply, call: Call) -> bytes:
        if call.api == "chat":
            return render.chat_json(reply, call, self.reasoning_field)
        return render.responses_json(reply, call)

    def render_stream(self, reply: Reply, call: Call) -> list[bytes]:
        if call.api == "chat":
            return render.chat_stream(reply, call, self.reasoning_field)
        return render.responses_stream(reply, call)
