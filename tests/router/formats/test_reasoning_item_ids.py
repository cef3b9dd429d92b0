"""A Responses reasoning item id travels inside the signature only when it is a whole,
valid id: a trailing newline is not part of one."""

from __future__ import annotations

from router.formats._responses_items import pack_reasoning, unpack_reasoning


def test_only_a_whole_item_id_is_packed() -> None:
    assert pack_reasoning("rs_abc", "ENC") == "rs_abc.ENC"
    assert unpack_reasoning("rs_abc.ENC") == ("rs_abc", "ENC")
    assert pack_reasoning("rs_abc\n", "ENC") == "ENC"
    assert unpack_reasoning("rs_abc\n.ENC") == (None, "rs_abc\n.ENC")
