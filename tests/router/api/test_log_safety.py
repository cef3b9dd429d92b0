"""What a client or an upstream puts into the router's logs cannot stall it or leak a key.

* Pathological model names and paths (a 120 KB ``eyJeyJ…``, ``sk-`` and a megabyte
  of dashes, ``Bearer``/``?key=`` and a megabyte, a megabyte-long error text) go
  through a real router while ``/healthz`` must keep answering within 100 ms, and
  every access line stays short.
* An upstream that answers 401 by quoting the key it was sent: the key reaches
  neither the client (through the official SDKs), nor the log, nor the usage
  database.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from google.genai import errors as genai_errors

from router.auth import AuthRecord, LiveAuth
from router.observability import OBSERVER, client_key_id
from suite.config import UsageConfig
from suite.logging import CLIENT_TEXT_LIMIT, ERROR_TEXT_LIMIT, access_log, redact
from tests.conftest import HealthWatch, build_config, production_logging
from tests.fakes import FakeOpenAI, MisbehavingUpstream, Misbehaviour
from tests.fakes.sdk import sdk_driver

CLIENT_KEY = "client-key-log-safety-0001"
HUGE = 1_000_000
ATTACKS = {
    "eyJ x 40000 (120 KB)": "eyJ" * 40_000,
    "sk- and 200 KB of dashes": "sk-" + "-" * 200_000,
    "Bearer and 1 MB": "Bearer " + "a" * HUGE,
    "?key= and 1 MB": "?key=" + "k" * HUGE,
    "eyJ x 333333 (a 1 MB error text)": "eyJ" * (HUGE // 3),
}


async def _probes(watch: HealthWatch, count: int, within: float = 10.0) -> None:
    """Wait (bounded) until ``count`` health probes have run: the watch covers the attack."""
    deadline = time.monotonic() + within
    while watch.count < count and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _access_lines(out: str) -> list[dict[str, object]]:
    """This test's access lines (its client key's id) in ``out``."""
    mine = client_key_id(CLIENT_KEY)
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    return [x for x in lines if x.get("event") == "request" and x.get("client") == mine]


def _attack(url: str, watch: HealthWatch) -> list[tuple[str, int, int, float]]:
    """Each attack as one request, from this thread (the router's loop only serves):
    ``(name, status, response size, worst /healthz so far)``."""
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    out = []
    with httpx.Client(timeout=60) as http:
        for name, model in ATTACKS.items():
            body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
            resp = http.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            out.append((name, resp.status_code, len(resp.content), watch.worst))
        long_path = "/v1/" + "eyJ" * 2_600  # near aiohttp's 8 KB request-line bound
        resp = http.post(f"{url}{long_path}", json={}, headers=headers)
        out.append(("an 8 KB path", resp.status_code, len(resp.content), watch.worst))
    return out


async def test_pathological_client_text_never_stalls_the_router(start_router, capsys) -> None:
    async with FakeOpenAI() as fake:
        cfg = build_config(
            {"up": {"kind": "openai-compatible", "base_url": fake.base_url, "api_keys": ["k"]}},
            # The shipped config.yaml's ".*-webai$": under re.search its cost grows with
            # the square of the name, so a long name must never reach a rule.
            [
                {"pattern": "^gpt-", "providers": ["up"]},
                {"pattern": ".*-webai$", "providers": ["up"]},
            ],
            api_keys=[CLIENT_KEY],
            server={"max_body_bytes": 8 * HUGE},
        )
        r = await start_router(cfg)
        access_log.flush()  # lines earlier tests left in the batch
        capsys.readouterr()
        with HealthWatch(r.url) as watch:
            await _probes(watch, 1)
            results = await asyncio.to_thread(_attack, r.url, watch)
            await _probes(watch, 3)
        access_log.flush()
        for name, status, size, worst in results:
            assert worst < 0.1, f"{name}: /healthz took {worst * 1000:.0f} ms"
            # A model name past MAX_MODEL_CHARS is refused before any rule is searched;
            # the path attack names no model and finds no route.
            assert status == (400 if name in ATTACKS else 404), name
            # The client is told which model without its megabyte echoed back; an error
            # message is at most 4 KB.
            assert size < (1000 if name in ATTACKS else 4096 + 200), name
        watch.assert_fast(0.1)
        lines = _access_lines(capsys.readouterr().out)
        assert len(lines) == len(ATTACKS) + 1
        for line in lines:
            assert len(json.dumps(line)) < 2 * (CLIENT_TEXT_LIMIT + ERROR_TEXT_LIMIT)
            for field in ("model", "path"):
                value = line.get(field)
                assert value is None or len(str(value)) <= CLIENT_TEXT_LIMIT
            assert len(str(line["error"])) <= ERROR_TEXT_LIMIT
        assert (
            lines[0]["model"].startswith("eyJeyJ") and "…[cut, 120000 chars]" in lines[0]["model"]
        )
        assert lines[-1]["path"].startswith("/v1/eyJ")


# (client API, model, stream, provider kind): every client format, same-format and
# translated, stream and not.
CASES = [
    ("chat", "m-chat", False, "openai-compatible"),
    ("chat", "m-chat-stream", True, "openai-compatible"),
    ("responses", "m-responses", False, "openai-compatible"),
    ("anthropic", "m-anthropic", False, "anthropic"),
    ("anthropic", "m-anthropic-to-openai", True, "openai-compatible"),
    ("gemini", "m-gemini", False, "gemini"),
]
_SDK_ERRORS = (openai.APIStatusError, anthropic.APIStatusError, genai_errors.APIError)


def _upstream_key(model: str) -> str:
    # No tell-tale prefix (sk-, AIza…): only masking by value can catch it.
    return f"upstream-{model}-c0ffee42"


def _sdk_error_text(exc: BaseException) -> str:
    parts = [str(exc), repr(getattr(exc, "body", None)), repr(getattr(exc, "details", None))]
    text = getattr(getattr(exc, "response", None), "text", None)
    if isinstance(text, str):  # the raw body (httpx responses; genai's is a method)
        parts.append(text)
    return "\n".join(parts)


def _usage_text(path: Path) -> str:
    with sqlite3.connect(path) as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [row for t in tables for row in db.execute(f"SELECT * FROM {t}")]  # noqa: S608
    assert rows, "no usage records were written"
    return repr(rows)


async def _ask_every_sdk(url: str, prefix: str = "") -> list[str]:
    """Each case through its official SDK (in a loop of its own, off the router's):
    what the SDK's error told the caller."""
    told = []
    for api, model, stream, _ in CASES:
        base = url + ("/v1" if api in ("chat", "responses") else "")
        driver = sdk_driver(api, base, CLIENT_KEY, model=prefix + model)
        try:
            with pytest.raises(_SDK_ERRORS) as caught:
                await driver.ask(stream=stream)
        finally:
            await driver.aclose()
        told.append(_sdk_error_text(caught.value))
    return told


async def test_an_upstream_quoting_its_key_leaks_it_nowhere(
    start_router, capfd, tmp_path: Path
) -> None:
    async with MisbehavingUpstream() as fake:
        providers, routing = {}, []
        # The warm-up round ("w-" models, providers of their own: a 401 rests a credential)
        # takes each SDK's first-call work (lazy imports, schema building, which hold
        # the GIL this process's router shares) out of the watched round.
        for _, model, _, kind in [*CASES, *[(a, "w-" + m, s, k) for a, m, s, k in CASES]]:
            suffix = "/v1" if kind == "openai-compatible" else ""
            providers[model] = {
                "kind": kind,
                "base_url": fake.url(Misbehaviour.ECHO_KEY, suffix),
                "api_keys": [_upstream_key(model)],
            }
            routing.append({"pattern": f"^{model}$", "providers": [model]})
        cfg = build_config(providers, routing, api_keys=[CLIENT_KEY])
        usage = tmp_path / "usage.sqlite3"
        r = await start_router(replace(cfg, usage=UsageConfig(path=usage)))
        await asyncio.to_thread(asyncio.run, _ask_every_sdk(r.url, "w-"))
        access_log.flush()
        with production_logging(), HealthWatch(r.url) as watch:
            await _probes(watch, 1)
            told = await asyncio.to_thread(asyncio.run, _ask_every_sdk(r.url))
            access_log.flush()
            await r.app[OBSERVER].usage.flush()
            await _probes(watch, 3)
        watch.assert_fast(0.1)

        # The upstream did quote each key it was sent: there was something to leak.
        sent = {
            rec.headers.get("x-api-key")
            or rec.headers.get("x-goog-api-key")
            or rec.headers.get("Authorization", "")[7:]
            for rec in fake.requests
        }
        assert {_upstream_key(m) for _, m, _, _ in CASES} <= sent
        assert fake.served[Misbehaviour.ECHO_KEY] == 2 * len(CASES)

        out, err = capfd.readouterr()
        print(out[-2000:])  # hand some back to pytest's report
        database = _usage_text(usage)
        for (_, model, _, _), text in zip(CASES, told, strict=True):
            key = _upstream_key(model)
            assert "401" in text or "502" in text or "upstream" in text, text
            assert key not in text, f"{model}: the client was told the upstream key"
        for key in sent:
            assert key not in out and key not in err, f"{key}: in the log"
            assert key not in database, f"{key}: in the usage database"
        assert "Incorrect API key provided: [redacted]" in out


def test_stored_credentials_are_masked_from_load_through_refresh() -> None:
    """The tokens and cookie of a stored credential are known secrets once it is loaded;
    after a refresh the new ones are, and the previous generation still is."""
    first = {"access_token": "at-first-5f1d2c3b4a", "refresh_token": "rt-first-9e8d7c6b5a"}
    record = AuthRecord("claude-mask@example.com", "claude", first)
    live = LiveAuth(None, record)  # type: ignore[arg-type]  # no refresh happens here
    line = "upstream said: token at-first-5f1d2c3b4a is bad (refresh rt-first-9e8d7c6b5a)"
    assert redact(line) == "upstream said: token [redacted] is bad (refresh [redacted])"
    live.update(
        record.with_data(access_token="at-second-0a1b2c3d4e", client_cookie="ck-77aa88bb99")
    )
    masked = redact("at-second-0a1b2c3d4e at-first-5f1d2c3b4a ck-77aa88bb99 rt-first-9e8d7c6b5a")
    assert masked == "[redacted] [redacted] [redacted] [redacted]"
