"""Request capture (``logging.capture``): bodies by request id, no secret in them, a ring
that stays under its cap, the management key in front, nothing at all when off."""

from __future__ import annotations

import asyncio
import os
import stat
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import openai
import orjson
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from router.formats import Format
from router.observability import OBSERVER, CaptureStore, show_request
from suite.config import CaptureConfig, Config
from tests.conftest import build_config
from tests.fakes import Fail, FakeGemini, FakeOpenAI, Reply
from tests.router.observability._support import MANAGEMENT_KEY, MGMT, with_observability

KEY = "client-capture-key-0001"
OAI_KEY = "sk-upstream-capture-0000"
GEM_KEY = "AIza-upstream-capture-000000000000"
SECRETS_USED = (KEY, OAI_KEY, GEM_KEY, MANAGEMENT_KEY)


def _config(oai: FakeOpenAI, gem: FakeGemini, tmp: Path, **capture: object) -> Config:
    providers = {
        "oai": {"kind": "openai-compatible", "base_url": oai.base_url, "api_keys": [OAI_KEY]},
        "gem": {"kind": "gemini", "base_url": gem.base_url, "api_keys": [GEM_KEY]},
    }
    rules = [
        {"pattern": "^gpt-", "providers": ["oai"]},
        {"pattern": "^gemini-", "providers": ["gem"]},
    ]
    config = with_observability(build_config(providers, rules, api_keys=[KEY]), tmp)
    cap = CaptureConfig(dir=tmp / "captures", **capture)  # type: ignore[arg-type]
    return replace(config, logging=replace(config.logging, capture=cap))


async def _flush(app: web.Application) -> None:
    store = app[OBSERVER].capture
    assert store is not None
    await asyncio.to_thread(store.flush)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*.json"))


def _assert_no_secret(path: Path) -> None:
    files = list(path.iterdir())
    assert files
    for f in files:
        data = f.read_bytes()
        for secret in SECRETS_USED:
            assert secret.encode() not in data, f"{secret} in {f.name}"


async def test_bodies_by_id_passthrough_translated_stream_and_not(start_router, tmp_path) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        oai.default = Reply(text="openai answer words")
        gem.default = Reply(text="gemini answer words")
        r = await start_router(_config(oai, gem, tmp_path, enabled=True))
        client = openai.AsyncOpenAI(api_key=KEY, base_url=f"{r.url}/v1", max_retries=0)
        ids: dict[tuple[str, bool], str] = {}
        for model in ("gpt-4o", "gemini-2.5-flash"):  # passthrough, translated
            for stream in (False, True):
                # The prompt quotes the provider key: the capture must not.
                messages = [{"role": "user", "content": f"prompt {model} {stream} {OAI_KEY}"}]
                raw = await client.chat.completions.with_raw_response.create(
                    model=model, messages=messages, stream=stream
                )
                ids[(model, stream)] = raw.headers["x-request-id"]
                if stream:
                    text = "".join(
                        [c.choices[0].delta.content or "" async for c in raw.parse() if c.choices]
                    )
                else:
                    text = raw.parse().choices[0].message.content
                assert text.endswith("answer words")
        await client.close()
        await _flush(r.app)
        async with httpx.AsyncClient() as http:
            for (model, stream), rid in ids.items():
                got = await http.get(f"{r.url}/v1/requests/{rid}", headers=MGMT)
                assert got.status_code == 200, got.text
                doc = got.json()
                assert doc["request_id"] == rid and doc["status"] == 200
                assert doc["path"] == "/v1/chat/completions" and doc["stream"] is stream
                sent = doc["client"]["request"]["body"]
                assert f"prompt {model} {stream}" in sent and "[redacted]" in sent
                answer = doc["client"]["response"]["body"]
                words = "answer words" if not stream else "words"
                assert words in answer
                if stream:
                    assert "data: [DONE]" in answer  # chunk by chunk, as the client got it
                (up,) = doc["upstream"]
                assert up["provider"] == ("oai" if model.startswith("gpt") else "gem")
                assert up["status"] == 200 and "prompt" in up["request"]["body"]
                assert "answer" in up["response"]["body"] or "words" in up["response"]["body"]
                headers = {k.lower() for k in doc["client"]["request"]["headers"]}
                assert "authorization" not in headers
            # management key only
            rid = ids[("gpt-4o", False)]
            assert (await http.get(f"{r.url}/v1/requests/{rid}")).status_code == 401
            client_key = {"Authorization": f"Bearer {KEY}"}
            assert (
                await http.get(f"{r.url}/v1/requests/{rid}", headers=client_key)
            ).status_code == 401
            missing = await http.get(f"{r.url}/v1/requests/{'0' * 24}", headers=MGMT)
            assert missing.status_code == 404
            bad = await http.get(f"{r.url}/v1/requests/..%2F..%2Fetc", headers=MGMT)
            assert bad.status_code == 404
        captures = tmp_path / "captures"
        _assert_no_secret(captures)
        assert stat.S_IMODE(captures.stat().st_mode) == 0o700
        assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in captures.iterdir())


