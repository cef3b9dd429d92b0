"""The scheduling policy, sans-io: FakeExecutors, a fake clock, no sockets."""

from __future__ import annotations

from router.auth import Quota, QuotaWindow
from router.errors import NoCapacity, NotFound, UpstreamError
from tests.fakes.executor import connect_error, http_error, ok, timeout

from ._harness import Served, harness

KEYS3 = ["k1", "k2", "k3"]


def _one(strategy: str | None = None, keys: list[str] = KEYS3, **server):
    prov = {"kind": "openai-compatible", "api_keys": keys}
    if strategy:
        prov["strategy"] = strategy
    return harness({"p": prov}, [{"pattern": ".*", "providers": ["p"]}], server)


async def _serve(h, model="gpt-5", n=1, session=None) -> list[str]:
    out = []
    for _ in range(n):
        got = await h.request(model, session=session)
        assert isinstance(got, Served), got
        out.append(got.credential)
    return out


# -- strategies -----------------------------------------------------------------


async def test_round_robin_spreads_requests_over_every_key() -> None:
    h = _one()
    ids = h.ids("p")
    assert await _serve(h, n=6) == ids + ids


async def test_fill_first_uses_the_first_key_until_it_rests() -> None:
    h = _one("fill-first")
    k1, k2, _ = h.ids("p")
    assert await _serve(h, n=3) == [k1] * 3
    h.executors["p"].then(k1, http_error(429, retry_after=30), ok())
    assert await _serve(h, n=2) == [k2, k2]  # k1 rests 30 s
    h.clock.now += 31
    assert await _serve(h) == [k1]


async def test_sticky_keeps_a_conversation_on_its_key_while_it_is_healthy() -> None:
    h = _one("sticky")
    a = await _serve(h, n=4, session="conv-a")
    b = await _serve(h, n=4, session="conv-b")
    assert len(set(a)) == 1 and len(set(b)) == 1 and a[0] != b[0]
    # Its key rests: the conversation moves, and stays where it moved.
    h.executors["p"].then(a[0], http_error(429, retry_after=60), ok())
    moved = await _serve(h, n=3, session="conv-a")
    assert len(set(moved)) == 1 and moved[0] != a[0]
    assert await _serve(h, n=2, session="conv-b") == b[:2]


async def test_sticky_table_is_bounded_and_forgets_after_its_ttl() -> None:
    h = _one("sticky")
    h.scheduler.sticky.limit = 10
    for i in range(50):
        await _serve(h, session=f"c{i}")
    assert len(h.scheduler.sticky) == 10
    first = await _serve(h, session="late")
    h.clock.now += h.scheduler.sticky.ttl + 1
    assert h.scheduler.sticky.get("0:late", h.clock.now) is None
    assert first


async def test_quota_aware_prefers_the_key_with_most_room() -> None:
    h = _one("quota-aware")
    k1, k2, k3 = (h.cred("p", i) for i in range(3))
    now = h.clock.now
    k1.quota = Quota(now, five_hour=QuotaWindow(90.0, resets_at=now + 3600))
    k2.quota = Quota(now, five_hour=QuotaWindow(20.0, resets_at=now + 3600))
    k3.quota = Quota(now, five_hour=QuotaWindow(60.0, resets_at=now + 3600))
    assert await _serve(h, n=2) == [k2.id, k2.id]
    # The standard headers report room too: k2 is nearly out now.
    h.executors["p"].then(
        k2.id,
        ok(headers={"x-ratelimit-remaining-requests": "1", "x-ratelimit-limit-requests": "100"}),
    )
    await _serve(h)
    assert k2.headroom == 0.01
    assert await _serve(h) == [k3.id]


# -- breaker --------------------------------------------------------------------


async def test_breaker_opens_after_failures_in_a_row_then_one_probe_closes_it() -> None:
    h = harness(
        {
            "a": {"kind": "openai-compatible", "api_keys": ["a"]},
            "b": {"kind": "openai-compatible", "api_keys": ["b"]},
        },
        [{"pattern": ".*", "providers": ["a", "b"]}],
        {"breaker": {"failures": 3, "base_seconds": 10, "max_seconds": 25}},
    )
    a, b = h.cred("a"), h.cred("b")
    h.executors["a"].then("*", connect_error())
    for _ in range(3):
        assert (await h.request("m")).provider == "b"
    assert a.breaker == "open" and a.breaker_reason == "connection failed"
    calls = len(h.executors["a"].calls)
    for _ in range(5):  # open: not even tried
        assert (await h.request("m")).provider == "b"
    assert len(h.executors["a"].calls) == calls
    h.clock.now += 10
    # Half-open: the probe fails, the breaker opens twice as long (capped at 25).
    assert (await h.request("m")).provider == "b"
    assert a.breaker == "open" and a.breaker_until - h.clock.now == 20
    h.clock.now += 20
    h.executors["a"].then("*", ok())
    assert (await h.request("m")).provider == "a"
    assert a.breaker == "closed" and a.failures == 0 and b.breaker == "closed"


