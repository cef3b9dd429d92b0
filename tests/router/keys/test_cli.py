"""``python -m router keys add|list|show|revoke``, run as a user runs it, beside a router
on the same store: ``add`` prints the key once and the router takes it within a second;
``list`` and ``show`` never print it; ``revoke`` shuts it out; mistakes exit 1 with a
line that says what is wrong.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import yaml

from ._support import CONFIG_KEY, file_auth, router_config, upstreams

ROOT = Path(__file__).resolve().parents[3]


async def _cli(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        "keys",
        "--config",
        str(config),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "server": {"api_keys": [CONFIG_KEY]},
        "auth": file_auth(tmp_path),
        "providers": {},
        "models": {"routing": []},
    }
    path.write_text(yaml.safe_dump(data))
    return path


async def _status(http: aiohttp.ClientSession, url: str, key: str) -> int:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"Authorization": f"Bearer {key}"}
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as resp:
        await resp.read()
        return resp.status


async def _within(http, url: str, key: str, status: int, seconds: float = 2.0) -> float:
    started = time.monotonic()
    while (got := await _status(http, url, key)) != status:
        assert time.monotonic() - started < seconds, f"still {got}, not {status}"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_add_list_show_revoke_beside_a_running_router(start_router, tmp_path) -> None:
    config = _config_file(tmp_path)
    async with upstreams() as ups:
        router = await start_router(router_config(ups, file_auth(tmp_path)))
        code, out, err = await _cli(
            config, "add", "alice", "--models", "gpt-*", "--rpm", "50", "--expires", "30d"
        )
        assert code == 0, err
        (secret,) = [
            line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("key: ")
        ]
        assert secret.startswith("cpa-") and "shown once" in out
        async with aiohttp.ClientSession() as http:
            taken = await _within(http, router.url, secret, 200)

            code, listed, _ = await _cli(config, "list")
            assert code == 0
            rows = [line.split() for line in listed.splitlines()[1:]]
            assert [r[1] for r in rows][1:] == ["alice"] and rows[0][0].startswith("config:")
            assert rows[1][2] == secret[:8] and rows[1][3] == "active" and rows[1][6] == "50"
            code, as_json, _ = await _cli(config, "list", "--json")
            assert [k["name"] for k in json.loads(as_json)["keys"]][1:] == ["alice"]
            code, shown, _ = await _cli(config, "show", "alice", "--json")
            view = json.loads(shown)
            assert view["models"] == ["gpt-*"] and view["requests_per_minute"] == 50
            for text in (listed, as_json, shown):
                assert secret not in text and secret[8:] not in text and CONFIG_KEY not in text

            code, out, _ = await _cli(config, "revoke", view["id"])
            assert code == 0 and "revoked key 'alice'" in out
            refused = await _within(http, router.url, secret, 401)
            code, shown, _ = await _cli(config, "show", "alice")
            assert "revoked" in shown
        print(f"the router took the new key in {taken:.2f} s, the revocation in {refused:.2f} s")
        assert taken < 1.0 and refused < 1.0


async def test_mistakes_exit_1_and_say_what_is_wrong(tmp_path) -> None:
    config = _config_file(tmp_path)
    assert (await _cli(config, "add", "bob"))[0] == 0
    cases = [
        (("add", "bob"), "a key named 'bob' exists already"),
        (("add", "carol", "--rpm", "0"), "requests_per_minute"),
        (("add", "carol", "--expires", "someday"), "expires_at"),
        (("add", "has space"), "name"),
        (("show", "nobody"), "no key with id or name 'nobody'"),
        (("revoke", "nobody"), "no key with id or name 'nobody'"),
    ]
    for args, words in cases:
        code, out, err = await _cli(config, *args)
        assert code == 1 and words in err, (args, out, err)
        assert "Traceback" not in err
    code, listed, _ = await _cli(config, "list")
    assert [line.split()[1] for line in listed.splitlines()[1:]][1:] == ["bob"]
