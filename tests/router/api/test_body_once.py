"""A client body is parsed at most once and serialized at most once on every path (a body
relayed as sent is not parsed whole at all), and a same-format request whose model the
rule renames keeps every other byte (docs/performance.md).

The counts come from wrapping ``orjson.loads`` / ``orjson.dumps`` for the duration of one
request and keeping only the calls made from ``router`` modules on something the size of
the body (the fakes parse what they receive in the same process; small values such as a
session id are not the body). The nesting check (``router.api._depth``) walks a body's
containers and encodes it into nothing only past 20,000 of them (orjson refuses the
wrapped body if it nests too deep; its output is dropped): such encodes are counted apart,
as ``checked``, and these bodies have none.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import build_config
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.oauth import FakeOAuth
from tests.router.auth._support import (
    CLIENT_KEY,
    claude_record,
    codex_record,
    config,
    provider_configs,
    write_cliproxy_file,
)

BIG = 60_000  # characters of text in each body: far above anything else a request encodes


@dataclass
class Counts:
    loads: list[str] = field(default_factory=list)  # the router module of each big parse
    dumps: list[str] = field(default_factory=list)  # ... and of each serialization
    checked: int = 0  # the nesting check's encodes


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counts]:
    counts = Counts()
    loads, dumps = orjson.loads, orjson.dumps

    def caller() -> str:
        return str(sys._getframe(2).f_globals.get("__name__", ""))

    def counting_loads(data: Any) -> Any:
        where = caller()
        if where.startswith("router.") and len(data) >= BIG:
            counts.loads.append(where)
        return loads(data)

    def counting_dumps(obj: Any, *args: Any, **kw: Any) -> bytes:
        out = dumps(obj, *args, **kw)
        where = caller()
        if where == "router.api._depth" and len(out) >= BIG:
            counts.checked += 1
        elif where.startswith("router.") and len(out) >= BIG:
            counts.dumps.append(where)
        return out

    with monkeypatch.context() as m:
        m.setattr(orjson, "loads", counting_loads)
        m.setattr(orjson, "dumps", counting_dumps)
        yield counts


def _anthropic_body(model: str, text: str) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": text}],
    }


def _providers(anth: FakeAnthropic, oai: FakeOpenAI) -> dict[str, dict[str, Any]]:
    return {
        "anth": {"kind": "anthropic", "base_url": anth.base_url, "api_keys": ["sk-a"]},
        "oai": {"kind": "openai-compatible", "base_url": oai.base_url, "api_keys": ["sk-o"]},
    }


_RULES = [
    {"pattern": "^my-claude$", "providers": ["anth"], "model": "claude-upstream-9"},
    {"pattern": "^same-claude$", "providers": ["anth"]},
    {"pattern": "^via-openai$", "providers": ["oai"], "model": "gpt-up"},
]


async def _post(url: str, raw: bytes, path: str = "/v1/messages") -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.post(
            url + path,
            content=raw,
            headers={"Content-Type": "application/json", "anthropic-version": "2023-06-01"},
        )


# -- the exact edit -------------------------------------------------------------------------

_ODD = (
    b'{ "model"  :  "my-claude" ,\n\t"max_tokens":64,"stream":true,\r\n'
    b'"messages":[ {"role":"user","content":"caf\\u00e9 \\/ \xc3\xa9 \\"model\\":1"} ],'
    b'  "x-unknown": {"keep": [1.50, 2e3, null]},'
    b' "tools":[{"name":"t","input_schema":{"type":"object","properties":'
    b'{"model":{"type":"string"}}}}]   }'
)


async def test_renamed_model_keeps_every_other_byte(start_router) -> None:
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        resp = await _post(r.url, _ODD)
        assert resp.status_code == 200, resp.text
        assert b"message_stop" in resp.content
    assert anth.requests[-1].body == _ODD.replace(b'"my-claude"', b'"claude-upstream-9"')


async def test_model_after_everything_else_is_edited_in_place(start_router) -> None:
    raw = (
        b'{"messages":[{"role":"user","content":"hi"}],"max_tokens":8,'
        b'"stream":false,  "model":"my-claude"\n}'
    )
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        resp = await _post(r.url, raw)
        assert resp.status_code == 200, resp.text
    assert anth.requests[-1].body == raw.replace(b'"my-claude"', b'"claude-upstream-9"')


async def test_model_in_the_middle_is_rewritten_whole(start_router) -> None:
    """No sure span without reading everything: the parsed body is serialized instead,
    the same JSON with the upstream's model name."""
    body = {
        "max_tokens": 8,
        "model": "my-claude",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "t", "input_schema": {"properties": {"model": {"type": "string"}}}}],
        "x-unknown": {"kept": True},
    }
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        resp = await _post(r.url, orjson.dumps(body, option=orjson.OPT_INDENT_2))
        assert resp.status_code == 200, resp.text
    assert orjson.loads(anth.requests[-1].body) == {**body, "model": "claude-upstream-9"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"my-claude","max_tokens":8,"messages":[{"role":"user","content":"hi"}]',
        b'{"model":"my-claude","max_tokens":8,"messages":[]} trailing',
        b'{"model":"my-claude","max_tokens":8,"messages":[{"role":"user","content":"\xff"}]}',
    ],
    ids=["cut", "trailing", "not-utf8"],
)
async def test_invalid_json_is_still_a_400(start_router, raw: bytes) -> None:
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        resp = await _post(r.url, raw)
        assert resp.status_code == 400
        err = resp.json()
        assert err["type"] == "error" and err["error"]["type"] == "invalid_request_error"
    assert anth.requests == []


