"""First run: with no ``management.key`` a key is generated into the auth dir (0600), shown
by ``python -m router management-key``, and taken by the router; a configured key wins."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from suite.config import parse_config
from suite.management_key import ensure_key, key_path, stored_key, with_stored_key
from tests.router.auth._support import ROOT, raw_config, start_router_process, wait_for

CONFIGURED = "configured-key-0123456789abcdefghij"


def _config(auth: Path, key: str = ""):
    return parse_config(raw_config({}, {"dir": str(auth)}, management={"key": key}), environ={})


def test_a_key_is_generated_once_private_and_the_configured_one_wins(tmp_path: Path) -> None:
    cfg = _config(tmp_path / "auth")
    assert stored_key(cfg) == "" and with_stored_key(cfg).management.key == ""
    key, origin = ensure_key(cfg)
    assert origin == "generated" and len(key) >= 40
    path = key_path(cfg)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["management.key"]  # no temp left
    assert ensure_key(cfg) == (key, "file")  # the same key ever after
    assert with_stored_key(cfg).management.key == key
    configured = _config(tmp_path / "auth", CONFIGURED)
    assert ensure_key(configured) == (CONFIGURED, "config")
    assert with_stored_key(configured).management.key == CONFIGURED


def _cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPROXY_")}
    return subprocess.run(
        [sys.executable, "-m", "router", "management-key", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )


def test_the_command_shows_the_key_and_makes_one_when_there_is_none(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(raw_config({}, {"dir": str(tmp_path / "auth")}, management={"key": ""}))
    )
    first = _cli(path)
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert (tmp_path / "auth" / "management.key").read_text().strip() == key
    assert "generated now" in first.stderr
    again = _cli(path)
    assert again.stdout.strip() == key and "generated at first start" in again.stderr
    path.write_text(
        yaml.safe_dump(
            raw_config({}, {"dir": str(tmp_path / "auth")}, management={"key": CONFIGURED})
        )
    )
    assert _cli(path).stdout.strip() == CONFIGURED


async def test_the_router_takes_the_generated_key_at_start_and_reload(tmp_path: Path) -> None:
    auth = tmp_path / "auth"
    cfg = raw_config({}, {"dir": str(auth)}, management={"key": ""})
    router = await start_router_process(tmp_path, cfg)
    url = f"{router.url}/v1/auth/credentials"
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            # No key anywhere: the management API is off.
            assert (await http.get(url, headers={"X-Management-Key": "x" * 30})).status_code == 403
            key, origin = ensure_key(_config(auth))
            assert origin == "generated"
            router.proc.send_signal(signal.SIGHUP)  # read again at reload

            async def taken() -> bool:
                return (await http.get(url, headers={"X-Management-Key": key})).status_code == 200

            await wait_for(taken, 10, "the generated key after SIGHUP")
    finally:
        assert await router.stop() == 0
    # At start, straight away; and a configured key wins over the file.
    router = await start_router_process(tmp_path, cfg, name="second")
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            assert (
                await http.get(
                    f"{router.url}/v1/auth/credentials", headers={"X-Management-Key": key}
                )
            ).status_code == 200
    finally:
        assert await router.stop() == 0
    cfg["management"] = {"key": CONFIGURED}
    router = await start_router_process(tmp_path, cfg, name="third")
    try:
        async with httpx.AsyncClient(base_url=router.url, timeout=5) as http:
            creds = "/v1/auth/credentials"
            assert (await http.get(creds, headers={"X-Management-Key": key})).status_code == 401
            assert (
                await http.get(creds, headers={"X-Management-Key": CONFIGURED})
            ).status_code == 200
    finally:
        assert await router.stop() == 0
