"""``GET /metrics`` after a scripted mix of requests: the scraped values are what was sent."""

from __future__ import annotations

from dataclasses import replace
from unittest import mock

import anthropic
import httpx
import openai
import pytest
from aiohttp.test_utils import make_mocked_request

from router.api import STATE
from router.api._observability import metrics as metrics_handler
from router.errors import Forbidden, Unauthorized
from router.observability import OBSERVER
from suite.config import ManagementConfig, MetricsConfig
from tests.conftest import build_config
from tests.fakes import Fail, FakeAnthropic, FakeOpenAI, Reply

from ._support import MANAGEMENT_KEY, nonzero, scrape, value, with_observability

KEY = "sk-client-metrics"
MSG = [{"role": "user", "content": "hi"}]


def _config(primary: str, secondary: str, oai: str, tmp_path):
    cfg = build_config(
        {
            "primary": {
                "kind": "anthropic",
                "base_url": primary,
                "api_keys": ["k-p"],
                "models": ["claude-a"],
            },
            "secondary": {
                "kind": "anthropic",
                "base_url": secondary,
                "api_keys": ["k-s"],
                "models": ["claude-a"],
            },
            "oai": {
                "kind": "openai-compatible",
                "base_url": oai,
                "api_keys": ["k-o"],
                "models": ["gpt-t"],
            },
        },
        [
            {"pattern": "^claude-", "providers": ["primary", "secondary"]},
            {"pattern": "^gpt-", "providers": ["oai"]},
        ],
        api_keys=[KEY],
    )
    return with_observability(cfg, tmp_path)