async def test_a_half_open_credential_takes_one_probe_at_a_time() -> None:
    h = _one(keys=["k1"], breaker={"failures": 1, "base_seconds": 5})
    cred = h.cred("p")
    h.executors["p"].then("*", timeout())
    assert isinstance(await h.request("m"), UpstreamError)
    assert cred.breaker == "open"
    h.clock.now += 5
    probe = h.scheduler.walk(h.table, "m", h.policy)
    other = h.scheduler.walk(h.table, "m", h.policy)
    assert probe is not None and other is not None
    assert probe.next() is not None and cred.breaker == "half_open"
    assert other.next() is None  # held by the probe in flight


async def test_5xx_and_529_count_a_client_error_does_not() -> None:
    h = _one(keys=["k1"], breaker={"failures": 2})
    cred = h.cred("p")
    h.executors["p"].then("*", http_error(529), http_error(400), http_error(503), ok())
    await h.request("m")
    assert cred.failures == 1
    got = await h.request("m")  # a 400 is the client's: answered as is, the run ends
    assert isinstance(got, UpstreamError) and got.status == 400 and cred.failures == 0
    await h.request("m")
    assert cred.failures == 1 and cred.breaker == "closed"


async def test_every_breaker_open_is_503_with_retry_after() -> None:
    h = _one(keys=["k1"], breaker={"failures": 1, "base_seconds": 30})
    h.executors["p"].then("*", connect_error())
    await h.request("m")
    got = await h.request("m")
    assert isinstance(got, UpstreamError) and got.status == 503
    assert got.retry_after == 30 and "circuit breaker" in got.message


# -- cooldowns per model or account -------------------------------------------------


async def test_a_limit_that_names_a_model_rests_only_that_model() -> None:
    h = harness(
        {"an": {"kind": "anthropic", "api_keys": ["k1"]}},
        [{"pattern": ".*", "providers": ["an"]}],
    )
    cred = h.cred("an")
    body = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    h.executors["an"].then("*", http_error(429, body, retry_after=40), ok())
    assert isinstance(await h.request("claude-opus-4-1"), NoCapacity)
    assert (await h.request("claude-sonnet-4-5")).credential == cred.id
    got = await h.request("claude-opus-4-1")
    assert isinstance(got, NoCapacity) and got.retry_after == 40
    assert cred.ready(h.clock.now) and not cred.ready(h.clock.now, "claude-opus-4-1")


async def test_account_limits_rest_the_whole_credential() -> None:
    cases = [
        ("codex-oauth", {"error": {"type": "usage_limit_reached", "resets_in_seconds": 99}}, {}),
        ("openai-compatible", {"error": {"code": "insufficient_quota", "message": "billing"}}, {}),
        (
            "claude-oauth",
            {"type": "error", "error": {"type": "rate_limit_error"}},
            {"anthropic-ratelimit-unified-representative-claim": "five_hour"},
        ),
    ]
    for kind, body, headers in cases:
        h = harness(
            {"p": {"kind": "openai-compatible", "api_keys": ["k1"]}},
            [{"pattern": ".*", "providers": ["p"]}],
        )
        cred = h.cred("p")
        from router.scheduling import limit_scope

        err = http_error(429, body, headers=headers)
        assert limit_scope(kind, err) == "account", kind
        h.executors["p"].then("*", err)
        await h.request("x")
        assert not cred.ready(h.clock.now, "another-model"), kind


async def test_scope_from_each_upstreams_words() -> None:
    from router.scheduling import limit_scope

    per_model = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                            "quotaDimensions": {"model": "gemini-2.5-pro", "location": "global"},
                        }
                    ],
                }
            ],
        }
    }
    project = {
        "error": {
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProject"}],
                }
            ],
        }
    }
    assert limit_scope("gemini", http_error(429, per_model)) == "model"
    assert limit_scope("gemini", http_error(429, project)) == "account"
    opus = {"anthropic-ratelimit-unified-representative-claim": "seven_day_opus"}
    assert limit_scope("claude-oauth", http_error(429, headers=opus)) == "model"
    tpm = {"error": {"code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-4o"}}
    assert limit_scope("openai-compatible", http_error(429, tpm)) == "model"


async def test_refused_key_is_disabled_and_the_next_serves() -> None:
    h = _one("fill-first", keys=["k1", "k2"])
    k1, k2 = h.ids("p")
    h.executors["p"].then(k1, http_error(401))
    assert await _serve(h, n=2) == [k2, k2]
    assert h.cred("p").disabled_reason == "upstream answered 401"


