"""``proxy_url`` in config.yaml: checked at load, resolved in one order, never shown with its
password; webai and aistudio read the same keys (docs/operations.md, "Outbound proxy")."""

from __future__ import annotations

from typing import Any

import pytest

from aistudio._engines import launch_proxy
from aistudio._settings import settings_from_config
from router.auth import AuthRecord
from router.executors import OpenAIExecutor
from suite.config import ConfigError, parse_config
from suite.proxies import EnvProxies, InvalidProxy, parse_proxy, proxy_label
from suite.secrets import config_secrets, record_secrets
from webai import load_settings

PASSWORD = "s3cret-proxy-pass"


def load(server: dict[str, Any] | None = None, environ: dict[str, str] | None = None, **providers):
    raw = {"server": server or {}, "providers": providers}
    return parse_config(raw, environ=environ or {})


OPENAI = {"kind": "openai-compatible", "base_url": "https://api.example.com/v1", "api_keys": ["k"]}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ftp://user:{pw}@proxy:21", "scheme http, https, socks5, socks5h"),
        ("socks5://user:{pw}@proxy", "a port is required"),
        ("http://user:{pw}@proxy:99999", "not a valid port"),
        ("http://user:{pw}@proxy:3128/path", "no path or query"),
        ("http://user:{pw}@:3128", "no host"),
        ("user:{pw}@proxy:3128", "expected a proxy URL"),
    ],
)
def test_a_bad_proxy_url_is_an_error_naming_its_key_and_never_its_password(
    value: str, problem: str
) -> None:
    url = value.format(pw=PASSWORD)
    for where, kwargs in (
        ("server.proxy_url", {"server": {"proxy_url": url}}),
        ("providers.p.proxy_url", {"p": {**OPENAI, "proxy_url": url}}),
    ):
        with pytest.raises(ConfigError) as caught:
            load(**kwargs)
        assert caught.value.key == where
        assert problem in str(caught.value) and PASSWORD not in str(caught.value)


def test_misspelt_proxy_keys_are_errors_that_name_them() -> None:
    with pytest.raises(ConfigError, match=r"server\.proxy: unknown key"):
        load(server={"proxy": "http://h:1"})
    with pytest.raises(ConfigError, match=r"providers\.p\.proxy_ur: unknown key.*proxy_url"):
        load(p={**OPENAI, "proxy_ur": "http://h:1"})
    with pytest.raises(ConfigError, match="only for server.proxy_url"):
        load(p={**OPENAI, "proxy_url": "env"})


def test_each_provider_gets_its_own_else_the_servers_and_the_suites_services_none() -> None:
    cfg = load(
        {"proxy_url": f"socks5h://u:{PASSWORD}@10.0.0.1:1080"},
        own={**OPENAI, "proxy_url": "http://proxy.lan:3128"},
        inherits=OPENAI,
        direct={**OPENAI, "proxy_url": "direct"},
        webai={"kind": "webai", "proxy_url": "http://g.lan:8080"},
    )
    p = cfg.providers
    assert p["own"].proxy is not None and p["own"].proxy.label == "http://proxy.lan:3128"
    assert p["inherits"].proxy is not None
    assert p["inherits"].proxy.label == "socks5h://10.0.0.1:1080"
    assert p["inherits"].proxy.password == PASSWORD
    assert p["direct"].proxy is None
    assert p["webai"].proxy is None  # the router reaches its own service on loopback
    assert PASSWORD not in repr(cfg.server) + repr(cfg.providers)


def test_env_reads_the_variables_config_handed_in_and_checks_them() -> None:
    environ = {
        "HTTPS_PROXY": f"http://u:{PASSWORD}@corp:3128",
        "HTTP_PROXY": "socks5://corp:1080",
        "NO_PROXY": "localhost,.internal.example,10.0.0.0/8,api.example.com:8443",
    }
    cfg = load({"proxy_url": "env"}, environ, p=OPENAI)
    policy = cfg.server.proxy
    assert str(policy.for_url("https://api.anthropic.com/v1")) == "http://corp:3128"
    assert str(policy.for_url("http://plain.example.org/")) == "socks5://corp:1080"
    for bypassed in (
        "https://localhost:9/",
        "https://a.internal.example/x",
        "https://internal.example/",
        "https://10.2.3.4/",
        "https://api.example.com:8443/",
    ):
        assert policy.for_url(bypassed) is None, bypassed
    assert policy.for_url("https://api.example.com/") is not None  # another port
    assert cfg.providers["p"].proxy is not None
    assert PASSWORD in config_secrets(cfg)
    with pytest.raises(ConfigError) as caught:
        load({"proxy_url": "env"}, {"HTTPS_PROXY": f"gopher://u:{PASSWORD}@x:1"})
    assert "HTTPS_PROXY" in str(caught.value) and PASSWORD not in str(caught.value)
    # Not asked for: a bad variable in the environment breaks nothing and is not used.
    cfg = load({}, {"HTTPS_PROXY": "gopher://x:1"}, p=OPENAI)
    assert cfg.providers["p"].proxy is None and cfg.server.proxy.for_url("https://a/") is None