async def test_scripted_mix_is_counted_exactly(start_router, tmp_path) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two, FakeOpenAI() as oai:
        r = await start_router(_config(one.base_url, two.base_url, oai.base_url, tmp_path))
        ant = anthropic.AsyncAnthropic(base_url=r.url, api_key=KEY, max_retries=0)
        oa = openai.AsyncOpenAI(base_url=f"{r.url}/v1", api_key=KEY, max_retries=0)
        async with ant, oa, httpx.AsyncClient() as http:
            # 1. success on the first provider
            one.enqueue(Reply(text="one", usage=(10, 5)))
            await ant.messages.create(model="claude-a", max_tokens=9, messages=MSG)
            # 2. failover: the first answers 500, the second serves
            one.enqueue(Fail(500))
            two.enqueue(Reply(text="two", usage=(20, 6)))
            await ant.messages.create(model="claude-a", max_tokens=9, messages=MSG)
            # 3. 429: the first cools down for a minute, the second serves
            one.enqueue(Fail(429, retry_after=60))
            two.enqueue(Reply(text="three", usage=(3, 4)))
            await ant.messages.create(model="claude-a", max_tokens=9, messages=MSG)
            # 4. translation: an OpenAI client on a Claude model (the first still cools)
            two.enqueue(Reply(text="four", usage=(7, 8)))
            await oa.chat.completions.create(model="claude-a", messages=MSG)
            # 5. a stream
            two.enqueue(Reply(text="a b c", usage=(5, 9)))
            async with ant.messages.stream(model="claude-a", max_tokens=9, messages=MSG) as s:
                assert "".join([t async for t in s.text_stream]) == "a b c"
            # 6. reasoning tokens, passed through from an OpenAI upstream
            oai.enqueue(Reply(text="six", thinking="t" * 40, usage=(2, 30)))
            await oa.chat.completions.create(model="gpt-t", messages=MSG)
            # 7. a model no rule routes
            with pytest.raises(anthropic.NotFoundError):
                await ant.messages.create(model="mystery-1", max_tokens=9, messages=MSG)
            m = await scrape(http, r.url)

            requests = nonzero(m, "cliproxy_requests_total")
            assert requests == {
                (
                    ("format", "anthropic"),
                    ("model", "claude-a"),
                    ("provider", "primary"),
                    ("status", "200"),
                ): 1,
                (
                    ("format", "anthropic"),
                    ("model", "claude-a"),
                    ("provider", "secondary"),
                    ("status", "200"),
                ): 3,
                (
                    ("format", "openai"),
                    ("model", "claude-a"),
                    ("provider", "secondary"),
                    ("status", "200"),
                ): 1,
                (
                    ("format", "openai"),
                    ("model", "gpt-t"),
                    ("provider", "oai"),
                    ("status", "200"),
                ): 1,
                (
                    ("format", "anthropic"),
                    ("model", "other"),
                    ("provider", "none"),
                    ("status", "404"),
                ): 1,
            }
            attempts = nonzero(m, "cliproxy_upstream_attempts_total")
            assert attempts == {
                (("outcome", "ok"), ("provider", "primary")): 1,
                (("outcome", "500"), ("provider", "primary")): 1,
                (("outcome", "429"), ("provider", "primary")): 1,
                (("outcome", "ok"), ("provider", "secondary")): 4,
                (("outcome", "ok"), ("provider", "oai")): 1,
            }
            assert nonzero(m, "cliproxy_failovers_total") == {(("model", "claude-a"),): 2}
            tokens = {
                (dict(k)["provider"], dict(k)["type"]): v
                for k, v in nonzero(m, "cliproxy_tokens_total").items()
            }
            assert tokens == {
                ("primary", "input"): 10,
                ("primary", "output"): 5,
                ("secondary", "input"): 20 + 3 + 7 + 5,
                ("secondary", "output"): 6 + 4 + 8 + 9,
                ("oai", "input"): 2,
                ("oai", "output"): 30,
                ("oai", "reasoning"): 10,
            }
            assert value(m, "cliproxy_request_duration_seconds_count") == 7
            assert value(m, "cliproxy_time_to_first_byte_seconds_count") == 6  # not the 404
            assert value(m, "cliproxy_time_to_first_byte_seconds_count", provider="secondary") == 4
            assert value(m, "cliproxy_streams_in_flight") == 0
            assert value(m, "cliproxy_credentials", provider="primary", state="cooling") == 1
            assert value(m, "cliproxy_credentials", provider="primary", state="ready") == 0
            assert value(m, "cliproxy_credentials", provider="secondary", state="ready") == 1
            assert value(m, "cliproxy_relay_services_connected") == 0

            # Another unrouted model, and one routed but unlisted: no new label set.
            before = set(m["cliproxy_requests_total"])
            with pytest.raises(anthropic.NotFoundError):
                await ant.messages.create(model="mystery-2", max_tokens=9, messages=MSG)
            # The 429 rested claude-a only (Anthropic limits are per model): primary serves.
            one.enqueue(Reply(text="x", usage=(1, 1)))
            await ant.messages.create(model="claude-unlisted-42", max_tokens=9, messages=MSG)
            after = await scrape(http, r.url)
            new = set(after["cliproxy_requests_total"]) - before
            assert new == {
                (
                    ("format", "anthropic"),
                    ("model", "other"),
                    ("provider", "primary"),
                    ("status", "200"),
                )
            }
            text = (await http.get(f"{r.url}/metrics")).text
            assert "mystery" not in text and "claude-unlisted" not in text


async def test_stream_in_flight_and_refresh_hook(start_router, tmp_path) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two, FakeOpenAI() as oai:
        r = await start_router(_config(one.base_url, two.base_url, oai.base_url, tmp_path))
        one.default = Reply(text="slow stream", chunk_delay=0.15)
        body = {"model": "claude-a", "max_tokens": 9, "messages": MSG, "stream": True}
        async with httpx.AsyncClient(timeout=10) as http:
            async with http.stream(
                "POST", f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY}
            ) as resp:
                chunks = resp.aiter_bytes()
                await chunks.__anext__()
                assert value(await scrape(http, r.url), "cliproxy_streams_in_flight") == 1
                async for _ in chunks:
                    pass
            assert value(await scrape(http, r.url), "cliproxy_streams_in_flight") == 0
            obs = r.app[OBSERVER]
            obs.refresh_done("claude", True)
            obs.refresh_done("claude", False)
            obs.refresh_done("claude", False)
            m = await scrape(http, r.url)
        assert value(m, "cliproxy_credential_refreshes_total", provider="claude", result="ok") == 1
        assert (
            value(m, "cliproxy_credential_refreshes_total", provider="claude", result="failed") == 2
        )


