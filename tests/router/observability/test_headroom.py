"""The headroom of the standard rate-limit headers on /status.json and /metrics.

An OpenAI-compatible upstream answers with ``x-ratelimit-limit-requests: 500``
and ``x-ratelimit-remaining-requests: 499`` (as OpenAI does); an Anthropic API
key upstream with ``anthropic-ratelimit-requests-limit: 4000`` and
``-remaining: 3999``. Before any answer nothing is known (``headroom`` null,
no gauge sample); after one, each credential shows the fraction left.
"""

from __future__ import annotations

import anthropic
import httpx
import openai

from tests.conftest import build_config
from tests.fakes import FakeAnthropic, FakeOpenAI

from ._support import MGMT, scrape, with_observability

KEY = "sk-client-headroom"
MSG = [{"role": "user", "content": "hi"}]
GAUGE = "cliproxy_credential_headroom_ratio"


def _config(oai: str, ant: str, tmp_path):
    cfg = build_config(
        {
            "oai": {"kind": "openai-compatible", "base_url": oai, "api_keys": ["k-o"]},
            "ant": {"kind": "anthropic", "base_url": ant, "api_keys": ["k-a"]},
        },
        [
            {"pattern": "^gpt-", "providers": ["oai"]},
            {"pattern": "^claude-", "providers": ["ant"]},
        ],
        api_keys=[KEY],
    )
    return with_observability(cfg, tmp_path)


async def _headroom(http: httpx.AsyncClient, url: str) -> dict[str, object]:
    doc = (await http.get(f"{url}/status.json", headers=MGMT)).json()
    provs = doc["providers"]
    return {
        cred["id"]: cred["headroom"]
        for prov in (provs.values() if isinstance(provs, dict) else provs)
        for cred in prov["credentials"]
    }


def _gauge(scraped, provider: str) -> list[float]:
    return [v for k, v in scraped.get(GAUGE, {}).items() if ("provider", provider) in k]


async def test_the_standard_headers_headroom_is_shown(start_router, tmp_path) -> None:
    async with FakeOpenAI() as oai_fake, FakeAnthropic() as ant_fake:
        r = await start_router(_config(oai_fake.base_url, ant_fake.base_url, tmp_path))
        oai = openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=KEY, max_retries=0)
        ant = anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY, max_retries=0)
        async with oai, ant, httpx.AsyncClient(timeout=10) as http:
            before = await _headroom(http, r.url)
            assert set(before.values()) == {None}, before
            scraped = await scrape(http, r.url)
            assert _gauge(scraped, "oai") == [] and _gauge(scraped, "ant") == []
            await oai.chat.completions.create(model="gpt-x", messages=MSG)
            await ant.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            after = await _headroom(http, r.url)
            scraped = await scrape(http, r.url)
    (oai_id,) = [i for i in after if i.startswith("oai")]
    (ant_id,) = [i for i in after if i.startswith("ant")]
    assert after[oai_id] == round(499 / 500, 4)
    assert after[ant_id] == round(3999 / 4000, 4)
    assert _gauge(scraped, "oai") == [round(499 / 500, 4)]
    assert _gauge(scraped, "ant") == [round(3999 / 4000, 4)]
    labels = next(iter(k for k in scraped[GAUGE] if ("provider", "oai") in k))
    assert ("credential", oai_id) in labels
