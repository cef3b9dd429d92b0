"""WireBody (data, bytes made once) and the passthrough's exact model edit (replace_model)."""

from __future__ import annotations

import orjson
import pytest

from router.formats import WireBody, first_model, replace_model


def _edit(raw: bytes, new: str) -> bytes | None:
    body = orjson.loads(raw)
    return replace_model(raw, body["model"], new, body)


# -- WireBody -------------------------------------------------------------------------------


def test_bytes_given_are_the_bytes_sent() -> None:
    raw = b'{ "model" : "m",  "x": [1, 2] }'
    body = WireBody(orjson.loads(raw), raw)
    assert body.encoded() is raw


def test_bytes_are_made_once_and_after_the_last_edit() -> None:
    body = WireBody({"model": "m", "n": 1})
    first = body.encoded()
    assert body.encoded() is first
    body.edit()["n"] = 2
    assert body.encoded_yet is False
    assert orjson.loads(body.encoded()) == {"model": "m", "n": 2}


def test_a_fork_edits_its_own_copy() -> None:
    """Each attempt gets a fork: one executor's changes never reach the next candidate."""
    data = {"model": "m", "system": [{"type": "text", "text": "s"}]}
    parent = WireBody(data)
    one, two = parent.fork(), parent.fork()
    one.edit()["system"] = [{"type": "text", "text": "billing"}, *data["system"]]
    assert parent.data is data and data["system"] == [{"type": "text", "text": "s"}]
    assert two.data is data
    assert orjson.loads(one.encoded())["system"][0]["text"] == "billing"
    assert orjson.loads(two.encoded()) == data


def test_bytes_a_fork_makes_unedited_serve_the_next_fork() -> None:
    parent = WireBody({"model": "m"})
    made = parent.fork().encoded()
    assert parent.encoded_yet and parent.fork().encoded() is made


def test_from_bytes_parses_only_when_asked() -> None:
    body = WireBody.from_bytes(b'{"a": 1}')
    assert body.encoded() == b'{"a": 1}'
    assert body.data == {"a": 1}
    body.edit()["a"] = 2
    assert body.encoded() == b'{"a":2}'


# -- replace_model: the exact edit ----------------------------------------------------------

_FIRST = (
    b'{\n  "model" :\t"claude-client",\n  "messages": [{"role":"user","content":"caf\\u00e9 \\/'
    b' \xc3\xa9 \\"model\\": \\"x\\""}],\n  "zz_unknown": {"model": {"type": "string"}},'
    b'  "tools": [{"name":"Task","input_schema":{"properties":{"model":{"enum":["a"]}}}}]\n}'
)


def test_model_first_every_other_byte_kept() -> None:
    out = _edit(_FIRST, "claude-upstream-2")
    assert out == _FIRST.replace(b'"claude-client"', b'"claude-upstream-2"')


def test_model_last_after_plain_values() -> None:
    raw = b'{"messages":[{"role":"user","content":"hi"}],"stream":true,  "model":   "a-b"  }\n'
    assert _edit(raw, "c") == raw.replace(b'"a-b"', b'"c"')


def test_without_the_parsed_body_only_the_first_key_is_found() -> None:
    """A body relayed as sent is not parsed: the model as its first key is still spliced,
    anywhere else the caller must parse it (the key order says where to look)."""
    first = b'{"model":"a-b","messages":[{"role":"user","content":"hi"}]}'
    assert replace_model(first, "a-b", "c") == first.replace(b'"a-b"', b'"c"')
    last = b'{"messages":[{"role":"user","content":"hi"}],"stream":true,"model":"a-b"}'
    assert replace_model(last, "a-b", "c") is None
    assert replace_model(last, "a-b", "c", orjson.loads(last)) == last.replace(b'"a-b"', b'"c"')
    assert replace_model(first, "other", "c") is None  # not the value the router read


def test_new_name_is_written_as_json() -> None:
    raw = b'{"model":"m","x":1}'
    out = _edit(raw, 'we"ird\\name')
    assert out is not None and orjson.loads(out) == {"model": 'we"ird\\name', "x": 1}


@pytest.mark.parametrize(
    "raw",
    [
        # model in the middle, objects after it: finding it would mean reading everything
        b'{"messages":[],"model":"m","tools":[{"model":"m"}]}',
        # the key or the value written with escapes
        b'{"mod\\u0065l":"m","x":1}',
        b'{"model":"\\u006d","x":1}',
        # the last "model" in the bytes is not a key
        b'{"a":[],"model":"m","b":"model"}',
    ],
)
def test_no_sure_span_means_none(raw: bytes) -> None:
    """The caller then serializes the parsed body: correct, only dearer."""
    assert _edit(raw, "new") is None


def test_a_key_ending_in_model_is_not_the_model() -> None:
    raw = b'{"x":[],"stream":true,"a\\"model":"m","model":"m"}'
    assert _edit(raw, "n") == b'{"x":[],"stream":true,"a\\"model":"m","model":"n"}'
    raw = b'{"x":[],"model":"m","a\\"model":"m"}'
    assert _edit(raw, "n") is None


def test_duplicate_model_keys_are_never_edited_into_disagreement() -> None:
    """JSON parsers keep the last of duplicate keys: the edit must not leave the routed name
    on one key and a different one elsewhere for an upstream that reads the first."""
    raw = b'{"model":"allowed","x":1,"model":"other"}'
    assert orjson.loads(raw)["model"] == "other"
    assert _edit(raw, "n") is None


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        (b'{"model":"claude-x","messages":[]}', "claude-x"),
        (b' {\n "model" :\t"caf\xc3\xa9", "x": 1}', "caf\u00e9"),
        (b'{"model":"a\\"b","x":1}', None),  # escaped: read the body
        (b'{"model":5}', None),
        (b'{"x":1,"model":"a"}', None),  # not the first key
        (b'{"model":"\xff"}', None),
        (b'{"model":"cut', None),
    ],
)
def test_first_model_reads_only_a_plain_first_key(raw: bytes, model: str | None) -> None:
    assert first_model(raw) == model
