"""Hostile input at every client and management endpoint: never a 5xx, and every error
in the format the client speaks.

One router runs in-process in front of four working fakes (Anthropic, OpenAI
Chat, OpenAI Responses, Gemini), so a body the router accepts really goes
upstream and back: valid bodies get a 200 (checked first, per endpoint and
upstream), broken ones a 4xx. Requests are written as raw bytes on a
loopback socket, because a client library would refuse to send most of
them: header values that are not UTF-8, bodies that are not JSON, ``NaN``,
lone surrogates, 1,000-level nests.

``make test`` runs 2,000 examples per endpoint; ``make fuzz`` 20,000
(``FUZZ_EXAMPLES``), in shards of at most 2,500 so that no single test runs
into the suite's per-test time limits. Every run is reproducible: one shard is
derandomized, several each get a fixed seed; no example database is kept.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from ._fuzz_bodies import (
    EMBED_MODELS,
    MODELS,
    SEEDS,
    as_bytes,
    bodies,
    header_values,
    query_values,
)
from ._fuzz_router import KEY, MANAGEMENT_KEY, SECRETS, Reply, Served

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
SHARDS = -(-EXAMPLES // 2500)
PER_SHARD = -(-EXAMPLES // SHARDS)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    s = Served(tmp_path_factory.mktemp("fuzz-auth"))
    try:
        s.run(s.start())
        yield s
    finally:
        s.run(s.close())
        s.loop.close()


# -- what an error looks like in each format ---------------------------------------------


def _openai_error(status: int, body: Any) -> None:
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["type"], str)


def _anthropic_error(status: int, body: Any) -> None:
    assert body["type"] == "error"
    assert isinstance(body["error"]["type"], str)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def _gemini_error(status: int, body: Any) -> None:
    err = body["error"]
    assert err["code"] == status
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(err["status"], str)


SHAPES = {"openai": _openai_error, "anthropic": _anthropic_error, "gemini": _gemini_error}


def _models_format(headers: list[tuple[bytes, bytes]], path: str) -> str:
    """``/v1/models`` serves three clients; which one is asking (as the router decides)."""
    names = {n.lower() for n, _ in headers}
    path = urllib.parse.unquote(path.split("?", 1)[0])
    if ":" in path or b"x-goog-api-client" in names or b"x-goog-api-key" in names:
        return "gemini"
    return "anthropic" if b"anthropic-version" in names else "openai"


def check(reply: Reply, fmt: str, sent: bytes) -> None:
    """The promises: no 5xx, an X-Request-Id, errors in the client's format, no secret."""
    status = reply.status
    if status == 502 and reply.body.startswith(b'{"profile":'):
        # /v1/auth/aistudio/login's own answer while no aistudio service is connected:
        # the service it relays to is absent (docs/aistudio.md), not a router failure.
        assert b"no aistudio service is connected" in reply.body, reply.body
        return
    assert status < 500, (status, reply.body[:500], sent[:300])
    for secret in SECRETS:
        assert secret.encode() not in reply.body, (secret, reply.body[:300])
    if "x-request-id" not in reply.headers:  # refused by the HTTP parser, before the app
        assert status == 400, (status, reply.body[:300])
        return
    if status >= 400:
        assert reply.headers.get("content-type", "").startswith("application/json"), reply.headers
        SHAPES[fmt](status, orjson.loads(reply.body))


# -- endpoints ---------------------------------------------------------------------------

_GOOD_KEYS = [
    [(b"Authorization", b"Bearer " + KEY.encode())],
    [(b"x-api-key", KEY.encode())],
    [(b"x-goog-api-key", KEY.encode())],
]
_BAD_KEYS = [
    [(b"x-api-key", b"wrong")],
    [(b"Authorization", b"Basic " + KEY.encode())],
    [(b"x-api-key", b"sk-\xff\xfe-not-utf8")],
    [(b"Authorization", b"Bearer \xe9t\xe9")],
    [],
]
#: Mostly a right key (so the body is what gets tested), in each place clients put it.
_CLIENT_KEY_STYLES = st.sampled_from(_GOOD_KEYS * 7 + _BAD_KEYS)
_MANAGEMENT_KEY = st.sampled_from(
    [
        [(b"Authorization", b"Bearer " + MANAGEMENT_KEY.encode())],
        [(b"X-Management-Key", MANAGEMENT_KEY.encode())],
    ]
)
_HEADER_NAMES = st.sampled_from(
    [
        b"Accept",
        b"Accept-Encoding",
        b"anthropic-version",
        b"anthropic-beta",
        b"x-goog-api-client",
        b"openai-organization",
        b"openai-project",
        b"User-Agent",
        b"X-Request-Id",
        b"X-Stainless-Lang",
        b"x-api-key",
        b"Cookie",
        b"X-Forwarded-For",
        b"Origin",
        b"x",
        b"X-" + b"a" * 300,
        b"Content-Type",  # a second one: refused by the HTTP parser
    ]
)
#: Usually none (so the request reaches the handler), else one or two odd ones.
_EXTRA_HEADERS: st.SearchStrategy[list[tuple[bytes, bytes]]] = st.one_of(
    st.just([]),
    st.just([]),
    st.lists(st.tuples(_HEADER_NAMES, header_values), max_size=2, unique_by=lambda h: h[0].lower()),
)
_JSON_TYPE = [(b"Content-Type", b"application/json")]


