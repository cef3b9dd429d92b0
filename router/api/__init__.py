"""The client-facing HTTP API: every route and the middleware in front of it."""

from aiohttp import web

from . import (
    _anthropic,
    _captures,
    _client_keys,
    _console,
    _embeddings,
    _gemini,
    _health,
    _management,
    _models,
    _observability,
    _openai,
    _relay,
    _responses,
)
from ._keys import STATE
from ._middleware import is_loopback, proxy_middleware

__all__ = ["STATE", "is_loopback", "proxy_middleware", "setup_routes"]


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", _health.index)
    r.add_get("/healthz", _health.healthz)
    r.add_get("/readyz", _health.readyz)
    r.add_post("/v1/chat/completions", _openai.chat_completions)
    r.add_post("/chat/completions", _openai.chat_completions)
    r.add_post("/v1/embeddings", _embeddings.openai_embeddings)
    r.add_post("/embeddings", _embeddings.openai_embeddings)
    r.add_post("/v1/responses", _responses.create_response)
    r.add_post("/responses", _responses.create_response)
    r.add_post("/v1/messages", _anthropic.messages)
    r.add_post("/v1/messages/count_tokens", _anthropic.count_tokens)
    r.add_get("/v1/models", _models.model_list)
    r.add_get("/v1/models/{model:[^/]+}", _models.model_get)
    r.add_post("/v1/models/{target:[^/]+}", _gemini.model_action)
    r.add_get("/v1beta/models", _models.gemini_list)
    r.add_get("/v1beta/models/{model:[^/]+}", _models.model_get)
    r.add_post("/v1beta/models/{target:[^/]+}", _gemini.model_action)
    r.add_get("/v1/ws", _relay.relay_socket)
    r.add_post("/v1/auth/aistudio/login", _relay.aistudio_login)
    r.add_get("/v1/auth/aistudio/services", _relay.relay_services)
    r.add_get("/v1/requests/{request_id}", _captures.show_capture)
    _management.setup(app)
    _client_keys.setup_keys(app)
    _observability.setup(app)
    _console.setup(app)
