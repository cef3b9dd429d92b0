"""The service's settings, read from the ``aistudio`` provider of ``config.yaml``.

    providers:
      aistudio:
        kind: aistudio
        enabled: true
        browser: {engine: auto, max_instances: 3, pages: 3, headless: true,
                  executable_path: /usr/bin/chromium}
        page: {url: https://aistudio.google.com/prompts/new_chat, selectors: {...}}
        relay: {url: ws://127.0.0.1:8317/v1/ws}     # default: the router's own address
        health: {host: 127.0.0.1, port: 8407}

Every URL and selector has the real AI Studio value as its default
(``shared/UPSTREAMS.md``), so tests point them at the fake site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from suite.config import Config, ConfigError, ProviderConfig
from suite.proxies import Proxy

__all__ = ["BrowserSettings", "PageSettings", "Selectors", "Settings", "settings_from_config"]

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@dataclass(frozen=True, slots=True)
class Selectors:
    """CSS selectors the page driver uses (a comma means: any of these)."""

    prompt: str = "ms-prompt-input-wrapper textarea, ms-autosize-textarea textarea"
    run: str = 'ms-run-button button[type="submit"], button[aria-label="Run"]'
    stop: str = 'button[aria-label="Stop generating"]'
    answer: str = "ms-chat-turn .chat-turn-container.model"
    answer_text: str = "ms-cmark-node"
    thinking: str = "ms-thought-chunk"
    model_name: str = '[data-test-id="model-name"]'
    error_toast: str = "div.toast.warning, div.toast.error"
    error_callout: str = "ms-callout.error-callout .message"
    temperature: str = 'ms-slider input.slider-number-input[aria-valuemax="2"]'
    top_p: str = 'ms-slider input.slider-number-input[aria-valuemax="1"]'
    max_tokens: str = 'input[aria-label="Maximum output tokens"]'
    stop_sequence: str = 'input[aria-label="Add stop token"]'
    stop_chip_remove: str = 'mat-chip button.remove-button[aria-label*="Remove"]'


@dataclass(frozen=True, slots=True)
class PageSettings:
    url: str = "https://aistudio.google.com/prompts/new_chat"
    signin_hosts: tuple[str, ...] = ("accounts.google.com",)
    quota_words: tuple[str, ...] = ("exceeded quota", "quota", "rate limit", "too many requests")
    model_storage_key: str = "aiStudioUserPreference"
    load_timeout: float = 30.0
    generation_timeout: float = 600.0  # one answer, start to end
    selectors: Selectors = field(default_factory=Selectors)


@dataclass(frozen=True, slots=True)
class BrowserSettings:
    engine: str = "auto"  # auto | camoufox | chromium
    max_instances: int = 3  # browser contexts, one per profile
    pages: int = 3  # pages per context (requests one context serves at once)
    headless: bool = True
    executable_path: str = ""  # chromium: empty = look for chromium on PATH
    args: tuple[str, ...] = CHROMIUM_FLAGS
    idle_reload_seconds: float = 900.0
    save_interval_seconds: float = 600.0
    acquire_timeout: float = 300.0  # a request waits at most this long for a free page
    close_timeout: float = 10.0  # stopping: page resets, last profile saves, browser close


@dataclass(frozen=True, slots=True)
class Settings:
    provider: str
    relay_url: str
    token: str
    auth_dir: Path
    health_host: str = "127.0.0.1"
    health_port: int = 8407
    login_timeout: float = 300.0
    model_suffix: str = "-aistudio"
    browser: BrowserSettings = field(default_factory=BrowserSettings)
    page: PageSettings = field(default_factory=PageSettings)
    instance: str = ""
    # The browser's proxy to AI Studio: providers.<aistudio>.proxy_url, else server.proxy_url.
    proxy: Proxy | None = field(default=None, repr=False)


def _section(prov: ProviderConfig, name: str) -> Mapping[str, Any]:
    value = prov.options.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"providers.{prov.name}.{name}", "expected a mapping")
    return value


def _fill(obj: Any, data: Mapping[str, Any], key: str) -> Any:
    """``obj`` with the keys of ``data`` applied, each checked against the field's type."""
    known = {f.name: f for f in fields(obj)}
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known or name == "selectors":
            if name != "selectors":
                raise ConfigError(
                    f"{key}.{name}", f"unknown key (expected one of: {', '.join(known)})"
                )
            continue
        current = getattr(obj, name)
        if isinstance(current, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{key}.{name}", f"expected true or false, got {value!r}")
        elif isinstance(current, int | float):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{key}.{name}", f"expected a positive number, got {value!r}")
            value = type(current)(value)
        elif isinstance(current, tuple):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{key}.{name}", "expected a list of strings")
            value = tuple(value)
        elif not isinstance(value, str):
            raise ConfigError(f"{key}.{name}", f"expected a string, got {value!r}")
        changes[name] = value
    return replace(obj, **changes)


def settings_from_config(config: Config, provider: str | None = None) -> Settings:
    """The settings of one aistudio provider (the first one, unless named)."""
    candidates = [p for p in config.providers.values() if p.kind == "aistudio"]
    if provider is not None:
        candidates = [p for p in candidates if p.name == provider]
    if not candidates:
        what = f"named {provider!r}" if provider else "of kind aistudio"
        raise ConfigError("providers", f"no provider {what}")
    prov = candidates[0]
    key = f"providers.{prov.name}"
    browser = _fill(BrowserSettings(), _section(prov, "browser"), f"{key}.browser")
    if browser.engine not in ("auto", "camoufox", "chromium"):
        raise ConfigError(
            f"{key}.browser.engine", f"expected auto, camoufox or chromium, got {browser.engine!r}"
        )
    page_data = _section(prov, "page")
    page = _fill(PageSettings(), page_data, f"{key}.page")
    sel = page_data.get("selectors") or {}
    if not isinstance(sel, dict):
        raise ConfigError(f"{key}.page.selectors", "expected a mapping")
    page = replace(page, selectors=_fill(Selectors(), sel, f"{key}.page.selectors"))
    relay = _section(prov, "relay")
    srv = config.server
    host = "127.0.0.1" if srv.host in ("", "0.0.0.0", "::") else srv.host
    relay_url = str(relay.get("url") or f"ws://{host}:{srv.port}/v1/ws")
    if not relay_url.startswith(("ws://", "wss://")):
        raise ConfigError(f"{key}.relay.url", f"expected a ws:// or wss:// URL, got {relay_url!r}")
    health = _section(prov, "health")
    port = health.get("port", 8407)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"{key}.health.port", f"expected a TCP port, got {port!r}")
    suffix = prov.options.get("model_suffix", "-aistudio")
    login_timeout = prov.options.get("login_timeout_seconds", 300.0)
    return Settings(
        provider=prov.name,
        relay_url=relay_url,
        token=config.services.token,
        auth_dir=config.auth.dir,
        health_host=str(health.get("host", "127.0.0.1")),
        health_port=port,
        login_timeout=float(login_timeout),
        model_suffix=str(suffix or ""),
        browser=browser,
        page=page,
        instance=str(prov.options.get("instance", "")),
        proxy=config.server.proxy.choose(prov.proxy_url, page.url),
    )
