"""Failover before the first byte, cooldowns, and honest ends of broken streams."""

from __future__ import annotations

import anthropic
import httpx
import pytest

from tests.conftest import build_config
from tests.fakes import Fail, FakeAnthropic, Hang, Reply, ResetAfter, unused_port

KEY = "sk-client"
MSG = [{"role": "user", "content": "hi"}]


def _two(primary_url: str, secondary_url: str, **primary_extra) -> object:
    return build_config(
        {
            "primary": {
                "kind": "anthropic",
                "base_url": primary_url,
                "api_keys": ["k-primary"],
                **primary_extra,
            },
            "secondary": {
                "kind": "anthropic",
                "base_url": secondary_url,
                "api_keys": ["k-secondary"],
            },
        },
        [{"pattern": "^claude-", "providers": ["primary", "secondary"]}],
        api_keys=[KEY],
    )


def _client(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)


@pytest.mark.parametrize(
    "failure",
    [Fail(500), Fail(529), Fail(429, retry_after=30), Fail(401), Fail(403), Hang()],
    ids=["500", "529", "429", "401", "403", "hang"],
)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_secondary_serves_when_primary_fails(start_router, failure, stream: bool) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.enqueue(failure)
        two.default = Reply(text="served by two")
        r = await start_router(_two(one.base_url, two.base_url, timeouts={"first_byte": 0.5}))
        async with _client(r.url) as client:
            if stream:
                async with client.messages.stream(
                    model="claude-x", max_tokens=9, messages=MSG
                ) as s:
                    text = "".join([t async for t in s.text_stream])
            else:
                msg = await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
                text = msg.content[0].text
        assert text == "served by two"
        assert len(one.requests) == 1 and len(two.requests) == 1


async def test_refused_connection_fails_over(start_router) -> None:
    async with FakeAnthropic() as two:
        two.default = Reply(text="alive")
        r = await start_router(_two(f"http://127.0.0.1:{unused_port()}", two.base_url))
        async with _client(r.url) as client:
            msg = await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
        assert msg.content[0].text == "alive"


async def test_rate_limited_key_cools_down_and_all_cooling_is_429_with_retry_after(
    start_router,
) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.enqueue(Fail(429, retry_after=40))
        two.enqueue(Fail(429, retry_after=20))
        r = await start_router(_two(one.base_url, two.base_url))
        async with httpx.AsyncClient() as http:
            body = {"model": "claude-x", "max_tokens": 5, "messages": MSG}
            first = await http.post(f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY})
            assert first.status_code == 429
            assert first.json()["error"]["type"] == "rate_limit_error"
            assert 19 <= int(first.headers["Retry-After"]) <= 21
            # Both keys now rest: the next request is answered at once, upstreams untouched.
            second = await http.post(f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY})
        assert second.status_code == 429
        assert 19 <= int(second.headers["Retry-After"]) <= 21
        assert len(one.requests) == 1 and len(two.requests) == 1


async def test_cooled_key_is_skipped_by_later_requests(start_router) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.enqueue(Fail(429, retry_after=60))
        r = await start_router(_two(one.base_url, two.base_url))
        async with _client(r.url) as client:
            for _ in range(3):
                await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
        assert len(one.requests) == 1 and len(two.requests) == 3


async def test_all_fail_gives_502_naming_the_failure(start_router) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.enqueue(Fail(500))
        two.enqueue(Fail(500))
        r = await start_router(_two(one.base_url, two.base_url))
        async with _client(r.url) as client:
            with pytest.raises(anthropic.APIStatusError) as err:
                await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
        assert err.value.status_code == 502
        assert "failed" in err.value.message
        assert "k-primary" not in err.value.message and "k-secondary" not in err.value.message


async def test_client_error_from_upstream_is_not_retried(start_router) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.enqueue(Fail(400, message="prompt is too long"))
        r = await start_router(_two(one.base_url, two.base_url))
        async with _client(r.url) as client:
            with pytest.raises(anthropic.BadRequestError) as err:
                await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
        assert "prompt is too long" in str(err.value)
        assert two.requests == []


async def test_stream_cut_after_first_chunk_ends_with_error_event(start_router) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        one.enqueue(ResetAfter(chunks=3))
        r = await start_router(_two(one.base_url, two.base_url))
        async with httpx.AsyncClient() as http:
            body = {"model": "claude-x", "max_tokens": 5, "messages": MSG, "stream": True}
            resp = await http.post(f"{r.url}/v1/messages", json=body, headers={"x-api-key": KEY})
        assert resp.status_code == 200
        assert "event: message_start" in resp.text
        assert resp.text.rstrip().splitlines()[-2:][0] == "event: error"
        assert "message_stop" not in resp.text
        assert two.requests == []  # after the first byte there is no switching
        async with _client(r.url) as client:
            one.enqueue(ResetAfter(chunks=3))
            with pytest.raises(anthropic.APIStatusError):
                async with client.messages.stream(
                    model="claude-x", max_tokens=9, messages=MSG
                ) as s:
                    async for _ in s.text_stream:
                        pass