def _quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")


@dataclass(frozen=True)
class Endpoint:
    """One route (or family of routes) and how to make requests for it."""

    name: str
    fmt: str
    requests: st.SearchStrategy[tuple[str, str, list[tuple[bytes, bytes]], bytes]]


def _client(
    fmt: str, methods: st.SearchStrategy[str], targets: st.SearchStrategy[str], body: Any
) -> Any:
    return st.builds(
        lambda m, t, k, h, b: (m, t, _JSON_TYPE + k + h, b),
        methods,
        targets,
        _CLIENT_KEY_STYLES,
        _EXTRA_HEADERS,
        body,
    )


def _managed(methods: Any, targets: Any, body: Any) -> Any:
    return st.builds(
        lambda m, t, k, h, b: (m, t, _JSON_TYPE + k + h, b),
        methods,
        targets,
        _MANAGEMENT_KEY,
        _EXTRA_HEADERS,
        body,
    )


_POST = st.just("POST")
_GET = st.just("GET")
_MODEL = st.sampled_from(MODELS) | st.text(max_size=12)


def _gemini_target(
    action: str, query: st.SearchStrategy[str], models: tuple[str, ...] = MODELS
) -> Any:
    model = st.sampled_from(models) | st.text(max_size=12)
    return st.builds(lambda m, q: f"/v1beta/models/{_quoted(m)}:{action}{q}", model, query)


