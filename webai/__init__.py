"""webai: an OpenAI-compatible service in front of the Gemini web app and g4f providers.

``python -m webai`` runs it on loopback (``providers.webai.url``, default
``http://127.0.0.1:8406``); the router's ``webai`` executor forwards to it.
See docs/webai.md.
"""

from ._app import SECRETS, SERVICE, Service, build_backends, create_app
from ._chain import Backend, BackendHealth, Delta, Timeouts
from ._cookies import CookieStore, Secrets, SessionCookies
from ._errors import (
    AuthFailed,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ChainFailed,
    ModelNotFound,
    RateLimited,
    RequestError,
    WebAIError,
)
from ._g4f import G4FBackend, resolve_provider
from ._gemini import GeminiWebBackend
from ._logs import forward_library_logs, silence_library_logs
from ._messages import ChatRequest, Message, parse_chat_request
from ._settings import FallbackSettings, GeminiSettings, WebAISettings, load_settings

__all__ = [
    "AuthFailed",
    "Backend",
    "BackendError",
    "BackendHealth",
    "BackendTimeout",
    "BackendUnavailable",
    "ChainFailed",
    "ChatRequest",
    "CookieStore",
    "Delta",
    "FallbackSettings",
    "G4FBackend",
    "GeminiSettings",
    "GeminiWebBackend",
    "Message",
    "ModelNotFound",
    "RateLimited",
    "RequestError",
    "SECRETS",
    "SERVICE",
    "Secrets",
    "Service",
    "SessionCookies",
    "Timeouts",
    "WebAIError",
    "WebAISettings",
    "build_backends",
    "create_app",
    "forward_library_logs",
    "load_settings",
    "parse_chat_request",
    "resolve_provider",
    "silence_library_logs",
]
