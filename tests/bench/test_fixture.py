"""The grown Claude Code session the bench sends: valid, about 500 KB, tool calls paired."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench._fixture import FIXTURE, GROWN_BYTES, grow, load_turn, tool_pairs

pytestmark = pytest.mark.skipif(not FIXTURE.exists(), reason=f"no capture at {FIXTURE}")


def test_grown_body_is_a_valid_messages_request_of_about_500_kb() -> None:
    turn = load_turn()
    grown = grow(turn.body)
    raw = orjson.dumps(grown)
    assert GROWN_BYTES - 20_000 <= len(raw) <= GROWN_BYTES
    again = orjson.loads(raw)  # it is JSON, and it survives a round trip unchanged
    assert again == grown
    # the capture is kept whole: same prefix, same system, tools and options
    assert again["messages"][: len(turn.body["messages"])] == turn.body["messages"]
    assert {k: v for k, v in again.items() if k != "messages"} == {
        k: v for k, v in turn.body.items() if k != "messages"
    }
    matched, problems = tool_pairs(again)
    assert problems == []
    appended = (len(again["messages"]) - len(turn.body["messages"])) // 2
    assert appended >= 40 and matched == appended + tool_pairs(turn.body)[0]
    assert again["messages"][-1]["role"] == "user"
    assert orjson.dumps(grow(load_turn().body)) == raw  # deterministic


def test_tool_pairs_sees_an_unanswered_call() -> None:
    grown = grow(load_turn().body)
    broken = orjson.loads(orjson.dumps(grown))
    broken["messages"][-1]["content"][0]["tool_use_id"] = "toolu_nobody"
    assert tool_pairs(broken)[1]


def test_a_missing_capture_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "turn2-request.json"
    with pytest.raises(SystemExit, match="capture is missing: .*turn2-request.json"):
        load_turn(missing)