async def test_unknown_model_is_404(start_router) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        r = await start_router(_two(one.base_url, two.base_url))
        async with _client(r.url) as client:
            with pytest.raises(anthropic.NotFoundError):
                await client.messages.create(model="gpt-nope", max_tokens=9, messages=MSG)


async def test_body_over_the_limit_is_413(start_router) -> None:
    async with FakeAnthropic() as one:
        config = build_config(
            {"a": {"kind": "anthropic", "base_url": one.base_url, "api_keys": ["k"]}},
            [{"pattern": ".", "providers": ["a"]}],
            api_keys=[KEY],
            server={"max_body_bytes": 2048},
        )
        r = await start_router(config)
        big = {
            "model": "claude-x",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "x" * 5000}],
        }
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{r.url}/v1/messages", json=big, headers={"x-api-key": KEY})
        assert resp.status_code == 413
        assert resp.json()["error"]["type"] == "request_too_large"
        assert one.requests == []


# -- the circuit breaker, end to end (real sockets) -------------------------------------

MGMT_KEY = "m-key"


def _breaker_config(primary_url: str, secondary_url: str, **server) -> object:
    import dataclasses

    from suite.config import ManagementConfig

    cfg = build_config(
        {
            "primary": {"kind": "anthropic", "base_url": primary_url, "api_keys": ["k-p"]},
            "secondary": {"kind": "anthropic", "base_url": secondary_url, "api_keys": ["k-s"]},
        },
        [{"pattern": "^claude-", "providers": ["primary", "secondary"]}],
        api_keys=[KEY],
        server={"timeouts": {"connect": 2, "first_byte": 2, "idle": 5}, **server},
    )
    return dataclasses.replace(cfg, management=ManagementConfig(key=MGMT_KEY))


async def _primary_view(http: httpx.AsyncClient, url: str) -> dict:
    doc = (
        await http.get(f"{url}/status.json", headers={"Authorization": f"Bearer {MGMT_KEY}"})
    ).json()
    creds = doc["providers"]
    if isinstance(creds, dict):
        creds = list(creds.values())
    for prov in creds:
        if prov["name"] == "primary":
            return prov["credentials"][0]
    raise AssertionError(doc)


async def _timed(client: anthropic.AsyncAnthropic) -> tuple[float, str]:
    import time

    started = time.perf_counter()
    msg = await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
    return time.perf_counter() - started, msg.content[0].text


async def test_a_hung_primary_costs_one_first_byte_then_its_breaker_opens(start_router) -> None:
    from tests.fakes import MisbehavingUpstream, Misbehaviour

    async with (
        MisbehavingUpstream(default=Misbehaviour.HANG) as hung,
        FakeAnthropic(default=Reply(text="second")) as second,
    ):
        r = await start_router(_breaker_config(hung.base_url, second.base_url))
        async with _client(r.url) as client, httpx.AsyncClient() as http:
            took, text = await _timed(client)
            assert text == "second" and took <= 3.0, took
            for _ in range(10):
                took, text = await _timed(client)
                assert text == "second" and took < 0.5, took
            assert len(hung.requests) == 1  # the open breaker keeps requests away
            view = await _primary_view(http, r.url)
            assert view["state"] == "broken" and "timed out" in view["reason"], view
            metrics = (
                await http.get(f"{r.url}/metrics", headers={"Authorization": f"Bearer {MGMT_KEY}"})
            ).text
            assert 'cliproxy_credentials{provider="primary",state="broken"} 1.0' in metrics


async def test_a_refused_port_is_tried_three_times_then_left_alone(start_router) -> None:
    async with FakeAnthropic(default=Reply(text="second")) as second:
        cfg = _breaker_config(f"http://127.0.0.1:{unused_port()}", second.base_url)
        r = await start_router(cfg)
        async with _client(r.url) as client, httpx.AsyncClient() as http:
            for _ in range(6):
                await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            view = await _primary_view(http, r.url)
            assert view["state"] == "broken" and "connection failed" in view["reason"]
            assert view["wait_s"] > 0


async def test_a_5xx_storm_opens_the_breaker_and_a_probe_closes_it(start_router) -> None:
    from tests.fakes import MisbehavingUpstream, Misbehaviour

    async with (
        MisbehavingUpstream(default=Misbehaviour.ERROR_STORM) as storm,
        FakeAnthropic(default=Reply(text="second")) as second,
    ):
        cfg = _breaker_config(
            storm.base_url, second.base_url, breaker={"failures": 3, "base_seconds": 0.5}
        )
        r = await start_router(cfg)
        async with _client(r.url) as client, httpx.AsyncClient() as http:
            for _ in range(8):
                await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            assert len(storm.requests) == 3
            assert "upstream answered 50" in (await _primary_view(http, r.url))["reason"]
            storm.default = Misbehaviour.OK
            import asyncio
            import time

            deadline = time.monotonic() + 5
            while (await _primary_view(http, r.url))["state"] == "broken":  # its 0.5 s rest
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            await client.messages.create(model="claude-x", max_tokens=9, messages=MSG)
            assert len(storm.requests) == 4
            assert (await _primary_view(http, r.url))["state"] == "ready"
