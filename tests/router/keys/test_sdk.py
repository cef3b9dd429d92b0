"""Each answer of a key's policy, as the official SDKs see it (openai Chat and Responses,
anthropic, google-genai): allowed; a model not allowed (403); requests per minute
reached (429 with Retry-After); expired and revoked (401); a day's tokens and a
month's budget used up (429 with Retry-After). Every refusal is in the client's own
error shape and comes before any upstream is called.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors

from router.keys import CLIENT_KEYS
from tests.fakes.sdk import sdk_driver

from ._support import CONFIG_KEY, MODELS, file_auth, make_key, router_config, upstreams

APIS = ("chat", "responses", "anthropic", "gemini")


def _driver(api: str, url: str, key: str, model: str | None = None) -> Any:
    base = f"{url}/v1" if api in ("chat", "responses") else url
    return sdk_driver(api, base, key, model=model or MODELS[api])


async def _ask(api: str, url: str, key: str, model: str | None = None, stream: bool = False):
    driver = _driver(api, url, key, model)
    try:
        return await driver.ask(stream=stream)
    finally:
        await driver.aclose()


async def _refused(api: str, url: str, key: str, model: str | None = None):
    """``(status, headers, error body)`` of the SDK's exception for a refused request."""
    try:
        await _ask(api, url, key, model)
    except (openai.APIStatusError, anthropic.APIStatusError) as exc:
        return exc.status_code, exc.response.headers, exc.response.json()
    except genai_errors.APIError as exc:
        headers = getattr(exc.response, "headers", {})
        return exc.code, headers, exc.details
    pytest.fail(f"{api}: the request was served")


# What each format calls a refusal of each status (router/formats/_errors.py).
_WORDS = {
    403: {
        "chat": "permission_denied",
        "anthropic": "permission_error",
        "gemini": "PERMISSION_DENIED",
    },
    429: {
        "chat": "rate_limit_exceeded",
        "anthropic": "rate_limit_error",
        "gemini": "RESOURCE_EXHAUSTED",
    },
    401: {
        "chat": "invalid_api_key",
        "anthropic": "authentication_error",
        "gemini": "UNAUTHENTICATED",
    },
}


def _check_shape(api: str, status: int, body: Any, words: str) -> None:
    """The body is the format's own error, with its word for ``status`` and our message."""
    if api in ("chat", "responses"):
        err = body["error"]
        assert err["code"] == _WORDS[status]["chat"], body
    elif api == "anthropic":
        assert body["type"] == "error", body
        err = body["error"]
        assert err["type"] == _WORDS[status]["anthropic"], body
    else:
        err = body["error"]
        assert (err["code"], err["status"]) == (status, _WORDS[status]["gemini"]), body
    assert words in err["message"], body


@pytest.fixture
async def served(start_router, tmp_path):
    async with upstreams() as ups:
        router = await start_router(router_config(ups, file_auth(tmp_path)))
        yield router, ups


@pytest.mark.parametrize("api", APIS)
async def test_an_allowed_request_is_served_and_named_in_usage(served, api: str) -> None:
    router, ups = served
    _, secret = await make_key(router.app, "alice", models=["gpt-*", "claude-*", "gemini-*"])
    text, usage = await _ask(api, router.url, secret, stream=True)
    assert text == "hello from upstream" and usage == (9, 3)
    assert ups.calls() == 1
    text, _ = await _ask(api, router.url, CONFIG_KEY)  # server.api_keys: still unlimited
    assert text == "hello from upstream"


@pytest.mark.parametrize("api", APIS)
async def test_a_model_not_allowed_is_403_before_any_upstream(served, api: str) -> None:
    router, ups = served
    _, secret = await make_key(router.app, "bob", models=["other-*", "gpt-4o-mini"])
    status, _, body = await _refused(api, router.url, secret)
    assert status == 403
    _check_shape(api, 403, body, f"may not use model '{MODELS[api]}'")
    assert ups.calls() == 0


@pytest.mark.parametrize("api", APIS)
async def test_requests_per_minute_reached_is_429_with_retry_after(served, api: str) -> None:
    router, ups = served
    _, secret = await make_key(router.app, "carol", requests_per_minute=2)
    for _ in range(2):
        await _ask(api, router.url, secret)
    status, headers, body = await _refused(api, router.url, secret)
    assert status == 429
    _check_shape(api, 429, body, "limited to 2 requests per minute")
    assert 1 <= int(headers["retry-after"]) <= 60
    assert ups.calls() == 2


@pytest.mark.parametrize("api", APIS)
async def test_an_expired_key_is_401(served, api: str) -> None:
    router, ups = served
    key, secret = await make_key(router.app, "dave", expires_at="2h")
    await _ask(api, router.url, secret)
    await router.app[CLIENT_KEYS].update(key.id, {"expires_at": time.time() - 1})
    status, _, body = await _refused(api, router.url, secret)
    assert status == 401
    _check_shape(api, 401, body, "expired on")
    assert ups.calls() == 1


@pytest.mark.parametrize("api", APIS)
async def test_a_revoked_key_is_401(served, api: str) -> None:
    router, ups = served
    key, secret = await make_key(router.app, "erin")
    await _ask(api, router.url, secret)
    await router.app[CLIENT_KEYS].revoke(key.name)
    status, _, body = await _refused(api, router.url, secret)
    assert status == 401
    _check_shape(api, 401, body, "was revoked")
    assert secret not in str(body) and ups.calls() == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("limit", "words"),
    [("tokens_per_day", "tokens for today"), ("monthly_token_budget", "monthly budget")],
)
async def test_a_token_limit_used_up_is_429_with_retry_after(
    served, api: str, limit: str, words: str
) -> None:
    """Each answer uses 12 tokens: a limit of 20 lets two requests start, not a third."""
    router, ups = served
    _, secret = await make_key(router.app, "frank", **{limit: 20})
    await _ask(api, router.url, secret)  # 12 of 20
    await _ask(api, router.url, secret)  # started under the limit: served whole (24 of 20)
    status, headers, body = await _refused(api, router.url, secret)
    assert status == 429
    _check_shape(api, 429, body, words)
    most = 86400 if limit == "tokens_per_day" else 31 * 86400
    assert 1 <= int(headers["retry-after"]) <= most
    assert ups.calls() == 2
