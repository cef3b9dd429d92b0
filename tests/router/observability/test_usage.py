"""Usage records: what ``GET /v1/usage`` totals is what the clients sent, as JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections import Counter
from dataclasses import replace

import httpx
import pytest

from router.observability import OBSERVER
from tests.conftest import build_config
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply

from ._support import MANAGEMENT_KEY, MGMT, with_observability

KEYS = ["sk-usage-alice-000", "sk-usage-bob-1111"]
MSG = [{"role": "user", "content": "hi"}]


def _config(oai: str, ant: str, tmp_path):
    cfg = build_config(
        {
            "oai": {
                "kind": "openai-compatible",
                "base_url": oai,
                "api_keys": ["k-o"],
                "models": ["gpt-a"],
            },
            "ant": {
                "kind": "anthropic",
                "base_url": ant,
                "api_keys": ["k-a"],
                "models": ["claude-b"],
            },
        },
        [{"pattern": "^gpt-", "providers": ["oai"]}, {"pattern": "^claude-", "providers": ["ant"]}],
        api_keys=KEYS,
    )
    return with_observability(cfg, tmp_path)


async def _send(
    http: httpx.AsyncClient, url: str, plan: list[tuple[str, str, bool]]
) -> Counter[int]:
    """Send ``(key, model, stream)`` requests, 8 at a time; the statuses seen."""
    sem = asyncio.Semaphore(8)
    statuses: Counter[int] = Counter()

    async def one(key: str, model: str, stream: bool) -> None:
        async with sem:
            if model.startswith("claude"):
                body = {"model": model, "max_tokens": 9, "messages": MSG, "stream": stream}
                resp = await http.post(f"{url}/v1/messages", json=body, headers={"x-api-key": key})
            else:
                body = {"model": model, "messages": MSG, "stream": stream}
                if stream:
                    body["stream_options"] = {"include_usage": True}
                resp = await http.post(
                    f"{url}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
            statuses[resp.status_code] += 1

    await asyncio.wait_for(asyncio.gather(*(one(*p) for p in plan)), 60)
    return statuses


async def test_totals_by_model_provider_and_key_as_json_and_csv(start_router, tmp_path) -> None:
    async with FakeOpenAI() as oai, FakeAnthropic() as ant:
        oai.default = Reply(text="o", usage=(3, 2))
        ant.default = Reply(text="a", usage=(5, 7))
        r = await start_router(_config(oai.base_url, ant.base_url, tmp_path))
        plan = (
            [(KEYS[0], "gpt-a", False)] * 30
            + [(KEYS[1], "claude-b", False)] * 20
            + [(KEYS[1], "claude-b", True)] * 5
            + [(KEYS[0], "gpt-a", True)] * 5
            + [(KEYS[0], "nothing-routes-me", False)] * 3
        )
        async with httpx.AsyncClient(timeout=30) as http:
            statuses = await _send(http, r.url, plan)
            assert statuses == {200: 60, 404: 3}
            got = await http.get(
                f"{r.url}/v1/usage", params={"group_by": "model,provider"}, headers=MGMT
            )
            assert got.status_code == 200, got.text
            data = got.json()
            rows = {(x["model"], x["provider"]): x for x in data["rows"]}
            assert set(rows) == {("gpt-a", "oai"), ("claude-b", "ant"), ("nothing-routes-me", "")}
            assert rows[("gpt-a", "oai")]["requests"] == 35
            assert rows[("gpt-a", "oai")]["tokens_in"] == 35 * 3
            assert rows[("gpt-a", "oai")]["tokens_out"] == 35 * 2
            assert rows[("claude-b", "ant")]["requests"] == 25
            assert rows[("claude-b", "ant")]["tokens_in"] == 25 * 5
            assert rows[("claude-b", "ant")]["tokens_out"] == 25 * 7
            assert rows[("nothing-routes-me", "")]["errors"] == 3
            assert data["total"]["requests"] == 63 and data["total"]["errors"] == 3
            assert data["store"].startswith("sqlite ")

            by_key = (await http.get(f"{r.url}/v1/usage?group_by=client_key", headers=MGMT)).json()
            counts = {x["client_key"]: x["requests"] for x in by_key["rows"]}
            assert sorted(counts.values()) == [25, 38]
            assert all(k.startswith("config:") for k in counts)
            assert not any(secret in by_key.__repr__() for secret in KEYS)

            text = (
                await http.get(f"{r.url}/v1/usage?group_by=day,provider&format=csv", headers=MGMT)
            ).text
            table = list(csv.DictReader(io.StringIO(text)))
            assert {x["provider"]: int(x["requests"]) for x in table} == {
                "oai": 35,
                "ant": 25,
                "": 3,
            }
            assert {x["day"] for x in table} == {time.strftime("%Y-%m-%d", time.gmtime())}
            assert sum(int(x["tokens_out"]) for x in table) == 35 * 2 + 25 * 7

            creds = (await http.get(f"{r.url}/v1/usage?group_by=credential", headers=MGMT)).json()
            assert {x["credential"].split("/")[0] for x in creds["rows"]} == {"oai", "ant", ""}

            # The window is honoured.
            past = (
                await http.get(f"{r.url}/v1/usage?from=2001-01-01&to=2001-01-31", headers=MGMT)
            ).json()
            assert past["rows"] == [] and past["total"]["requests"] == 0


@pytest.mark.parametrize(
    "query",
    [
        "group_by=colour",
        "format=xml",
        "from=yesterday",
        "from=2030-01-02&to=2030-01-01",
        "group_by=day,day",
    ],
)
async def test_bad_queries_are_400(start_router, tmp_path, query: str) -> None:
    async with FakeOpenAI() as oai:
        r = await start_router(_config(oai.base_url, oai.base_url, tmp_path))
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"{r.url}/v1/usage?{query}", headers=MGMT)
        assert resp.status_code == 400, resp.text


async def test_usage_needs_the_management_key(start_router, tmp_path) -> None:
    async with FakeOpenAI() as oai:
        r = await start_router(_config(oai.base_url, oai.base_url, tmp_path))
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{r.url}/v1/usage")).status_code == 401
            client = {"Authorization": f"Bearer {KEYS[0]}"}  # a client key is not enough
            assert (await http.get(f"{r.url}/v1/usage", headers=client)).status_code == 401
            assert (await http.get(f"{r.url}/status.json")).status_code == 401
            page = await http.get(f"{r.url}/status")  # the page itself: a sign-in, no data
            assert page.status_code == 200 and "Management key" in page.text
            assert MANAGEMENT_KEY not in page.text


async def test_records_survive_a_restart_and_stream_records_have_ttfb(
    start_router, tmp_path
) -> None:
    async with FakeOpenAI() as oai:
        oai.default = Reply(text="one two three", usage=(4, 3))
        cfg = _config(oai.base_url, oai.base_url, tmp_path)
        first = await start_router(cfg)
        async with httpx.AsyncClient(timeout=30) as http:
            assert await _send(
                http, first.url, [(KEYS[0], "gpt-a", i % 2 == 0) for i in range(40)]
            ) == {200: 40}
            assert first.app[OBSERVER].usage is not None
            await first.server.close()  # a clean stop: cleanup writes what is queued
            second = await start_router(cfg)
            data = (await http.get(f"{second.url}/v1/usage?group_by=none", headers=MGMT)).json()
        assert data["total"]["requests"] == 40 and data["total"]["tokens_in"] == 160
        rows = await second.app[OBSERVER].usage.store.errors(5)
        assert rows == []


async def test_usage_off_records_nothing(start_router, tmp_path) -> None:
    async with FakeOpenAI() as oai:
        cfg = _config(oai.base_url, oai.base_url, tmp_path)
        cfg = replace(cfg, usage=replace(cfg.usage, enabled=False))
        r = await start_router(cfg)
        async with httpx.AsyncClient() as http:
            assert await _send(http, r.url, [(KEYS[0], "gpt-a", False)] * 3) == {200: 3}
            assert (await http.get(f"{r.url}/v1/usage", headers=MGMT)).status_code == 404
        assert not (tmp_path / "usage.sqlite3").exists()


async def test_status_page_is_local_unless_allowed(start_router, tmp_path) -> None:
    from unittest import mock

    from aiohttp.test_utils import make_mocked_request

    from router.api._observability import status_page_guard
    from router.errors import Forbidden

    async with FakeOpenAI() as oai:
        r = await start_router(_config(oai.base_url, oai.base_url, tmp_path))
        transport = mock.Mock()
        transport.get_extra_info.side_effect = lambda n, d=None: (
            ("192.0.2.7", 1) if n == "peername" else d
        )
        with pytest.raises(Forbidden):
            status_page_guard(make_mocked_request("GET", "/status", app=r.app, transport=transport))
