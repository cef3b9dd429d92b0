"""One failed request, followed from the client's X-Request-Id to the attempts that failed."""

from __future__ import annotations

import json

import httpx
import structlog

from suite.logging import access_log
from tests.conftest import build_config
from tests.fakes import Fail, FakeAnthropic

from ._support import MGMT, with_observability

KEY = "sk-client-trace"
BODY = {"model": "claude-t", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


async def test_request_id_names_every_failed_attempt(start_router, tmp_path, capsys) -> None:
    async with FakeAnthropic() as one, FakeAnthropic() as two:
        cfg = build_config(
            {
                "primary": {
                    "kind": "anthropic",
                    "base_url": one.base_url,
                    "api_keys": ["k-primary"],
                },
                "secondary": {
                    "kind": "anthropic",
                    "base_url": two.base_url,
                    "api_keys": ["k-second"],
                },
            },
            [{"pattern": "^claude-", "providers": ["primary", "secondary"]}],
            api_keys=[KEY],
        )
        r = await start_router(with_observability(cfg, tmp_path))
        one.enqueue(Fail(500))
        two.enqueue(Fail(429, retry_after=30))
        capsys.readouterr()
        with structlog.testing.capture_logs() as logs:
            async with httpx.AsyncClient() as http:
                resp = await http.post(
                    f"{r.url}/v1/messages", json=BODY, headers={"x-api-key": KEY}
                )
                access_log.flush()
                status = (await http.get(f"{r.url}/status.json", headers=MGMT)).json()
        assert resp.status_code == 429
        rid = resp.headers["X-Request-Id"]

        attempts = [e for e in logs if e["event"] == "upstream attempt failed"]
        assert [(e["request_id"], e["provider"], e["status"]) for e in attempts] == [
            (rid, "primary", 500),
            (rid, "secondary", 429),
        ]
        assert attempts[0]["credential"].startswith("primary/key1-")
        assert attempts[1]["credential"].startswith("secondary/key1-")
        cooling = [e for e in logs if e["event"] == "credential cooling down"]
        assert [(e["request_id"], e["credential"]) for e in cooling] == [
            (rid, attempts[1]["credential"])
        ]

        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
        (line,) = [x for x in lines if x.get("request_id") == rid]
        assert line["event"] == "request" and line["level"] == "warning"
        assert line["status"] == 429 and line["attempts"] == 2
        assert line["provider"] == "secondary" and line["credential"] == attempts[1]["credential"]
        assert line["client"].startswith("config:") and KEY not in json.dumps(line)
        assert "rate limit" in line["error"] or "cooling" in line["error"]

        # The status page's "last errors" carry the same id.
        (err,) = [e for e in status["errors"] if e["request_id"] == rid]
        assert (err["status"], err["provider"], err["credential"]) == (
            429,
            "secondary",
            line["credential"],
        )