def test_a_star_in_no_proxy_bypasses_everything() -> None:
    env = EnvProxies.from_values("http://p:1", "http://p:1", "*")
    assert env.for_url("https://anything/") is None


def test_labels_and_errors_show_no_userinfo() -> None:
    proxy = parse_proxy(f"socks5://user:{PASSWORD}@[::1]:1080")
    assert proxy.label == "socks5://[::1]:1080" and proxy.address == "[::1]:1080"
    assert PASSWORD not in repr(proxy) + str(proxy)
    assert proxy_label(f"http://u:{PASSWORD}@h:3128") == "http://h:3128"
    assert proxy_label("direct") == "direct"
    bad = proxy_label(f"nope://u:{PASSWORD}@h:1")
    assert bad.startswith("invalid") and PASSWORD not in bad
    with pytest.raises(InvalidProxy) as caught:
        parse_proxy(f"http://u:{PASSWORD}@h:1/x")
    assert PASSWORD not in str(caught.value)


def test_a_credentials_proxy_password_is_a_secret_and_not_in_its_summary() -> None:
    rec = AuthRecord("codex-a@example.com", "codex", {"proxy_url": f"http://u:{PASSWORD}@h:8"})
    assert PASSWORD in record_secrets(rec.data)
    assert rec.summary()["proxy"] == "http://h:8"
    assert rec.token().proxy_url.endswith("@h:8") and PASSWORD not in repr(rec.token())


async def test_an_executor_keeps_one_session_per_proxy_not_per_request() -> None:
    cfg = load({"proxy_url": "http://global:3128"}, p=OPENAI)
    ex = OpenAIExecutor(cfg.providers["p"])
    try:
        first = ex.session()
        assert ex.session() is first
        own = ex.session("socks5://other:1080")
        assert own is not first and ex.session("socks5://other:1080") is own
        assert ex.session("direct") is not first
        assert len(ex._sessions) == 3
    finally:
        await ex.close()


def test_webai_reads_the_same_keys() -> None:
    webai = {"kind": "webai", "url": "http://127.0.0.1:8406"}
    server = {"proxy_url": "http://global:3128"}
    s = load(server, webai=webai)
    assert (load_settings(s).gemini.proxy, load_settings(s).fallback) == ("http://global:3128", ())
    own = load(server, webai={**webai, "proxy_url": f"socks5://u:{PASSWORD}@own:1080"})
    assert load_settings(own).gemini.proxy == f"socks5://u:{PASSWORD}@own:1080"
    fallback = [{"provider": "A"}, {"provider": "B", "proxy": "direct"}]
    both = load(
        server,
        webai={**webai, "gemini": {"proxy": "http://older:1"}, "fallback": fallback},
    )
    settings = load_settings(both)
    assert settings.gemini.proxy == "http://older:1"  # the older key still wins
    assert [f.proxy for f in settings.fallback] == ["http://global:3128", ""]
    assert PASSWORD not in repr(load_settings(own))
    with pytest.raises(ConfigError, match=r"gemini\.proxy"):
        load_settings(load(server, webai={**webai, "gemini": {"proxy": "nope"}}))


def test_aistudio_browser_gets_the_proxy_as_playwright_takes_it() -> None:
    studio = {"kind": "aistudio", "proxy_url": f"socks5h://u:{PASSWORD}@10.1.1.1:1080"}
    settings = settings_from_config(load(aistudio=studio))
    assert launch_proxy(settings.proxy) == {
        "proxy": {"server": "socks5://10.1.1.1:1080", "username": "u", "password": PASSWORD}
    }
    inherited = settings_from_config(
        load({"proxy_url": "http://g:3128"}, aistudio={"kind": "aistudio"})
    )
    assert launch_proxy(inherited.proxy) == {"proxy": {"server": "http://g:3128"}}
    assert launch_proxy(settings_from_config(load(aistudio={"kind": "aistudio"})).proxy) == {}


def test_an_uploaded_token_file_keeps_a_good_proxy_and_refuses_a_bad_one() -> None:
    from router.console._token_file import TokenFileError, parse_token_file

    base = {"type": "codex", "email": "a@example.com", "refresh_token": "rt-0123456789"}
    good = f"socks5h://u:{PASSWORD}@10.0.0.1:1080"
    assert parse_token_file("codex-a.json", {**base, "proxy_url": good}).proxy_url == good
    for bad in (f"ftp://u:{PASSWORD}@h:1", 8080):
        with pytest.raises(TokenFileError, match="proxy_url") as caught:
            parse_token_file("codex-a.json", {**base, "proxy_url": bad})
        assert PASSWORD not in str(caught.value)