def _request(app, peer: str, headers: dict[str, str] | None = None):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 1234) if name == "peername" else default
    )
    return make_mocked_request(
        "GET", "/metrics", headers=headers or {}, app=app, transport=transport
    )


async def test_metrics_need_loopback_or_the_management_key(start_router, tmp_path) -> None:
    async with FakeAnthropic() as one, FakeOpenAI() as oai:
        cfg = _config(one.base_url, one.base_url, oai.base_url, tmp_path)
        r = await start_router(cfg)
        app = r.app
        resp = await metrics_handler(_request(app, "127.0.0.1"))
        assert resp.status == 200
        with pytest.raises(Forbidden):  # remote, and management.allow_remote is false
            await metrics_handler(
                _request(app, "10.1.2.3", {"Authorization": f"Bearer {MANAGEMENT_KEY}"})
            )
        app[STATE].reload(
            replace(cfg, management=ManagementConfig(key=MANAGEMENT_KEY, allow_remote=True))
        )
        with pytest.raises(Unauthorized):
            await metrics_handler(_request(app, "10.1.2.3"))
        resp = await metrics_handler(
            _request(app, "10.1.2.4", {"Authorization": f"Bearer {MANAGEMENT_KEY}"})
        )
        assert resp.status == 200 and b"cliproxy_requests_total" in resp.body


async def test_metrics_off(start_router, tmp_path) -> None:
    async with FakeOpenAI() as oai:
        cfg = build_config(
            {"oai": {"kind": "openai-compatible", "base_url": oai.base_url, "api_keys": ["k"]}},
            [{"pattern": "^gpt-", "providers": ["oai"]}],
        )
        r = await start_router(
            replace(with_observability(cfg, tmp_path), metrics=MetricsConfig(enabled=False))
        )
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{r.url}/metrics")).status_code == 404
            ok = await http.post(
                f"{r.url}/v1/chat/completions", json={"model": "gpt-x", "messages": MSG}
            )
            assert ok.status_code == 200


def test_folded_histograms_equal_observed_ones() -> None:
    """``fold`` adds bucket counts through prometheus-client's internals: the exposition is
    what observing each value would give."""
    import random

    from router.observability import Metrics
    from router.observability._tally import LATENCY_BUCKETS

    from ._support import samples as parse

    metrics = Metrics()
    rng = random.Random(8)
    values = [rng.choice(LATENCY_BUCKETS) for _ in range(50)] + [
        rng.uniform(0, 400) for _ in range(500)
    ]
    for i, v in enumerate(values):
        metrics.tally.request("openai", "m", "p", 200, v, None)
        if i == 300:
            metrics.fold()  # folds add up
    ours = parse(metrics.render().decode())
    for bound in (*LATENCY_BUCKETS, float("inf")):
        le = "+Inf" if bound == float("inf") else str(float(bound))
        expected = sum(1 for v in values if v <= bound)  # Prometheus buckets: le, cumulative
        assert value(ours, "cliproxy_request_duration_seconds_bucket", le=le) == expected, bound
    assert value(ours, "cliproxy_request_duration_seconds_count") == len(values)
    assert abs(value(ours, "cliproxy_request_duration_seconds_sum") - sum(values)) < 1e-6
    assert value(ours, "cliproxy_time_to_first_byte_seconds_count") == 0
