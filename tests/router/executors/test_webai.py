"""The webai executor and its synthetic credential (the suite's shared service token)."""

from __future__ import annotations

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from router.auth import CredentialPool
from router.executors import UpstreamCall, WebAIExecutor, build_executor
from router.formats import Format, WireBody
from tests.conftest import build_config


def _webai(url: str, **extra: object) -> dict[str, object]:
    return {"kind": "webai", "url": url, **extra}


def test_build_executor_and_url_option() -> None:
    config = build_config({"webai": _webai("http://127.0.0.1:9406/")}, [])
    ex = build_executor(config.providers["webai"])
    assert isinstance(ex, WebAIExecutor) and ex.wire is Format.OPENAI
    assert ex.base_url == "http://127.0.0.1:9406"
    default = build_config({"webai": {"kind": "webai"}}, [])
    assert WebAIExecutor(default.providers["webai"]).base_url == "http://127.0.0.1:8406"


def test_one_synthetic_credential_per_webai_provider() -> None:
    config = build_config({"webai": _webai("http://127.0.0.1:9406")}, [])
    pool = CredentialPool()
    first = pool.sync(config.providers.values(), service_token="svc-token")
    (cred,) = first["webai"]
    assert cred.secret == "svc-token" and cred.id.startswith("webai/service-")
    cred.strikes = 3  # state survives a reload with the same token
    assert pool.sync(config.providers.values(), service_token="svc-token")["webai"] == [cred]
    (anonymous,) = pool.sync(config.providers.values())["webai"]
    assert anonymous.secret == "" and anonymous is not cred
    keyed = build_config({"webai": _webai("http://127.0.0.1:9406", api_keys=["own-key"])}, [])
    assert [c.secret for c in pool.sync(keyed.providers.values())["webai"]] == ["own-key"]


async def test_suffix_stripped_and_token_sent() -> None:
    seen: list[tuple[str, str | None]] = []

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append((body["model"], request.headers.get("Authorization")))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    async with TestServer(app, host="127.0.0.1") as server:
        url = f"http://127.0.0.1:{server.port}"
        config = build_config({"webai": _webai(url)}, [])
        ex = WebAIExecutor(config.providers["webai"])
        (cred,) = CredentialPool().sync(config.providers.values(), service_token="tok")["webai"]
        (bare,) = CredentialPool().sync(config.providers.values())["webai"]
        try:
            for model, credential in (("gemini-2.5-pro-webai", cred), ("plain", bare)):
                body = orjson.dumps({"model": model, "messages": [], "extra": {"kept": 1}})
                call = UpstreamCall(
                    action="generate", model=model, body=WireBody.from_bytes(body), stream=False
                )
                reply = await ex.send(call, credential)
                await reply.read()
                reply.close()
        finally:
            await ex.close()
    assert seen == [("gemini-2.5-pro", "Bearer tok"), ("plain", None)]
