"""The provider kinds: one record per kind, read by the config loader and the router.

A kind used to be spread over five modules (the list of kinds and default URLs
here, the store type in ``router.auth``, the executor class in
``router.executors``, the service credential in ``router.auth._credential``,
the relay in ``router.state``) and its options were an unchecked mapping, so a
bad ``max_connections`` surfaced as a 500 on the first request and a misspelt
key was silently ignored. Now each kind says here where its credentials come
from, its default base URL and the dataclass of its own options, which is
filled and checked when the config loads: an unknown key is an error naming it.

The executor class is the one thing not here: ``suite`` is shared by the
services, which must not import the router, so ``router.executors`` keeps its
class per kind and a test checks that every kind listed here has one.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ._reader import ConfigError, Section, kind_of

__all__ = [
    "AIStudioOptions",
    "CodexOptions",
    "CredentialSource",
    "CtoNewOptions",
    "HTTPOptions",
    "KINDS",
    "KindOptions",
    "OpenAIOptions",
    "ProviderKind",
    "SignInOptions",
    "WebAIOptions",
    "read_options",
]

# Where a provider's credentials come from: its ``api_keys``; the credential store
# (a sign-in of ``store_type``); the suite's own service token; the /v1/ws relay.
CredentialSource = Literal["api_keys", "store", "service", "relay"]


@dataclass(frozen=True, slots=True)
class KindOptions:
    """Options every kind takes besides the common keys (none)."""


@dataclass(frozen=True, slots=True)
class HTTPOptions(KindOptions):
    """Kinds that hold an HTTP connection pool to their upstream."""

    # Upstream connections at once; unset (0): server.limits.max_connections, since each
    # client connection needs at most one (a smaller pool queues streams behind each other).
    max_connections: int = 0


@dataclass(frozen=True, slots=True)
class OpenAIOptions(HTTPOptions):
    """``wire: responses`` speaks OpenAI Responses to the upstream instead of Chat."""

    wire: str = "chat"


@dataclass(frozen=True, slots=True)
class SignInOptions(HTTPOptions):
    """Subscriptions signed in with OAuth (docs/credentials.md)."""

    accounts: tuple[str, ...] = ()  # empty: every stored sign-in of the kind
    oauth: Mapping[str, Any] = field(default_factory=dict)
    refresh_lead_seconds: float = 600.0
    client: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CodexOptions(SignInOptions):
    instructions: str = ""


@dataclass(frozen=True, slots=True)
class CtoNewOptions(HTTPOptions):
    accounts: tuple[str, ...] = ()
    clerk_url: str = ""
    ws_url: str = ""
    origin: str = ""
    refresh_lead_seconds: float = 10.0


@dataclass(frozen=True, slots=True)
class AIStudioOptions(KindOptions):
    """The aistudio service's sections are checked key by key by ``aistudio`` itself."""

    browser: Mapping[str, Any] = field(default_factory=dict)
    page: Mapping[str, Any] = field(default_factory=dict)
    relay: Mapping[str, Any] = field(default_factory=dict)
    health: Mapping[str, Any] = field(default_factory=dict)
    model_suffix: str = "-aistudio"
    login_timeout_seconds: float = 300.0
    instance: str = ""


@dataclass(frozen=True, slots=True)
class WebAIOptions(HTTPOptions):
    """The webai service's sections are checked key by key by ``webai`` itself."""

    url: str = ""
    port: int = 0
    gemini: Mapping[str, Any] = field(default_factory=dict)
    fallback: tuple[Any, ...] = ()
    backend_timeouts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProviderKind:
    """One executor kind: where its credentials come from, its default upstream, its
    options. ``store_type`` names the stored sign-ins it uses (``store`` kinds)."""

    name: str
    default_base_url: str
    credentials: CredentialSource
    options: type[KindOptions]
    store_type: str | None = None


KINDS: Mapping[str, ProviderKind] = {
    k.name: k
    for k in (
        ProviderKind("anthropic", "https://api.anthropic.com", "api_keys", HTTPOptions),
        ProviderKind("openai-compatible", "https://api.openai.com/v1", "api_keys", OpenAIOptions),
        ProviderKind(
            "gemini", "https://generativelanguage.googleapis.com", "api_keys", HTTPOptions
        ),
        ProviderKind("claude-oauth", "https://api.anthropic.com", "store", SignInOptions, "claude"),
        ProviderKind(
            "codex-oauth", "https://chatgpt.com/backend-api/codex", "store", CodexOptions, "codex"
        ),
        ProviderKind("ctonew", "https://api.enginelabs.ai", "store", CtoNewOptions, "ctonew"),
        ProviderKind(
            "aistudio", "https://generativelanguage.googleapis.com", "relay", AIStudioOptions
        ),
        ProviderKind("webai", "http://127.0.0.1:8406", "service", WebAIOptions),
    )
}

_WIRES = ("chat", "responses")
_OAUTH_KEYS = (
    "client_id",
    "authorize_url",
    "token_url",
    "scopes",
    "redirect_port",
    "callback_path",
    "paste_redirect_uri",
)


def read_options(p: Section, kind: ProviderKind, common: tuple[str, ...]) -> KindOptions:
    """The kind's options from a provider entry, every key checked: a key that is
    neither common nor an option of the kind is an error that names it."""
    names = {f.name: f for f in dataclasses.fields(kind.options)}
    allowed = [*common, *names]
    unknown = [str(k) for k in p.data if k not in names and k not in common]
    if len(unknown) == 1:
        key = unknown[0]
        raise ConfigError(
            p.key(key),
            f"unknown key{_hint(key, allowed)} for kind {kind.name}"
            f" (expected one of: {', '.join(allowed)})",
        )
    if unknown:  # every one named at once: three typos are not three rounds of editing
        listed = "; ".join(f"{key}{_hint(key, allowed)}" for key in unknown)
        raise ConfigError(
            p.path,
            f"unknown keys for kind {kind.name}: {listed} (expected one of: {', '.join(allowed)})",
        )
    defaults = kind.options()
    values: dict[str, Any] = {}
    for name in names:
        if name in p.data and p.data[name] is not None:
            values[name] = _value(p, name, getattr(defaults, name))
    options = kind.options(**values)
    if isinstance(options, OpenAIOptions) and options.wire not in _WIRES:
        raise ConfigError(p.key("wire"), f"expected chat or responses, got {options.wire!r}")
    return options


def _hint(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _value(p: Section, name: str, default: Any) -> Any:
    """One option, read as the type of its default."""
    if isinstance(default, bool):
        return p.boolean(name, default)
    if isinstance(default, int):
        return p.integer(name, default, minimum=1)
    if isinstance(default, float):
        return p.number(name, default)
    if isinstance(default, str):
        return p.string(name, default)
    if isinstance(default, tuple):
        raw = p.data[name]
        if name == "fallback":
            if not isinstance(raw, list):
                raise ConfigError(p.key(name), f"expected a list, got {kind_of(raw)}")
            return tuple(raw)
        return p.strings(name)
    sec = p.section(name)
    if name == "oauth":
        sec.only(*_OAUTH_KEYS)
    return dict(sec.data)  # the services' sections: their keys are checked by their readers
