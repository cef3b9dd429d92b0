"""webai as a supervisord program: rendered from ``providers.webai``, started when enabled."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.programs import build_manifest
from suite.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(base: Path, enabled: bool) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": _free_port(), "shutdown_grace_seconds": 2},
        "auth": {"dir": str(base / "auth")},
        "providers": {
            "webai": {
                "kind": "webai",
                "enabled": enabled,
                "url": f"http://127.0.0.1:{_free_port()}",
                "gemini": {"enabled": False},
                "fallback": [{"provider": "tests.webai.providers:Answers"}],
            }
        },
        "models": {"routing": [{"pattern": ".*-webai$", "providers": ["webai"]}]},
        "logging": {"dir": str(base / "logs"), "level": "info", "max_bytes": 65536, "backups": 1},
        "health": {"interval_seconds": 1, "failures_before_restart": 3, "timeout_seconds": 2},
        "usage": {"path": str(base / "usage.sqlite3")},
    }


@pytest.mark.parametrize("enabled", [True, False])
def test_program_follows_enabled(tmp_path: Path, enabled: bool) -> None:
    config = parse_config(_config(tmp_path, enabled), environ={})
    manifest = build_manifest(config, run_dir=tmp_path / "run")
    webai = manifest.program("webai")
    assert webai is not None
    assert webai.autostart is enabled
    assert webai.provider == "webai"  # supervisord.conf: python -m webai --provider NAME
    port = config.providers["webai"].options["url"].rsplit(":", 1)[1]
    assert webai.health_url == f"http://127.0.0.1:{port}/healthz"
    assert manifest.log_names()["webai"] == (config.logging.dir / "webai.log",)


def test_no_webai_provider_no_start(tmp_path: Path) -> None:
    data = _config(tmp_path, True)
    data["providers"] = {}
    data["models"] = {"routing": []}
    manifest = build_manifest(parse_config(data, environ={}), run_dir=tmp_path / "run")
    webai = manifest.program("webai")  # supervisord.conf always has the section
    assert webai is not None and not webai.autostart and webai.provider is None


def test_started_by_the_suite_and_shown_by_status(tmp_path: Path) -> None:
    base = tmp_path / "s"  # short paths: the supervisord socket lives under the run dir
    base.mkdir()
    data = _config(base, True)
    (base / "config.yaml").write_text(yaml.safe_dump(data))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    env.update(CLIPROXY_CONFIG=str(base / "config.yaml"), CLIPROXY_RUN_DIR=str(base / "run"))

    def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ROOT / "scripts" / script), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=base,
        )

    try:
        started = run("start.sh", "--timeout", "30")
        assert started.returncode == 0, started.stderr + started.stdout
        status = run("status.sh", "--json")
        rows = {p["program"]: p for p in json.loads(status.stdout)["processes"]}
        assert rows["webai"]["state"] in ("STARTING", "RUNNING")  # up, within startsecs
        assert rows["webai"]["health"] == "ok", rows["webai"]
        table = run("status.sh").stdout
        assert any(line.startswith("webai ") for line in table.splitlines()), table

        port = data["server"]["port"]
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(
                {"model": "any-webai", "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
        assert answer["choices"][0]["message"]["content"] == "Fallback says hello"

        log = (base / "logs" / "webai.log").read_text().splitlines()
        lines = [json.loads(x) for x in log if x.startswith("{")]
        assert any(e.get("event") == "chat completion" for e in lines)
        assert all(e.get("service") == "webai" for e in lines)
    finally:
        stopped = run("stop.sh")
        assert stopped.returncode == 0, stopped.stderr


def test_check_command_and_config_errors(tmp_path: Path) -> None:
    data = _config(tmp_path, True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    ok = subprocess.run(
        [sys.executable, "-m", "webai", "--config", str(path), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert ok.returncode == 0, ok.stderr
    assert "webai on 127.0.0.1:" in ok.stdout
    data["providers"]["webai"]["url"] = "http://10.1.2.3:8406"
    path.write_text(yaml.safe_dump(data))
    bad = subprocess.run(
        [sys.executable, "-m", "webai", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "config: providers.webai.url: webai listens on loopback only (127.0.0.1 or ::1), "
        "got '10.1.2.3'"
    )
    assert load_config(path, environ={}).providers["webai"].enabled is True


async def test_python_m_webai_signs_in_and_logs_json_lines_without_secrets(
    tmp_path: Path,
) -> None:
    import asyncio

    import aiohttp

    from tests.fakes.gemini_web import FakeGeminiWeb

    psid, psidts = "g.a000processsecret0123456789", "sidts-processsecret0123456789"
    async with FakeGeminiWeb(psid, psidts, rotate_on_generate=True) as fake:
        data = _config(tmp_path, True)
        data["providers"]["webai"]["gemini"] = {
            "cookies": {"__Secure-1PSID": psid, "__Secure-1PSIDTS": psidts},
            "proxy": fake.proxy_url,
            "ca_bundle": str(fake.ca_file),
        }
        data["providers"]["webai"]["fallback"] = []
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(data))
        url = data["providers"]["webai"]["url"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIPROXY_", "GEMINI_"))}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "webai", "--config", str(path),
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            async with aiohttp.ClientSession() as session:
                for _ in range(200):  # up within 10 s
                    try:
                        async with session.get(f"{url}/healthz") as r:
                            health = await r.json()
                            if health["status"] == "ok":
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.05)
                assert health["status"] == "ok", health
                body = {"model": "gemini-2.5-pro", "messages": [{"role": "user", "content": "hi"}]}
                async with session.post(f"{url}/v1/chat/completions", json=body) as r:
                    assert r.status == 200
                    answer = await r.json()
        finally:
            proc.terminate()
            out, _ = await asyncio.wait_for(proc.communicate(), 15)
        rotated = fake.account.psidts
    assert answer["choices"][0]["message"]["content"] == "Hello from Gemini web"
    assert proc.returncode == 0
    lines = out.decode().splitlines()
    assert lines and all(line.startswith("{") for line in lines), lines  # loguru's own lines gone
    events = [json.loads(line) for line in lines]
    assert {e["service"] for e in events} == {"webai"}
    assert "rotated cookies saved" in {e["event"] for e in events}
    for secret in (psid, psidts, rotated):
        assert secret not in out.decode()
    saved = json.loads((tmp_path / "auth" / "webai-default.json").read_text())
    assert saved["cookies"]["__Secure-1PSIDTS"] == rotated