# -- fallbacks --------------------------------------------------------------------


async def test_fallback_chain_is_tried_in_order_each_by_its_own_rule() -> None:
    h = harness(
        {
            "llmux": {"kind": "anthropic", "api_keys": ["l"]},
            "api": {"kind": "anthropic", "api_keys": ["a"]},
            "oai": {"kind": "openai-compatible", "api_keys": ["o"]},
        },
        [
            {
                "pattern": "^claude-opus",
                "providers": [{"name": "llmux", "model": "opus-upstream"}, "api"],
                "fallbacks": ["claude-sonnet-4-5", "gpt-5"],
            },
            {"pattern": "^claude-sonnet", "providers": ["api"], "fallbacks": ["claude-opus-4-1"]},
            {"pattern": "^gpt", "providers": ["oai"], "fallbacks": ["claude-opus-4-1"]},
        ],
    )
    got = await h.request("claude-opus-4-1")
    assert (got.provider, got.model) == ("llmux", "opus-upstream")
    h.executors["llmux"].then("*", http_error(500))
    h.executors["api"].then("*", http_error(503))
    got = await h.request("claude-opus-4-1")
    assert (got.provider, got.model) == ("oai", "gpt-5")
    models = [c.model for c, _ in h.executors["api"].calls]
    assert models == ["claude-opus-4-1", "claude-sonnet-4-5"]  # api tried once per route
    # Every route fails: the cycle (opus → sonnet → opus, gpt → opus) ends.
    h.executors["oai"].then("*", timeout())
    got = await h.request("claude-opus-4-1")
    assert isinstance(got, UpstreamError) and got.status == 504


async def test_a_fallback_without_a_rule_is_skipped() -> None:
    h = harness(
        {"p": {"kind": "openai-compatible", "api_keys": ["k"]}},
        [{"pattern": "^a$", "providers": ["p"], "fallbacks": ["nowhere"]}],
    )
    h.executors["p"].then("*", http_error(502))
    got = await h.request("a")
    assert isinstance(got, UpstreamError) and got.status == 502


# -- waiting --------------------------------------------------------------------


async def test_waits_for_the_first_key_to_wake_within_max_wait() -> None:
    h = _one(keys=["k1"], retry={"max_wait_seconds": 5})
    h.executors["p"].then("*", http_error(429, retry_after=2), ok())
    got = await h.request("m")
    assert isinstance(got, Served) and h.clock.slept == [2.0]


async def test_waiting_is_bounded_by_max_wait() -> None:
    h = _one(keys=["k1"], retry={"max_wait_seconds": 5})
    h.executors["p"].then("*", http_error(429, retry_after=3))
    got = await h.request("m")  # waits 3 s once; the next rest would pass 5 s in all
    assert isinstance(got, NoCapacity) and sum(h.clock.slept) <= 5
    h.clock.slept.clear()
    h.executors["p"].then("*", http_error(429, retry_after=10))
    h.clock.now += 11
    got = await h.request("m")
    assert isinstance(got, NoCapacity) and h.clock.slept == []


async def test_no_wait_by_default_or_when_the_client_is_gone() -> None:
    h = _one(keys=["k1"])
    h.executors["p"].then("*", http_error(429, retry_after=1))
    assert isinstance(await h.request("m"), NoCapacity) and h.clock.slept == []
    h2 = _one(keys=["k1"], retry={"max_wait_seconds": 5})
    h2.connected = False
    h2.executors["p"].then("*", http_error(429, retry_after=1))
    assert isinstance(await h2.request("m"), NoCapacity) and h2.clock.slept == []


async def test_unknown_model_and_no_credentials() -> None:
    h = harness(
        {"p": {"kind": "openai-compatible", "api_keys": ["k"]}},
        [{"pattern": "^a$", "providers": ["p"]}],
    )
    assert h.scheduler.walk(h.table, "b", h.policy) is None
    h.cred("p").disabled_until = h.clock.now + 10
    h.cred("p").disabled_reason = "x"
    got = await h.request("a")
    assert isinstance(got, NoCapacity | NotFound)


async def test_a_timeout_opens_the_breaker_at_once() -> None:
    h = harness(
        {
            "a": {"kind": "openai-compatible", "api_keys": ["a"]},
            "b": {"kind": "openai-compatible", "api_keys": ["b"]},
        },
        [{"pattern": ".*", "providers": ["a", "b"]}],
    )
    h.executors["a"].then("*", timeout())
    assert (await h.request("m")).provider == "b"
    assert h.cred("a").breaker == "open" and h.cred("a").breaker_reason == "timed out"
    assert (await h.request("m")).provider == "b"
    assert len(h.executors["a"].calls) == 1
