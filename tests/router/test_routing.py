"""Routing: first matching rule, provider order, round-robin, cooldown."""

from __future__ import annotations

from router.auth import CredentialPool
from router.routing import Candidate, RoutingTable
from router.scheduling import Policy, Scheduler
from suite.config import BreakerConfig, CooldownConfig, parse_config

_SCHEDULER = Scheduler()


def _candidates(
    table: RoutingTable, model: str, now: float, scheduler: Scheduler = _SCHEDULER
) -> tuple[list[Candidate], float | None]:
    """Every candidate a request would try, in order, and when the first resting one wakes
    (through the scheduler, as a request sees them)."""
    scheduler.clock = lambda: now
    walk = scheduler.walk(table, model, Policy(CooldownConfig(), BreakerConfig(), 60.0))
    assert walk is not None
    out = []
    while (cand := walk.next()) is not None:
        out.append(cand)
    wait = walk.wait_time()
    return out, (None if wait is None else now + wait)


def _table(keys_a=("a1", "a2"), keys_b=("b1",)) -> tuple[RoutingTable, CredentialPool]:
    config = parse_config(
        {
            "providers": {
                "a": {
                    "kind": "openai-compatible",
                    "base_url": "http://127.0.0.1:1/v1",
                    "api_keys": list(keys_a),
                    "models": ["gpt-x", "other"],
                },
                "b": {
                    "kind": "anthropic",
                    "base_url": "http://127.0.0.1:2",
                    "api_keys": list(keys_b),
                },
                "empty": {"kind": "gemini", "base_url": "http://127.0.0.1:3"},
            },
            "models": {
                "routing": [
                    {"pattern": "^gpt-", "providers": ["a", "b"]},
                    {"pattern": "^fast$", "providers": ["b"], "model": "claude-real"},
                    {"pattern": "^gem", "providers": ["empty"]},
                ]
            },
        },
        environ={},
    )
    pool = CredentialPool()
    return RoutingTable(config, pool.sync(config.providers.values())), pool


def test_first_matching_rule_and_alias() -> None:
    table, _ = _table()
    route = table.route("gpt-5")
    assert route is not None and route.rule.index == 0 and route.upstream_model == "gpt-5"
    fast = table.route("fast")
    assert fast is not None and fast.upstream_model == "claude-real"
    assert table.route("fastest") is None
    assert table.route("llama") is None


def test_provider_without_credentials_is_not_a_candidate() -> None:
    table, _ = _table()
    route = table.route("gemini-pro")
    assert route is not None and route.rule.providers == ()


def test_keys_of_one_provider_take_turns_and_order_of_providers_holds() -> None:
    table, _ = _table()
    scheduler = Scheduler()
    seen = []
    for _ in range(4):
        cands, _ = _candidates(table, "gpt-5", now=0.0, scheduler=scheduler)
        seen.append([c.credential.id.split("-")[0] for c in cands])
    assert seen[0] == ["a/key1", "a/key2", "b/key1"]
    assert seen[1] == ["a/key2", "a/key1", "b/key1"]
    assert seen[2] == seen[0]


def test_cooling_credential_is_skipped_until_it_wakes() -> None:
    table, pool = _table(keys_a=("a1",))
    cands, _ = _candidates(table, "gpt-5", now=100.0)
    waited = cands[0].credential.rate_limited(100.0, 7.0, CooldownConfig())
    assert waited == 7.0
    cands, wake = _candidates(table, "gpt-5", now=101.0)
    assert [c.provider.name for c in cands] == ["b"]
    assert wake == 107.0
    cands, _ = _candidates(table, "gpt-5", now=107.0)
    assert [c.provider.name for c in cands] == ["a", "b"]


def test_backoff_without_retry_after_doubles_and_caps() -> None:
    table, _ = _table(keys_a=("a1",))
    cred = _candidates(table, "gpt-5", now=0.0)[0][0].credential
    policy = CooldownConfig(base_seconds=1, max_seconds=5)
    waits = [cred.rate_limited(0.0, None, policy) for _ in range(5)]
    assert waits == [1, 2, 4, 5, 5]
    cred.succeeded()
    assert cred.rate_limited(0.0, None, policy) == 1


def test_state_survives_reload() -> None:
    table, pool = _table(keys_a=("a1",))
    cred = _candidates(table, "gpt-5", now=0.0)[0][0].credential
    cred.rate_limited(0.0, 50.0, CooldownConfig())
    config = parse_config(
        {
            "providers": {
                "a": {
                    "kind": "openai-compatible",
                    "base_url": "http://127.0.0.1:1/v1",
                    "api_keys": ["a1"],
                }
            },
            "models": {"routing": [{"pattern": ".", "providers": ["a"]}]},
        },
        environ={},
    )
    creds = pool.sync(config.providers.values())
    assert creds["a"][0] is cred and not cred.ready(10.0)


def test_listed_models_come_from_provider_lists_and_literal_rules() -> None:
    table, _ = _table()
    assert [m for m, _ in table.listed_models()] == ["fast", "gpt-x"]


def test_route_cache_is_bounded() -> None:
    table, _ = _table()
    for i in range(5000):
        table.route(f"random-{i}")
    assert len(table._cache) <= 4096