async def test_failed_request_capture_is_linked_from_status(start_router, tmp_path) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        oai.enqueue(Fail(400, message="that prompt is not acceptable"))
        r = await start_router(_config(oai, gem, tmp_path, enabled=True))
        async with httpx.AsyncClient() as http:
            got = await http.post(
                f"{r.url}/v1/chat/completions",
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": "bad one"}]},
                headers={"Authorization": f"Bearer {KEY}"},
            )
            assert got.status_code == 400
            rid = got.headers["X-Request-Id"]
            await _flush(r.app)
            status = (await http.get(f"{r.url}/status.json", headers=MGMT)).json()
            (err,) = [e for e in status["errors"] if e["request_id"] == rid]
            assert err["capture"] is True
            doc = (await http.get(f"{r.url}/v1/requests/{rid}", headers=MGMT)).json()
            assert doc["upstream"][0]["status"] == 400
            assert "not acceptable" in doc["upstream"][0]["response"]["body"]
            assert "not acceptable" in doc["client"]["response"]["body"]


async def test_show_request_prints_the_capture(start_router, tmp_path, capsys) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        r = await start_router(_config(oai, gem, tmp_path, enabled=True))
        async with httpx.AsyncClient() as http:
            got = await http.post(
                f"{r.url}/v1/chat/completions",
                json={"model": "gpt-4o", "messages": [{"role": "user", "content": "cli please"}]},
                headers={"Authorization": f"Bearer {KEY}"},
            )
        rid = got.headers["X-Request-Id"]
        await _flush(r.app)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"logging: {{capture: {{enabled: true, dir: {tmp_path / 'captures'}}}}}\n"
    )
    capsys.readouterr()  # what the router logged so far
    assert await asyncio.to_thread(show_request, [rid, "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert orjson.loads(out)["request_id"] == rid and "cli please" in out
    assert await asyncio.to_thread(show_request, ["ab" * 12, "--config", str(config_file)]) == 1


async def test_ring_stays_under_a_small_cap_end_to_end(start_router, tmp_path) -> None:
    cap_mb = 0.25
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        oai.default = Reply(text="x" * 2000)
        r = await start_router(_config(oai, gem, tmp_path, enabled=True, max_mb=cap_mb))
        captures = tmp_path / "captures"
        ids = []
        async with httpx.AsyncClient(timeout=30) as http:
            for i in range(200):
                body = {"model": "gpt-4o", "messages": [{"role": "user", "content": f"n{i}" * 300}]}
                got = await http.post(
                    f"{r.url}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                assert got.status_code == 200
                ids.append(got.headers["X-Request-Id"])
                if i % 50 == 49:
                    await _flush(r.app)
                    assert _dir_bytes(captures) <= cap_mb * 1024 * 1024
            await _flush(r.app)
            assert _dir_bytes(captures) <= cap_mb * 1024 * 1024
            newest = await http.get(f"{r.url}/v1/requests/{ids[-1]}", headers=MGMT)
            oldest = await http.get(f"{r.url}/v1/requests/{ids[0]}", headers=MGMT)
        assert newest.status_code == 200 and oldest.status_code == 404  # the ring turned
        store = r.app[OBSERVER].capture
        assert store is not None and store.dropped == 0


async def test_capture_off_writes_nothing(start_router, tmp_path) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        r = await start_router(_config(oai, gem, tmp_path))  # the default: off
        assert r.app[OBSERVER].capture is None
        async with httpx.AsyncClient() as http:
            for model in ("gpt-4o", "gemini-2.5-flash"):
                got = await http.post(
                    f"{r.url}/v1/chat/completions",
                    json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": f"Bearer {KEY}"},
                )
                assert got.status_code == 200
            rid = got.headers["X-Request-Id"]
            off = await http.get(f"{r.url}/v1/requests/{rid}", headers=MGMT)
        assert off.status_code == 404 and "capture is off" in off.json()["error"]["message"]
        assert not (tmp_path / "captures").exists()


async def test_store_ring_under_cap_after_10000_requests(tmp_path) -> None:
    cap = 512 * 1024
    store = CaptureStore(tmp_path / "ring", cap)
    await store.start()
    request = make_mocked_request(
        "POST", "/v1/chat/completions?key=" + KEY, headers={"Authorization": f"Bearer {KEY}"}
    )
    response = web.Response(body=b'{"ok": true, "text": "' + b"y" * 300 + b'"}')
    for i in range(10_000):
        capture = store.begin(request)
        capture.request_body(orjson.dumps({"n": i, "pad": "z" * (i % 700), "leak": OAI_KEY}))
        ctx = SimpleNamespace(
            request_id=f"{i:024x}",
            status=200,
            fmt=Format.OPENAI,
            model="gpt-4o",
            provider="oai",
            credential="oai#0",
            stream=False,
            error=None,
        )
        capture.finish(ctx, response)
        if i % 200 == 199:
            await asyncio.to_thread(store.flush)
            assert _dir_bytes(store.dir) <= cap
    await store.close()
    assert store.dropped == 0 and store.written == 10_000
    files = sorted(store.dir.iterdir(), key=os.path.getmtime)
    assert _dir_bytes(store.dir) <= cap and len(files) > 100
    assert files[-1].name == f"{9999:024x}.json"
    _assert_no_secret(store.dir)
    # A new store over the same directory adopts the ring and keeps it under its own cap.
    smaller = CaptureStore(store.dir, cap // 4)
    await smaller.start()
    await smaller.close()
    assert _dir_bytes(store.dir) <= cap // 4
