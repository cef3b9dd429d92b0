"""The access line keeps the scrubbed form of values that recur (model names, paths):
a secret learnt later must still be masked in them, and a long value is cut each time."""

from __future__ import annotations

import orjson

from suite.logging import CLIENT_TEXT_LIMIT, AccessLog
from suite.secrets import SECRETS


def _line(log: AccessLog, **fields: object) -> dict[str, object]:
    log.emit("info", "request", dict(fields))
    line = log._lines.pop()
    return dict(orjson.loads(line))


async def test_a_secret_registered_later_is_masked_in_a_value_seen_before() -> None:
    log = AccessLog()
    secret = "sk-live-0123456789abcdefghij"
    model = f"m-{secret}"[:40].replace("sk-", "zz-")  # not credential-shaped: kept as is
    assert _line(log, model=model)["model"] == model
    SECRETS.set("test-access-cache", [model[2:]])
    try:
        assert model[2:] not in str(_line(log, model=model)["model"])
    finally:
        SECRETS.discard("test-access-cache")
    assert _line(log, model=model)["model"] == model


async def test_values_are_scrubbed_and_cut_every_time() -> None:
    log = AccessLog()
    path = "/v1/messages?key=AIzaSyA0123456789abcdefghijklmnop"
    for _ in range(3):
        assert "AIza" not in str(_line(log, path=path)["path"])
    long = "x" * (CLIENT_TEXT_LIMIT * 3)
    for _ in range(2):
        cut = str(_line(log, model=long)["model"])
        assert len(cut) <= CLIENT_TEXT_LIMIT and "cut" in cut


async def test_the_cache_stays_bounded() -> None:
    log = AccessLog()
    for i in range(AccessLog._CACHED * 3):
        _line(log, path=f"/v1/models/model-{i:06d}")
    assert len(log._clipped) <= AccessLog._CACHED
