"""Outbound proxies end to end: what the router sends goes through the proxy it is told.

The proxies are the loopback fakes of ``tests.fakes.proxy`` (HTTP CONNECT and
SOCKS5, with and without a password); they record every tunnel and every HTTP
request line that passed, so a request on a kept-alive tunnel is counted too.
The upstreams are the usual fakes (OAuth, the Codex backend, cto.new), the
client the official openai SDK.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import openai
import orjson
import pytest

from router.auth import FileStore
from router.auth._postgres import PostgresStore
from suite.config import parse_config
from tests.fakes import FakeOpenAI, Reply
from tests.fakes._tls import TestCA
from tests.fakes.ctonew import FakeCtoNew
from tests.fakes.oauth import FakeOAuth
from tests.fakes.proxy import HTTPProxy, Socks5Proxy, closed_port
from tests.router.auth._support import (
    CLIENT_KEY,
    MANAGEMENT_KEY,
    codex_record,
    provider_configs,
    raw_config,
    write_cliproxy_file,
)

MGMT = {"Authorization": f"Bearer {MANAGEMENT_KEY}"}
PROXY_USER = "proxy-user"
PROXY_PASSWORD = "pr0xy-pa55word-never-shown"
RESPONSES = "/backend-api/codex/responses"
TOKEN = "/oauth/token"

ProxyFactory = Callable[[], HTTPProxy | Socks5Proxy]
KINDS: dict[str, ProxyFactory] = {
    "http": lambda: HTTPProxy(),
    "http-password": lambda: HTTPProxy(auth=(PROXY_USER, PROXY_PASSWORD)),
    "socks5": lambda: Socks5Proxy(),
    "socks5-password": lambda: Socks5Proxy(auth=(PROXY_USER, PROXY_PASSWORD)),
}


def target(url: str) -> str:
    """``host:port`` of an upstream URL, as a proxy records it."""
    return urlsplit(url).netloc


def codex_config(
    tmp: Path,
    oauth: FakeOAuth,
    api: FakeOpenAI,
    *,
    server_proxy: str = "",
    codex_proxy: str = "",
    extra: dict[str, dict[str, Any]] | None = None,
    environ: dict[str, str] | None = None,
) -> Any:
    providers = provider_configs(codex=oauth, openai=api)
    if codex_proxy:
        providers["llmux-chatgpt"]["proxy_url"] = codex_proxy
    providers.update(extra or {})
    raw = raw_config(providers, {"dir": str(tmp / "auth")}, api_keys=[CLIENT_KEY])
    raw["models"]["routing"] += [
        {"pattern": f"^{name}-", "providers": [name]} for name in (extra or {})
    ]
    if server_proxy:
        raw["server"]["proxy_url"] = server_proxy
    return parse_config(raw, environ=environ or {})


async def paste_login(router_url: str, body: dict[str, Any]) -> httpx.Response:
    """A Codex login through the management API in paste mode; the "browser" is direct."""
    async with httpx.AsyncClient(
        base_url=router_url, headers=MGMT, timeout=10, trust_env=False
    ) as http:
        started = await http.post(
            "/v1/auth/login", json={"provider": "codex", "mode": "paste", **body}
        )
        assert started.status_code == 201, started.text
        flow = started.json()
        async with httpx.AsyncClient(timeout=10, trust_env=False) as browser:
            redirect = (await browser.get(flow["url"])).headers["Location"]
        return await http.post(f"/v1/auth/login/{flow['state']}/code", json={"code": redirect})


async def ask(router_url: str, model: str = "gpt-5") -> str:
    async with openai.AsyncOpenAI(
        base_url=f"{router_url}/v1",
        api_key=CLIENT_KEY,
        max_retries=0,
        timeout=20,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),  # the test's own proxies
    ) as client:
        if model.startswith("gpt-5"):
            return (await client.responses.create(model=model, input="hi")).output_text
        out = await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}]
        )
        return out.choices[0].message.content or ""


@pytest.mark.parametrize("kind", list(KINDS))
async def test_login_request_and_refresh_go_through_each_kind_of_proxy(
    start_router, tmp_path: Path, kind: str, capfd: pytest.CaptureFixture[str]
) -> None:
    async with KINDS[kind]() as proxy, FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.api_keys = oauth.access
        api.default = Reply(text="through the proxy")
        r = await start_router(codex_config(tmp_path, oauth, api, server_proxy=proxy.url))
        oauth_at, api_at = target(oauth.token_url), target(api.codex_base_url)

        done = await paste_login(r.url, {})
        assert done.status_code == 200 and done.json()["status"] == "done", done.text
        assert proxy.seen(oauth_at, "POST", TOKEN) == 1  # the code exchange

        assert await ask(r.url) == "through the proxy"
        assert proxy.seen(api_at, "POST", RESPONSES) == 1

        oauth.revoke_access()  # the next answer is 401: refresh once, then ask again
        assert await ask(r.url) == "through the proxy"
        assert oauth.refresh_calls == 1
        assert proxy.seen(oauth_at, "POST", TOKEN) == 2  # the refresh
        assert proxy.seen(api_at, "POST", RESPONSES) == 3  # 401, then the retry
    assert set(proxy.targets()) == {oauth_at, api_at}
    assert not proxy.targets(ok=False)
    if "password" in kind:
        assert {p.user for p in proxy.passages} == {PROXY_USER}
    out, err = capfd.readouterr()
    assert PROXY_PASSWORD not in out + err


async def test_an_https_proxy_is_reached_over_tls(
    start_router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = TestCA.create(("localhost",))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))  # the proxy's certificate is verified
    tls = HTTPProxy(auth=(PROXY_USER, PROXY_PASSWORD), tls=ca.server_context())
    async with tls as proxy, FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        assert proxy.url.startswith("https://")
        api.api_keys = oauth.access
        api.default = Reply(text="over tls")
        write_cliproxy_file(tmp_path / "auth", codex_record(oauth, time.time() - 10))  # expired
        r = await start_router(codex_config(tmp_path, oauth, api, server_proxy=proxy.url))
        assert await ask(r.url) == "over tls"
    assert proxy.requests == [
        f"{target(oauth.token_url)} POST {TOKEN}",
        f"{target(api.codex_base_url)} POST {RESPONSES}",
    ]


@pytest.mark.parametrize("kind", ["http", "socks5-password"])
async def test_ctonew_sign_in_calls_and_its_websocket_go_through_the_proxy(
    start_router, tmp_path: Path, kind: str
) -> None:
    async with KINDS[kind]() as proxy, FakeCtoNew() as cto:
        cookie = cto.add_account("cto@example.com")
        raw = raw_config(
            provider_configs(cto=cto), {"dir": str(tmp_path / "auth")}, api_keys=[CLIENT_KEY]
        )
        raw["server"]["proxy_url"] = proxy.url
        r = await start_router(parse_config(raw, environ={}))
        async with httpx.AsyncClient(
            base_url=r.url, headers=MGMT, timeout=10, trust_env=False
        ) as http:
            up = await http.post("/v1/auth/ctonew", json={"cookie": f"__client={cookie}"})
        assert up.status_code == 201, up.text
        assert await ask(r.url, "glm-5.1") == "Hello from cto.new"
    at = target(cto.base_url)
    assert proxy.targets() and set(proxy.targets()) == {at}
    seen = [line.split(" ", 1)[1] for line in proxy.requests]
    assert any(s.startswith("GET /v1/client") for s in seen), seen  # Clerk: the sign-in
    assert "POST /engine-agent/chat" in seen
    socket = [s for s in seen if s.startswith("GET /engine-agent/chat-histories/")]
    assert socket and socket[0].endswith("/buffer/stream")  # the WebSocket upgrade


async def test_credential_proxy_wins_over_the_providers_which_wins_over_the_servers(
    start_router, tmp_path: Path
) -> None:
    async with (
        HTTPProxy() as server_wide,
        Socks5Proxy() as provider_own,
        Socks5Proxy(auth=(PROXY_USER, PROXY_PASSWORD)) as credential_own,
        FakeOAuth("codex") as oauth,
        FakeOpenAI(api_keys=("sk-plain-key-0123",)) as plain_api,
        FakeOpenAI() as api,
    ):
        api.api_keys = oauth.access
        api.default = plain_api.default = Reply(text="ok")
        own = codex_record(oauth, time.time() - 10, email="own@example.com")  # expired: refresh
        own = own.with_data(proxy_url=credential_own.url)
        write_cliproxy_file(tmp_path / "auth", own)
        write_cliproxy_file(tmp_path / "auth", codex_record(oauth, time.time() + 3600))
        plain = {"kind": "openai-compatible", "base_url": plain_api.base_url}
        extra = {
            "plain": {**plain, "api_keys": ["sk-plain-key-0123"]},
            "direct": {**plain, "api_keys": ["sk-plain-key-0123"], "proxy_url": "direct"},
        }
        cfg = codex_config(
            tmp_path,
            oauth,
            api,
            server_proxy=server_wide.url,
            codex_proxy=provider_own.url,
            extra=extra,
        )
        r = await start_router(cfg)
        for model in ("gpt-5", "gpt-5", "plain-model", "direct-model"):
            assert await ask(r.url, model) == "ok"
    api_at, plain_at, oauth_at = (
        target(api.codex_base_url),
        target(plain_api.base_url),
        target(oauth.token_url),
    )
    # The credential with its own proxy: its refresh and its request through that one.
    assert credential_own.requests == [f"{oauth_at} POST {TOKEN}", f"{api_at} POST {RESPONSES}"]
    # The other credential of the provider: the provider's proxy.
    assert provider_own.requests == [f"{api_at} POST {RESPONSES}"]
    # A provider without its own: the server's; "direct": none at all.
    assert server_wide.requests == [f"{plain_at} POST /v1/chat/completions"]
    assert len(plain_api.requests) == 2


async def test_nothing_goes_through_a_proxy_when_none_is_configured(
    start_router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        HTTPProxy() as http_proxy,
        Socks5Proxy() as socks_proxy,
        FakeOAuth("codex") as oauth,
        FakeOpenAI() as api,
    ):
        # The process environment names proxies: only server.proxy_url: env may use them.
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            monkeypatch.setenv(name, http_proxy.url)
        monkeypatch.setenv("ALL_PROXY", socks_proxy.url)
        api.api_keys = oauth.access
        api.default = Reply(text="direct")
        r = await start_router(codex_config(tmp_path, oauth, api))
        done = await paste_login(r.url, {})
        assert done.json()["status"] == "done", done.text
        assert await ask(r.url) == "direct"
        oauth.revoke_access()
        assert await ask(r.url) == "direct"
    assert oauth.exchange_calls == 1 and oauth.refresh_calls == 1
    assert http_proxy.passages == [] and socks_proxy.passages == []


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
async def test_env_takes_the_environments_proxy_as_config_read_it(
    start_router, tmp_path: Path, no_proxy: str
) -> None:
    async with HTTPProxy() as proxy, FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.api_keys = oauth.access
        api.default = Reply(text="env")
        write_cliproxy_file(tmp_path / "auth", codex_record(oauth, time.time() + 3600))
        environ = {"HTTP_PROXY": proxy.url, "NO_PROXY": no_proxy}
        cfg = codex_config(tmp_path, oauth, api, server_proxy="env", environ=environ)
        r = await start_router(cfg)
        assert await ask(r.url) == "env"
    expected = [] if no_proxy else [f"{target(api.codex_base_url)} POST {RESPONSES}"]
    assert proxy.requests == expected


FAILURES: dict[str, tuple[str, ProxyFactory]] = {
    "down-http": ("http", HTTPProxy),  # started, but asked at a port nothing listens on
    "down-socks5": ("socks5", Socks5Proxy),
    "refused-http": ("http", lambda: HTTPProxy(auth=(PROXY_USER, PROXY_PASSWORD), refuse=True)),
    "refused-socks5": (
        "socks5",
        lambda: Socks5Proxy(auth=(PROXY_USER, PROXY_PASSWORD), refuse=True),
    ),
    "wrong-password-http": ("http", lambda: HTTPProxy(auth=(PROXY_USER, "another-one-0123"))),
    "wrong-password-socks5": (
        "socks5",
        lambda: Socks5Proxy(auth=(PROXY_USER, "another-one-0123")),
    ),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_proxy_that_fails_fails_over_and_is_named_without_its_password(
    start_router, tmp_path: Path, failure: str, capfd: pytest.CaptureFixture[str]
) -> None:
    scheme, factory = FAILURES[failure]
    proxy = factory()
    async with proxy, FakeOpenAI(api_keys=("sk-plain-key-0123",)) as api:
        api.default = Reply(text="the second provider")
        port = closed_port() if failure.startswith("down") else proxy.port
        url = f"{scheme}://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}"
        entry = {
            "kind": "openai-compatible",
            "base_url": api.base_url,
            "api_keys": ["sk-plain-key-0123"],
        }
        raw = {
            "server": {"api_keys": [CLIENT_KEY], "timeouts": {"connect": 2, "first_byte": 5}},
            "providers": {"behind": {**entry, "proxy_url": url}, "plain": entry},
            "models": {
                "routing": [
                    {"pattern": "^both-", "providers": ["behind", "plain"]},
                    {"pattern": "^only-", "providers": ["behind"]},
                ]
            },
        }
        r = await start_router(parse_config(raw, environ={}))
        assert await ask(r.url, "both-model") == "the second provider"  # failed over
        with pytest.raises(openai.APIStatusError) as caught:
            await ask(r.url, "only-model")
    assert len(api.requests) == 1
    assert caught.value.status_code in (502, 503)
    if not failure.startswith("down"):  # it was asked, and said no
        assert len(proxy.passages) == 2 and not any(p.ok for p in proxy.passages)
    message = orjson.dumps(caught.value.body).decode()
    assert f"127.0.0.1:{port}" in message, message
    assert PROXY_PASSWORD not in message
    out, err = capfd.readouterr()
    assert f"127.0.0.1:{port}" in out + err  # the log line names it too
    assert PROXY_PASSWORD not in out + err


async def test_a_login_stores_its_proxy_and_the_management_api_changes_it(
    start_router, tmp_path: Path
) -> None:
    async with (
        Socks5Proxy(auth=(PROXY_USER, PROXY_PASSWORD)) as proxy,
        FakeOAuth("codex") as oauth,
        FakeOpenAI() as api,
    ):
        api.api_keys = oauth.access
        api.default = Reply(text="ok")
        r = await start_router(codex_config(tmp_path, oauth, api))
        bad = await paste_login_refused(r.url, f"ftp://{PROXY_USER}:{PROXY_PASSWORD}@h:1")
        assert bad.status_code == 400 and "proxy_url" in bad.text
        assert PROXY_PASSWORD not in bad.text
        done = await paste_login(r.url, {"proxy_url": proxy.url})
        assert done.json()["status"] == "done", done.text
        name = done.json()["name"]
        stored = await FileStore(tmp_path / "auth").get(name)
        assert stored is not None and stored.proxy_url == proxy.url
        async with httpx.AsyncClient(
            base_url=r.url, headers=MGMT, timeout=10, trust_env=False
        ) as http:
            listed = (await http.get("/v1/auth/credentials")).json()["credentials"]
            assert listed[0]["proxy"] == f"socks5://127.0.0.1:{proxy.port}"
            assert PROXY_PASSWORD not in orjson.dumps(listed).decode()
            assert await ask(r.url) == "ok"
            assert proxy.seen(target(oauth.token_url), "POST", TOKEN) == 1
            assert proxy.seen(target(api.codex_base_url), "POST", RESPONSES) == 1
            cleared = await http.post(f"/v1/auth/credentials/{name}/proxy", json={"proxy_url": ""})
            assert cleared.status_code == 200 and "proxy" not in cleared.json()
            assert await ask(r.url) == "ok"
            assert proxy.seen(target(api.codex_base_url), "POST", RESPONSES) == 1  # direct now
            wrong = await http.post(
                f"/v1/auth/credentials/{name}/proxy", json={"proxy_url": "socks5://h"}
            )
            assert wrong.status_code == 400 and "port" in wrong.text
    assert len(api.requests) == 2


async def paste_login_refused(router_url: str, proxy_url: str) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=router_url, headers=MGMT, timeout=10, trust_env=False
    ) as http:
        return await http.post(
            "/v1/auth/login", json={"provider": "codex", "mode": "paste", "proxy_url": proxy_url}
        )


async def test_postgres_store_keeps_a_credentials_proxy(postgres_dsn: str) -> None:
    store = PostgresStore(postgres_dsn)
    await store.open()
    try:
        async with FakeOAuth("codex") as oauth:
            rec = codex_record(oauth, time.time() + 3600)
        url = f"socks5h://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:1080"
        await store.put(rec.with_data(proxy_url=url), None)
        back = await store.get(rec.name)
    finally:
        await store.close()
    assert back is not None and back.proxy_url == url and back.token().proxy_url == url
    assert PROXY_PASSWORD not in repr(back.token())
    assert back.summary()["proxy"] == "socks5h://127.0.0.1:1080"
