"""Embeddings through the official SDKs: OpenAI ``embeddings.create`` and google-genai
``models.embed_content``, each to an OpenAI-compatible and a Gemini upstream."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.conftest import build_config
from tests.fakes import Fail, FakeAnthropic, FakeGemini, FakeOpenAI
from tests.fakes._embeddings import vector_for
from tests.router.observability._support import MGMT, with_observability

KEY = "client-embed-key-000"
OAI_KEY = "sk-upstream-embed-0000"
GEM_KEY = "AIza-upstream-embed-00000000000"


def _providers(oai: FakeOpenAI | None = None, gem: FakeGemini | None = None) -> dict:
    out: dict = {}
    if gem is not None:
        out["gem"] = {"kind": "gemini", "base_url": gem.base_url, "api_keys": [GEM_KEY]}
    if oai is not None:
        out["oai"] = {"kind": "openai-compatible", "base_url": oai.base_url, "api_keys": [OAI_KEY]}
    return out


async def _router(start_router, providers: dict, routing: list[dict], tmp_path=None):
    config = build_config(providers, routing, api_keys=[KEY])
    if tmp_path is not None:
        config = with_observability(config, tmp_path)
    return await start_router(config)


def _openai(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key=KEY, base_url=f"{url}/v1", max_retries=0)


def _genai(url: str) -> genai.Client:
    options = types.HttpOptions(base_url=url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=KEY, http_options=options)


def _floats(b64: str) -> list[float]:
    raw = base64.b64decode(b64)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


# -- OpenAI client -------------------------------------------------------------------------


async def test_openai_client_to_openai_upstream_single_batch_float_base64(start_router) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai:
        rules = [{"pattern": "^text-embedding-3", "providers": ["oai"]}]
        r = await _router(start_router, _providers(oai=oai), rules)
        client = _openai(r.url)
        one = await client.embeddings.create(
            model="text-embedding-3-small", input="hello", encoding_format="float"
        )
        assert one.data[0].embedding == vector_for("hello", 1536)
        assert one.usage.prompt_tokens == 1 and one.model == "text-embedding-3-small"
        many = await client.embeddings.create(
            model="text-embedding-3-small", input=["a b", "c d e f"], dimensions=8
        )  # no encoding_format: the SDK asks for base64 and decodes it
        assert [d.embedding for d in many.data] == [vector_for("a b", 8), vector_for("c d e f", 8)]
        b64 = await client.embeddings.create(
            model="text-embedding-3-small", input=["x"], encoding_format="base64", dimensions=4
        )
        assert isinstance(b64.data[0].embedding, str)
        assert _floats(b64.data[0].embedding) == vector_for("x", 4)
        await client.close()
        sent = [q for q in oai.requests if q.path == "/v1/embeddings"]
        assert [q.json["encoding_format"] for q in sent] == ["float", "base64", "base64"]
        assert sent[1].headers["Authorization"] == f"Bearer {OAI_KEY}"


async def test_openai_client_to_gemini_upstream(start_router) -> None:
    async with FakeGemini(api_keys=[GEM_KEY]) as gem:
        rules = [{"pattern": "^emb$", "providers": ["gem"], "model": "gemini-embedding-001"}]
        r = await _router(start_router, _providers(gem=gem), rules)
        client = _openai(r.url)
        one = await client.embeddings.create(
            model="emb", input="hello there", dimensions=16, encoding_format="float"
        )
        assert one.data[0].embedding == vector_for("hello there", 16)
        assert one.model == "emb" and one.usage.prompt_tokens == 3  # estimated: Gemini says none
        texts = [f"text number {i}" for i in range(150)]
        batch = await client.embeddings.create(
            model="emb",
            input=texts,
            dimensions=8,
            encoding_format="base64",
            extra_body={"task_type": "RETRIEVAL_DOCUMENT"},
        )
        assert [_floats(d.embedding) for d in batch.data] == [vector_for(t, 8) for t in texts]
        assert [d.index for d in batch.data] == list(range(150))
        implicit = await client.embeddings.create(model="emb", input=["q"], dimensions=4)
        assert implicit.data[0].embedding == vector_for("q", 4)  # router-encoded base64
        await client.close()
        calls = [q for q in gem.requests if "embed" in q.path.lower()]
        assert calls[0].path == "/v1beta/models/gemini-embedding-001:embedContent"
        assert calls[0].json == {
            "content": {"parts": [{"text": "hello there"}]},
            "outputDimensionality": 16,
        }
        assert calls[0].headers["x-goog-api-key"] == GEM_KEY
        batches = [q for q in calls if q.path.endswith(":batchEmbedContents")]
        assert [len(q.json["requests"]) for q in batches[:2]] == [100, 50]  # at most 100 each
        first = batches[0].json["requests"][0]
        assert first["model"] == "models/gemini-embedding-001"
        assert first["taskType"] == "RETRIEVAL_DOCUMENT" and first["outputDimensionality"] == 8


# -- Gemini client -------------------------------------------------------------------------


async def test_gemini_client_to_gemini_upstream(start_router) -> None:
    async with FakeGemini(api_keys=[GEM_KEY]) as gem:
        rules = [{"pattern": "^gemini-embedding", "providers": ["gem"]}]
        r = await _router(start_router, _providers(gem=gem), rules)
        client = _genai(r.url)
        one = await client.aio.models.embed_content(
            model="gemini-embedding-001",
            contents="hello",
            config=types.EmbedContentConfig(output_dimensionality=8, task_type="CLUSTERING"),
        )
        assert [e.values for e in one.embeddings] == [vector_for("hello", 8)]
        several = await client.aio.models.embed_content(
            model="gemini-embedding-001", contents=["one", "two", "three"]
        )
        assert [e.values for e in several.embeddings] == [
            vector_for(t, 3072) for t in ("one", "two", "three")
        ]
        await client.aio.aclose()
        sent = [q for q in gem.requests if q.path.endswith(":batchEmbedContents")]
        assert sent[0].json["requests"][0]["taskType"] == "CLUSTERING"  # passed through


async def test_gemini_client_to_openai_upstream(start_router) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai:
        rules = [{"pattern": "^embed-", "providers": ["oai"], "model": "text-embedding-3-large"}]
        r = await _router(start_router, _providers(oai=oai), rules)
        client = _genai(r.url)
        one = await client.aio.models.embed_content(
            model="embed-large",
            contents="hello",
            config=types.EmbedContentConfig(output_dimensionality=12),
        )
        assert [e.values for e in one.embeddings] == [vector_for("hello", 12)]
        several = await client.aio.models.embed_content(
            model="embed-large", contents=["alpha", "beta"]
        )
        assert [e.values for e in several.embeddings] == [
            vector_for("alpha", 3072),
            vector_for("beta", 3072),
        ]
        await client.aio.aclose()
        sent = [q.json for q in oai.requests if q.path == "/v1/embeddings"]
        assert sent[0] == {
            "model": "text-embedding-3-large",
            "input": ["hello"],
            "encoding_format": "float",
            "dimensions": 12,
        }
        # embedContent by hand (google-genai always batches): a single input
        async with httpx.AsyncClient() as http:
            got = await http.post(
                f"{r.url}/v1beta/models/embed-large:embedContent",
                json={"content": {"parts": [{"text": "solo"}]}, "outputDimensionality": 3},
                headers={"x-goog-api-key": KEY},
            )
        assert got.status_code == 200, got.text
        assert got.json() == {"embedding": {"values": vector_for("solo", 3)}}
        assert oai.requests[-1].json["input"] == "solo"


# -- routing, failover, refusals, usage ------------------------------------------------------


async def test_failover_skips_providers_that_cannot_embed(start_router, tmp_path) -> None:
    async with (
        FakeAnthropic() as ant,
        FakeGemini([GEM_KEY], models=["text-embedding-3-small"]) as gem,
    ):
        async with FakeOpenAI(api_keys=[OAI_KEY]) as oai:
            providers = {
                "ant": {"kind": "anthropic", "base_url": ant.base_url, "api_keys": ["sk-ant-x123"]},
                **_providers(oai=oai, gem=gem),
            }
            rules = [
                {"pattern": "^text-embedding-3-small$", "providers": ["ant", "gem", "oai"]},
            ]
            gem.enqueue(Fail(503))
            r = await _router(start_router, providers, rules, tmp_path)
            client = _openai(r.url)
            got = await client.embeddings.create(
                model="text-embedding-3-small", input=["x", "yy"], encoding_format="float"
            )
            assert got.data[1].embedding == vector_for("yy", 1536)
            await client.close()
            assert not ant.requests  # anthropic has no embeddings: never asked
            assert [q.path for q in gem.requests] == [
                "/v1beta/models/text-embedding-3-small:batchEmbedContents"
            ]
            async with httpx.AsyncClient() as http:
                usage = await http.get(
                    f"{r.url}/v1/usage", params={"group_by": "model,provider"}, headers=MGMT
                )
            rows = {(x["model"], x["provider"]): x for x in usage.json()["rows"]}
            row = rows[("text-embedding-3-small", "oai")]
            assert row["requests"] == 1 and row["tokens_in"] == 2 and row["tokens_out"] == 0


async def test_a_rule_without_an_embedding_provider_is_a_clear_400(start_router) -> None:
    async with FakeAnthropic() as ant, FakeGemini() as gem:
        providers = {
            "ant": {"kind": "anthropic", "base_url": ant.base_url, "api_keys": ["sk-ant-x123"]},
            "gem": {"kind": "gemini", "base_url": gem.base_url, "api_keys": [GEM_KEY]},
        }
        rules = [
            {"pattern": "^claude", "providers": ["ant"]},
            {"pattern": "^gemini", "providers": ["gem"]},
        ]
        r = await _router(start_router, providers, rules)
        client = _openai(r.url)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.embeddings.create(model="claude-x", input="hi")
        assert "embeddings endpoint" in caught.value.message
        with pytest.raises(openai.BadRequestError) as caught:  # token ids: Gemini cannot
            await client.embeddings.create(model="gemini-embedding-001", input=[[1, 2, 3]])
        assert "token-id" in caught.value.message
        with pytest.raises(openai.NotFoundError):
            await client.embeddings.create(model="nothing-routes-me", input="hi")
        await client.close()
        gclient = _genai(r.url)
        with pytest.raises(genai_errors.ClientError) as gcaught:
            await gclient.aio.models.embed_content(model="claude-x", contents="hi")
        assert gcaught.value.code == 400 and "embeddings endpoint" in str(gcaught.value.message)
        await gclient.aio.aclose()
        assert not ant.requests and not gem.requests


async def test_bad_input_is_refused_before_any_upstream(start_router) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai:
        rules = [{"pattern": ".*", "providers": ["oai"]}]
        r = await _router(start_router, _providers(oai=oai), rules)
        client = _openai(r.url)
        for bad in ("", [], ["a", ""], ["x"] * 2049, [{"text": "x"}]):
            with pytest.raises(openai.BadRequestError) as caught:
                await client.embeddings.create(model="text-embedding-3-small", input=bad)
            assert caught.value.body["param"].startswith("input")
        with pytest.raises(openai.BadRequestError):
            await client.embeddings.create(
                model="text-embedding-3-small",
                input="x",
                encoding_format="hex",  # type: ignore[arg-type]
            )
        await client.close()
        async with httpx.AsyncClient() as http:
            head = {"x-goog-api-key": KEY}
            url = f"{r.url}/v1beta/models/text-embedding-3-small"
            too_many = {"requests": [{"content": {"parts": [{"text": "x"}]}}] * 101}
            got = await http.post(f"{url}:batchEmbedContents", json=too_many, headers=head)
            assert got.status_code == 400 and "at most 100" in got.json()["error"]["message"]
            other = {"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]}
            got = await http.post(f"{url}:batchEmbedContents", json=other, headers=head)
            assert got.status_code == 400 and got.json()["error"]["status"] == "INVALID_ARGUMENT"
            got = await http.post(f"{url}:embedContent", json={"content": {}}, headers=head)
            assert got.status_code == 400
        assert not oai.requests


async def test_token_ids_pass_through_to_openai(start_router) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai:
        rules = [{"pattern": ".*", "providers": ["oai"]}]
        r = await _router(start_router, _providers(oai=oai), rules)
        client = _openai(r.url)
        got = await client.embeddings.create(
            model="text-embedding-3-small", input=[[1, 2, 3], [4]], encoding_format="float"
        )
        assert got.data[0].embedding == vector_for("1 2 3", 1536)
        assert got.usage.prompt_tokens == 4
        await client.close()


async def test_upstream_refusals_come_back_in_the_clients_format(start_router) -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        rules = [
            {"pattern": "^o-", "providers": ["oai"], "model": "gpt-4o"},
            {"pattern": "^g-", "providers": ["gem"], "model": "gemini-2.5-flash"},
        ]
        r = await _router(start_router, _providers(oai=oai, gem=gem), rules)
        client = _openai(r.url)
        with pytest.raises(openai.NotFoundError) as caught:  # a chat model cannot embed
            await client.embeddings.create(model="o-chat", input="hi")
        assert caught.value.body["code"] == "model_not_found"
        with pytest.raises(openai.NotFoundError) as caught:
            await client.embeddings.create(model="g-chat", input="hi")
        assert "not supported for embedContent" in caught.value.message
        await client.close()
        gclient = _genai(r.url)
        with pytest.raises(genai_errors.ClientError) as gcaught:
            await gclient.aio.models.embed_content(model="g-chat", contents="hi")
        assert gcaught.value.code == 404 and gcaught.value.status == "NOT_FOUND"
        await gclient.aio.aclose()


# -- the fakes refuse what the real APIs refuse ------------------------------------------------


async def test_fakes_refuse_like_the_real_apis() -> None:
    async with FakeOpenAI(api_keys=[OAI_KEY]) as oai, FakeGemini(api_keys=[GEM_KEY]) as gem:
        client = openai.AsyncOpenAI(api_key=OAI_KEY, base_url=oai.base_url, max_retries=0)
        for bad in ("", ["a", ""], ["x"] * 2049):
            with pytest.raises(openai.BadRequestError) as caught:
                await client.embeddings.create(model="text-embedding-3-small", input=bad)
            assert "'$.input' is invalid" in caught.value.message
        with pytest.raises(openai.NotFoundError):
            await client.embeddings.create(model="gpt-4o", input="x")
        with pytest.raises(openai.BadRequestError):
            await client.embeddings.create(model="text-embedding-ada-002", input="x", dimensions=8)
        await client.close()
        options = types.HttpOptions(
            base_url=gem.base_url, retry_options=types.HttpRetryOptions(attempts=1)
        )
        gclient = genai.Client(api_key=GEM_KEY, http_options=options)
        with pytest.raises(genai_errors.ClientError) as caught_g:
            await gclient.aio.models.embed_content(
                model="gemini-embedding-001", contents=[f"t{i}" for i in range(101)]
            )
        assert "at most 100 requests" in str(caught_g.value.message)
        with pytest.raises(genai_errors.ClientError) as caught_g:
            await gclient.aio.models.embed_content(model="gemini-2.5-flash", contents="x")
        assert caught_g.value.code == 404
        ok = await gclient.aio.models.embed_content(model="text-embedding-004", contents="x")
        assert ok.embeddings[0].values == vector_for("x", 768)
        await gclient.aio.aclose()