# -- parsed once, serialized at most once ---------------------------------------------------


async def test_passthrough_never_builds_nor_serializes(start_router, monkeypatch) -> None:
    """Relayed as sent (or with the model spliced in): checked by its head
    (``router.api._head``), never parsed whole, nesting-checked or written again."""
    text = "x" * BIG
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        for model in ("same-claude", "my-claude"):
            raw = orjson.dumps(_anthropic_body(model, text))
            with counted(monkeypatch) as n:
                resp = await _post(r.url, raw)
            assert resp.status_code == 200
            assert n.loads == [] and n.dumps == [], model
            assert n.checked == 0
    assert anth.requests[-1].body == raw.replace(b'"my-claude"', b'"claude-upstream-9"')


async def test_translated_parses_once_and_serializes_once(start_router, monkeypatch) -> None:
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        oai.default = Reply(text="translated")
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        raw = orjson.dumps(_anthropic_body("via-openai", "y" * BIG))
        with counted(monkeypatch) as n:
            resp = await _post(r.url, raw)
        assert resp.status_code == 200 and b"translated" in resp.content
    assert n.loads == ["router.api._body"]
    assert n.dumps == ["router.formats._codec"]  # the WireBody, when the executor sends it
    assert n.checked == 0  # walked, not encoded
    assert oai.requests[-1].json["model"] == "gpt-up"


def _claude(tmp: Path, oauth: FakeOAuth, api: FakeAnthropic) -> Any:
    api.api_keys = oauth.access
    access, refresh = oauth.issue()
    write_cliproxy_file(tmp / "auth", claude_record(access, refresh, time.time() + 3600))
    providers = provider_configs(claude=oauth, anthropic=api)
    return config(providers, {"dir": str(tmp / "auth")}, api_keys=[CLIENT_KEY])


async def _chat(url: str, model: str, text: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20) as http:
        return await http.post(
            f"{url}/v1/chat/completions",
            json={"model": model, "stream": True, "messages": [{"role": "user", "content": text}]},
            headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        )


async def test_subscription_shape_is_serialized_once(start_router, tmp_path, monkeypatch) -> None:
    """claude-oauth reshapes the translated body (billing header, identity, metadata) in its
    data, and its bytes are made once, after that; so does codex-oauth."""
    async with FakeOAuth("claude") as oauth, FakeAnthropic() as api:
        api.default = Reply(text="shaped")
        r = await start_router(_claude(tmp_path, oauth, api))
        with counted(monkeypatch) as n:
            resp = await _chat(r.url, "claude-x-test", "z" * BIG)
        assert resp.status_code == 200 and b"shaped" in resp.content
    assert n.loads == ["router.api._body"]
    # The body's bytes once; besides them only the conversation's opening is written, as the
    # input of its session id's hash (a client that sends its own session id skips that).
    assert sorted(n.dumps) == ["router.executors._claude", "router.formats._codec"]
    assert api.requests[-1].json["system"][0]["text"].startswith("x-anthropic-billing-header")

    async with FakeOAuth("codex") as oauth, FakeOpenAI() as api:
        api.default = Reply(text="codexanswer")
        api.api_keys = oauth.access
        write_cliproxy_file(tmp_path / "cx", codex_record(oauth, time.time() + 3600))
        providers = provider_configs(codex=oauth, openai=api)
        r = await start_router(
            config(providers, {"dir": str(tmp_path / "cx")}, api_keys=[CLIENT_KEY])
        )
        with counted(monkeypatch) as n:
            resp = await _chat(r.url, "gpt-5", "z" * BIG)
        assert resp.status_code == 200 and b"codexanswer" in resp.content
    assert n.loads == ["router.api._body"]
    assert sorted(n.dumps) == ["router.executors._codex", "router.formats._codec"]


async def test_the_fast_check_is_paid_only_by_bodies_it_can_spare(
    start_router, monkeypatch
) -> None:
    """A body whose model goes only to another format's upstream is translated, which reads
    it whole: it is parsed at once, without the fast check first (``read_forward``)."""
    from router.api import _plan

    checked: list[str] = []
    real = _plan.fast_head

    def counting(shape: Any, raw: bytes) -> Any:
        checked.append(shape.__name__)
        return real(shape, raw)

    monkeypatch.setattr(_plan, "fast_head", counting)
    async with FakeAnthropic() as anth, FakeOpenAI() as oai:
        r = await start_router(build_config(_providers(anth, oai), _RULES))
        for model, fast in (("via-openai", []), ("same-claude", ["_messages"])):
            checked.clear()
            resp = await _post(r.url, orjson.dumps(_anthropic_body(model, "hi")))
            assert resp.status_code == 200, resp.text
            assert checked == fast, model