ENDPOINTS = [
    Endpoint(
        "chat", "openai", _client("openai", _POST, st.just("/v1/chat/completions"), bodies("chat"))
    ),
    Endpoint(
        "responses",
        "openai",
        _client("openai", _POST, st.just("/v1/responses"), bodies("responses")),
    ),
    Endpoint(
        "messages",
        "anthropic",
        _client(
            "anthropic",
            _POST,
            st.sampled_from(["/v1/messages", "/v1/messages?beta=true"]),
            bodies("messages"),
        ),
    ),
    Endpoint(
        "count_tokens",
        "anthropic",
        _client("anthropic", _POST, st.just("/v1/messages/count_tokens"), bodies("count_tokens")),
    ),
    Endpoint(
        "generateContent",
        "gemini",
        _client("gemini", _POST, _gemini_target("generateContent", st.just("")), bodies("gemini")),
    ),
    Endpoint(
        "streamGenerateContent",
        "gemini",
        _client(
            "gemini",
            _POST,
            _gemini_target("streamGenerateContent", st.sampled_from(["?alt=sse", "?alt=sse", ""])),
            bodies("gemini"),
        ),
    ),
    Endpoint(
        "countTokens",
        "gemini",
        _client(
            "gemini", _POST, _gemini_target("countTokens", st.just("")), bodies("gemini_count")
        ),
    ),
    Endpoint(
        "embeddings",
        "openai",
        _client("openai", _POST, st.just("/v1/embeddings"), bodies("embeddings")),
    ),
    Endpoint(
        "embedContent",
        "gemini",
        _client(
            "gemini",
            _POST,
            _gemini_target("embedContent", st.just(""), EMBED_MODELS),
            bodies("gemini_embed"),
        ),
    ),
    Endpoint(
        "batchEmbedContents",
        "gemini",
        _client(
            "gemini",
            _POST,
            _gemini_target("batchEmbedContents", st.just(""), EMBED_MODELS),
            bodies("gemini_batch_embed"),
        ),
    ),
    Endpoint(
        "models",
        "by-headers",
        _client(
            "openai",
            st.sampled_from(["GET", "GET", "GET", "POST", "DELETE"]),
            st.just("/v1/models") | _MODEL.map(lambda m: f"/v1/models/{_quoted(m)}"),
            st.just(b""),
        ),
    ),
    Endpoint(
        "v1beta_models",
        "gemini",
        _client(
            "gemini",
            st.sampled_from(["GET", "GET", "GET", "PUT"]),
            st.just("/v1beta/models") | _MODEL.map(lambda m: f"/v1beta/models/{_quoted(m)}"),
            st.just(b""),
        ),
    ),
    Endpoint(
        "credentials",
        "openai",
        _managed(
            st.sampled_from(["GET", "DELETE", "POST"]),
            st.just("/v1/auth/credentials")
            | st.builds(
                lambda n, a: f"/v1/auth/credentials/{_quoted(n)}{a}",
                st.sampled_from(["claude-a@b.c", "x", "..", "a\nb"]) | st.text(max_size=16),
                st.sampled_from(["", "/disable", "/enable"]),
            ),
            st.just(b""),
        ),
    ),
    Endpoint(
        "login",
        "openai",
        _managed(
            st.sampled_from(["POST", "GET"]),
            st.just("/v1/auth/login")
            | st.builds(
                lambda s, c: f"/v1/auth/login/{_quoted(s)}{c}",
                st.text(max_size=16),
                st.sampled_from(["", "/code"]),
            ),
            bodies("login") | bodies("code"),
        ),
    ),
    Endpoint("ctonew", "openai", _managed(_POST, st.just("/v1/auth/ctonew"), bodies("ctonew"))),
    Endpoint(
        "usage",
        "openai",
        _managed(
            _GET,
            st.builds(
                lambda q: "/v1/usage?" + urllib.parse.urlencode(q),
                st.dictionaries(
                    st.sampled_from(["from", "to", "group_by", "format"]) | st.text(max_size=5),
                    query_values
                    | st.sampled_from(["day,model", "provider", "csv", "json", "none"]),
                    max_size=4,
                ),
            ),
            st.just(b""),
        ),
    ),
    Endpoint(
        "status",
        "openai",
        _managed(
            st.sampled_from(["GET", "GET", "POST"]),
            st.sampled_from(
                [
                    "/status.json",
                    "/metrics",
                    "/status",
                    "/v1/auth/aistudio/services",
                    "/v1/auth/aistudio/login",
                ]
            ),
            bodies("none"),
        ),
    ),
]


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_no_input_makes_a_5xx(served: Served, endpoint: Endpoint, shard: int) -> None:
    @settings(
        max_examples=PER_SHARD,
        deadline=None,
        database=None,
        derandomize=SHARDS == 1,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=endpoint.requests)
    def fuzz(request: tuple[str, str, list[tuple[bytes, bytes]], bytes]) -> None:
        method, target, headers, body = request
        reply = served.run(served.send(method, target, headers, body))
        fmt = endpoint.fmt
        if fmt == "by-headers":
            fmt = _models_format(headers, target)
        check(reply, fmt, body)
        event(f"{reply.status}")

    if SHARDS > 1:
        fuzz = seed(shard)(fuzz)
    fuzz()


# -- the fakes really serve: a valid body gets a 200 --------------------------------------

_VALID = [
    (kind, path, model, stream)
    for kind, path in (
        ("chat", "/v1/chat/completions"),
        ("responses", "/v1/responses"),
        ("messages", "/v1/messages"),
        ("count_tokens", "/v1/messages/count_tokens"),
        ("gemini", "/v1beta/models/{m}:generateContent"),
        ("gemini", "/v1beta/models/{m}:streamGenerateContent?alt=sse"),
        ("gemini_count", "/v1beta/models/{m}:countTokens"),
    )
    for model in MODELS[:5]
    for stream in ((False, True) if kind in ("chat", "responses", "messages") else (False,))
] + [
    (kind, path, model, False)
    for kind, path in (
        ("embeddings", "/v1/embeddings"),
        ("gemini_embed", "/v1beta/models/{m}:embedContent"),
        ("gemini_batch_embed", "/v1beta/models/{m}:batchEmbedContents"),
    )
    for model in EMBED_MODELS[:2]
]


@pytest.mark.parametrize(("kind", "path", "model", "stream"), _VALID)
def test_every_seed_is_served(
    served: Served, kind: str, path: str, model: str, stream: bool
) -> None:
    """The seeds the fuzzer breaks are good requests, on every upstream: what the fuzz
    sees as a 4xx is the breakage, not a fake that refuses everything."""
    for good in SEEDS[kind]:
        body = dict(good)
        if "{m}" not in path:
            body["model"] = model
        if "requests" in body:  # a batch names the path's model in every request
            body["requests"] = [{**r, "model": f"models/{model}"} for r in body["requests"]]
        if stream:
            body["stream"] = True
        headers = [*_JSON_TYPE, (b"x-api-key", KEY.encode())]
        reply = served.run(served.send("POST", path.format(m=model), headers, as_bytes(body)))
        assert reply.status == 200, (reply.status, reply.body[:500])
        if stream or "stream" in path:
            assert b"data: " in reply.body
        else:
            orjson.loads(reply.body)
