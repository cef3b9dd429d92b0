"""Reading an Anthropic request: the blocks agents send most are read in place, and a
block of any other shape still fails naming its field, exactly as the general reader
would; tool results take their call's name wherever the call is."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from router.formats import CODECS, Format, ir

READ = CODECS[Format.ANTHROPIC].request_to_ir

BODY: dict[str, Any] = {
    "model": "claude",
    "max_tokens": 100,
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "list a"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {"dir": "a"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "x", "is_error": False}
            ],
        },
    ],
}


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    target: Any = body["messages"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def test_the_usual_blocks_are_read() -> None:
    req = READ(BODY)
    assert req.messages == (
        ir.Message(ir.Role.USER, (ir.Text("list a"),)),
        ir.Message(
            ir.Role.ASSISTANT,
            (ir.Text("Listing."), ir.ToolCall("toolu_1", "ls", '{"dir":"a"}')),
        ),
        ir.Message(ir.Role.USER, (ir.ToolResult("toolu_1", "ls", (ir.Text("x"),), False),)),
    )


@pytest.mark.parametrize(
    ("path", "value", "field", "message"),
    [
        # 1 == True and 0 == False in Python: a number is still not a boolean
        ((2, "content", 0, "is_error"), 1, "messages[2].content[0].is_error", "expected a boolean"),
        ((2, "content", 0, "is_error"), 0, "messages[2].content[0].is_error", "expected a boolean"),
        (
            (2, "content", 0, "tool_use_id"),
            7,
            "messages[2].content[0].tool_use_id",
            "expected a string",
        ),
        ((2, "content", 0, "content"), 7, "messages[2].content[0].content", "expected an array"),
        ((1, "content", 1, "id"), None, "messages[1].content[1].id", "required"),
        ((1, "content", 1, "name"), ["ls"], "messages[1].content[1].name", "expected a string"),
        ((1, "content", 0, "text"), 5, "messages[1].content[0].text", "expected a string"),
        ((1, "content", 0), "text", "messages[1].content[0]", "expected an object"),
        ((0, "role"), "system", "messages[0].role", "expected 'user' or 'assistant'"),
        ((0, "role"), ["user"], "messages[0].role", "expected a string"),
        ((0,), [], "messages[0]", "expected an object"),
    ],
)
def test_a_block_of_another_shape_names_its_field(
    path: tuple[Any, ...], value: Any, field: str, message: str
) -> None:
    with pytest.raises(ir.TranslationError) as info:
        READ(_with(path, value))
    assert (info.value.field, info.value.message) == (field, message)


def test_a_result_in_blocks_takes_the_general_reader() -> None:
    blocks = [
        {"type": "text", "text": "x"},
        {"type": "image", "source": {"type": "url", "url": "u.png"}},
    ]
    req = READ(_with((2, "content", 0, "content"), blocks))
    result = req.messages[2].content[0]
    assert result == ir.ToolResult(
        "toolu_1", "ls", (ir.Text("x"), ir.Image("image/png", url="u.png")), False
    )


def test_a_result_read_before_its_call_still_gets_the_calls_name() -> None:
    body = copy.deepcopy(BODY)
    body["messages"].insert(
        0,
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]},
    )
    req = READ(body)
    assert req.messages[0].content == (ir.ToolResult("toolu_1", "ls", (), False),)
    unknown = READ(_with((2, "content", 0, "tool_use_id"), "toolu_9"))
    assert unknown.messages[2].content == (ir.ToolResult("toolu_9", "", (ir.Text("x"),), False),)
