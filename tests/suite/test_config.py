"""Config loading: expansion, validation messages, and the process exit path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from suite.config import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_loads_without_any_environment() -> None:
    config = load_config(ROOT / "config.yaml", environ={})
    assert config.server.port == 8317
    assert config.server.api_keys == ()
    assert all(not p.api_keys for p in config.providers.values())
    assert [r.pattern for r in config.routing][0] == "^gpt-"


def test_env_expansion_and_defaults() -> None:
    data = {
        "server": {"api_keys": ["${K1}", "${K2:-fallback}", "${K3:-}"], "port": "${PORT:-9000}"},
        "providers": {
            "p": {"kind": "anthropic", "api_keys": ["${AK}"], "base_url": "http://127.0.0.1:1"}
        },
        "models": {"routing": [{"pattern": ".*", "providers": ["p"]}]},
    }
    config = parse_config(data, environ={"K1": "one", "AK": "secret"})
    assert config.server.api_keys == ("one", "fallback")
    assert config.server.port == 9000
    assert config.providers["p"].api_keys == ("secret",)


def test_missing_variable_in_a_used_provider_is_named() -> None:
    data = {
        "providers": {"p": {"kind": "anthropic", "api_keys": ["${NOPE_KEY}"]}},
        "models": {"routing": [{"pattern": ".*", "providers": ["p"]}]},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    assert "providers.p.api_keys" in str(err.value) and "NOPE_KEY" in str(err.value)


def test_missing_variable_in_an_unused_provider_is_not_an_error() -> None:
    data = {"providers": {"p": {"kind": "anthropic", "api_keys": ["${NOPE_KEY}"]}}}
    config = parse_config(data, environ={})
    assert config.providers["p"].api_keys == ()


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ({"server": {"port": "eighty"}}, "server.port", "whole number"),
        ({"server": {"port": 70000}}, "server.port", "TCP port"),
        ({"serverr": {}}, "serverr", "unknown key"),
        ({"providers": {"x": {"kind": "nope"}}}, "providers.x.kind", "unknown kind"),
        ({"providers": {"x": {}}}, "providers.x.kind", "required"),
        (
            {"providers": {"x": {"kind": "gemini", "base_url": "ftp://x"}}},
            "providers.x.base_url",
            "http",
        ),
        (
            {"models": {"routing": [{"pattern": "(", "providers": []}]}},
            "models.routing[0].pattern",
            "regular expression",
        ),
        (
            {"models": {"routing": [{"pattern": "a", "providers": ["ghost"]}]}},
            "models.routing[0].providers[0]",
            "ghost",
        ),
        ({"server": {"api_keys": [1]}}, "server.api_keys[0]", "string"),
        ({"auth": {"store": "postgres"}}, "auth.dsn", "required"),
        ({"logging": {"level": "loud"}}, "logging.level", "expected"),
    ],
)
def test_bad_values_name_the_key(data: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    assert err.value.key == key
    assert words in str(err.value)


def test_bad_file_exits_nonzero_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text("server:\n  port: [1, 2]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "router", "check"],
        env={"CLIPROXY_CONFIG": str(bad), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config: server.port: expected a whole number, got [1, 2]"
    ]
    assert "Traceback" not in proc.stderr


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("server:\n  port: 1\n  host: [\n")
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "not valid YAML" in str(err.value) and "line" in str(err.value)
