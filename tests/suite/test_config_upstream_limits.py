"""``server.limits`` bounds on upstream answers: checked, named in errors, given to providers."""

from __future__ import annotations

from typing import Any

import pytest

from suite.config import ConfigError, LimitsConfig, parse_config


def _parse(limits: dict[str, Any]) -> Any:
    data = {
        "server": {"limits": limits},
        "providers": {"p": {"kind": "openai-compatible", "api_keys": ["k"]}},
        "models": {"routing": [{"pattern": ".*", "providers": ["p"]}]},
    }
    return parse_config(data, environ={})


def test_defaults_and_the_provider_gets_them() -> None:
    config = _parse({})
    assert config.server.limits.max_response_bytes == 64 * 1024 * 1024
    assert config.server.limits.max_sse_line_bytes == 8 * 1024 * 1024
    set_ = _parse({"max_response_bytes": 1 << 20, "max_sse_line_bytes": 1 << 17})
    assert set_.providers["p"].limits == set_.server.limits
    assert set_.providers["p"].limits.max_sse_line_bytes == 1 << 17
    assert LimitsConfig().max_response_bytes == config.providers["p"].limits.max_response_bytes


@pytest.mark.parametrize(
    ("limits", "key", "words"),
    [
        ({"max_response_bytes": 100}, "server.limits.max_response_bytes", "at least 65536"),
        ({"max_sse_line_bytes": "big"}, "server.limits.max_sse_line_bytes", "whole number"),
        ({"max_sse_line_bytes": 1048576.5}, "server.limits.max_sse_line_bytes", "whole number"),
        ({"max_sse_lines": 1 << 20}, "server.limits.max_sse_lines", "unknown key"),
    ],
)
def test_bad_values_and_unknown_keys_are_named(
    limits: dict[str, Any], key: str, words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(limits)
    assert key in str(err.value) and words in str(err.value)
