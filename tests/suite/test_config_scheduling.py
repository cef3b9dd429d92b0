"""Provider kinds, timeouts and the scheduling keys: checked when the config loads."""

from __future__ import annotations

from typing import Any

import pytest

from router.executors import build_executor
from suite.config import (
    KINDS,
    ConfigError,
    HTTPOptions,
    OpenAIOptions,
    ProviderConfig,
    parse_config,
)


def _parse(
    provider: dict[str, Any],
    server: dict[str, Any] | None = None,
    rule: dict[str, Any] | None = None,
) -> Any:
    data = {
        "server": server or {},
        "providers": {"an": {"kind": "anthropic", "api_keys": ["k"], **provider}},
        "models": {"routing": [{"pattern": ".*", "providers": ["an"], **(rule or {})}]},
    }
    return parse_config(data, environ={})


def test_every_typo_of_a_provider_entry_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        _parse({"stratgy": "sticky", "timeout": {"first_byte": 3}, "api_key": "oops"})
    text = str(err.value)
    assert err.value.key == "providers.an"
    for typo, meant in (("stratgy", "strategy"), ("timeout", "timeouts"), ("api_key", "api_keys")):
        assert f"{typo} (did you mean {meant}?)" in text


def test_one_unknown_key_is_the_error_key() -> None:
    with pytest.raises(ConfigError) as err:
        _parse({"wire": "responses"})  # an option of openai-compatible, not of anthropic
    assert err.value.key == "providers.an.wire"
    assert "unknown key" in str(err.value)


@pytest.mark.parametrize("value", ["lots", 0, -3, 2.5, True])
def test_bad_max_connections_is_a_config_error(value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        _parse({"max_connections": value})
    assert err.value.key == "providers.an.max_connections"


def test_options_are_typed_per_kind() -> None:
    config = _parse({"max_connections": 7})
    assert config.providers["an"].settings == HTTPOptions(max_connections=7)
    data = {
        "providers": {"o": {"kind": "openai-compatible", "api_keys": ["k"], "wire": "responses"}},
    }
    assert parse_config(data, environ={}).providers["o"].settings == OpenAIOptions(wire="responses")
    with pytest.raises(ConfigError, match=r"providers\.o\.wire: expected chat or responses"):
        data["providers"]["o"]["wire"] = "grpc"
        parse_config(data, environ={})


def test_oauth_keys_are_checked() -> None:
    data = {"providers": {"c": {"kind": "claude-oauth", "oauth": {"token_ulr": "http://x"}}}}
    with pytest.raises(ConfigError, match=r"providers\.c\.oauth\.token_ulr: unknown key"):
        parse_config(data, environ={})


def test_every_kind_has_an_executor_and_a_record() -> None:
    for name, kind in KINDS.items():
        assert kind.default_base_url.startswith("http")
        if kind.credentials == "relay":
            continue  # served through the /v1/ws hub, built with it
        prov = ProviderConfig(name="p", kind=name, base_url=kind.default_base_url)
        assert build_executor(prov) is not None, name


def test_server_timeouts_are_every_providers_default_and_each_value_overridable() -> None:
    config = _parse(
        {"timeouts": {"first_byte": 9}},
        server={"timeouts": {"connect": 1.5, "first_byte": 2, "idle": 4}},
    )
    t = config.providers["an"].timeouts
    assert (t.connect, t.first_byte, t.idle) == (1.5, 9, 4)
    plain = _parse({}, server={"timeouts": {"first_byte": 2}})
    assert plain.providers["an"].timeouts.first_byte == 2


def test_strategy_breaker_retry_and_rules() -> None:
    config = _parse(
        {"strategy": "fill-first"},
        server={"breaker": {"failures": 2, "base_seconds": 1}, "retry": {"max_wait_seconds": 3}},
        rule={
            "providers": [{"name": "an", "model": "claude-opus-4-1"}, "an"],
            "fallbacks": ["gpt-5"],
            "strategy": "sticky",
        },
    )
    assert config.providers["an"].strategy == "fill-first"
    assert config.server.breaker.failures == 2 and config.server.retry.max_wait_seconds == 3
    rule = config.routing[0]
    assert rule.providers == ("an", "an")
    assert rule.provider_models == ("claude-opus-4-1", None)
    assert rule.fallbacks == ("gpt-5",) and rule.strategy == "sticky"


@pytest.mark.parametrize(
    ("provider", "server", "rule", "key"),
    [
        ({"strategy": "random"}, {}, {}, "providers.an.strategy"),
        ({}, {"breaker": {"failures": 0}}, {}, "server.breaker.failures"),
        ({}, {"breaker": {"treshold": 2}}, {}, "server.breaker.treshold"),
        ({}, {"retry": {"max_wait_seconds": -1}}, {}, "server.retry.max_wait_seconds"),
        ({}, {}, {"strategy": "stiky"}, "models.routing[0].strategy"),
        (
            {},
            {},
            {"providers": [{"name": "an", "modle": "x"}]},
            "models.routing[0].providers[0].modle",
        ),
        ({}, {}, {"providers": [{"name": "ghost"}]}, "models.routing[0].providers[0]"),
        ({}, {}, {"fallbacks": [3]}, "models.routing[0].fallbacks[0]"),
    ],
)
def test_bad_scheduling_keys_are_named(
    provider: dict[str, Any], server: dict[str, Any], rule: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(provider, server, rule)
    assert err.value.key == key
