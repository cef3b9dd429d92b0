"""The nesting check: the walk and the encode it hands over to agree at every depth."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.api import _depth
from router.api._depth import MAX_DEPTH, check_depth
from router.errors import BadRequest


def _nest(levels: int) -> Any:
    """Objects and arrays in turn, ``levels`` deep."""
    value: Any = 1
    for i in range(levels):
        value = {"a": value} if i % 2 else [value]
    return value


def _body(levels: int) -> dict[str, Any]:
    """A body ``levels`` deep (itself the first), padded past the small-body shortcut."""
    return {"pad": "x" * 5000, "many": [{"k": [i]} for i in range(50)], "deep": _nest(levels - 1)}


@pytest.mark.parametrize("walked", [20_000, 3], ids=["walk", "encode-after-3"])
@pytest.mark.parametrize("levels", [2, 64, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 200])
def test_limit_holds_by_walk_and_by_encode(
    monkeypatch: pytest.MonkeyPatch, walked: int, levels: int
) -> None:
    monkeypatch.setattr(_depth, "_WALKED", walked)
    body = _body(levels)
    raw = orjson.dumps(body) if levels < 250 else b""
    if levels <= MAX_DEPTH:
        check_depth(body, raw)
        return
    with pytest.raises(BadRequest) as caught:
        check_depth(body, raw)
    assert caught.value.message.startswith("'deep") and "128 levels" in caught.value.message


def test_a_body_of_many_tiny_objects_is_not_walked_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the walk's budget the encode decides: a hostile body of a million objects must
    not cost a million steps of Python."""
    steps: list[int] = []
    real = _depth._fits
    monkeypatch.setattr(_depth, "_fits", lambda v, n: steps.append(n) or real(v, n))
    body = {"x": [{} for _ in range(1_000_000)]}
    check_depth(body, orjson.dumps(body))
    assert steps == [MAX_DEPTH]
