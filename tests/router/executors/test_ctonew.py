"""``ctonew`` through the SDKs: Clerk JWT, EngineLabs calls in order, the buffer socket."""

from __future__ import annotations

import base64
from pathlib import Path

import anthropic
import openai
import orjson
import pytest

from router.auth import FileStore
from router.executors._ctonew_wire import MAX_PROMPT_BYTES, FrameReader
from router.formats import ir
from tests.fakes.ctonew import CtoReply, FakeCtoNew
from tests.router.auth._support import (
    CLIENT_KEY,
    config,
    ctonew_record,
    provider_configs,
    wait_for,
    write_cliproxy_file,
)


async def _router(start_router, tmp: Path, cto: FakeCtoNew):
    cto.add_account("dev@example.com")
    write_cliproxy_file(tmp / "auth", ctonew_record(cto))
    cfg = config(provider_configs(cto=cto), {"dir": str(tmp / "auth")}, api_keys=[CLIENT_KEY])
    return await start_router(cfg)


@pytest.mark.parametrize("mode", ["delta", "snapshot"])
async def test_openai_sdk_plain_and_stream(start_router, tmp_path: Path, mode: str) -> None:
    async with FakeCtoNew() as cto:
        cto.reply = CtoReply(
            text="The answer is 42.", thinking="Let me think.", mode=mode, pieces=4
        )
        r = await _router(start_router, tmp_path, cto)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            plain = await client.chat.completions.create(
                model="gpt-5.4", messages=[{"role": "user", "content": "What is the answer?"}]
            )
            stream = await client.chat.completions.create(
                model="glm-5.1",
                messages=[
                    {"role": "system", "content": "Be exact."},
                    {"role": "user", "content": "Q1"},
                    {"role": "assistant", "content": "A1"},
                    {"role": "user", "content": "Q2 ünïcode"},
                ],
                stream=True,
            )
            parts = [c async for c in stream]
    assert plain.choices[0].message.content == "The answer is 42."
    text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert text == "The answer is 42."
    assert cto.preferred == ["gpt_5_4", "glm_5_1"]
    assert cto.prompts[0] == "What is the answer?"
    flat = cto.prompts[1]
    assert flat.index("Be exact.") < flat.index("Q1") < flat.index("A1") < flat.index("Q2 ünïcode")
    assert cto.lost_answers == 0  # the socket was open before the chat was posted


async def test_anthropic_sdk_gets_thinking_and_text(start_router, tmp_path: Path) -> None:
    async with FakeCtoNew() as cto:
        cto.reply = CtoReply(text="Done.", thinking="Pondering.", ping=True)
        r = await _router(start_router, tmp_path, cto)
        async with anthropic.AsyncAnthropic(
            base_url=r.url, api_key=CLIENT_KEY, max_retries=0
        ) as client:
            async with client.messages.stream(
                model="gemini-3-flash-preview",
                max_tokens=64,
                messages=[{"role": "user", "content": "hi"}],
            ) as s:
                final = await s.get_final_message()
    kinds = [b.type for b in final.content]
    assert kinds == ["thinking", "text"]
    assert final.content[0].thinking == "Pondering." and final.content[1].text == "Done."
    assert cto.pongs == 1


async def test_rotated_cookie_is_stored_before_use(start_router, tmp_path: Path) -> None:
    async with FakeCtoNew(rotate_every=1) as cto:
        r = await _router(start_router, tmp_path, cto)
        first_cookie = cto.live_cookie()
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.chat.completions.create(
                model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]
            )
        assert cto.is_signed_out(first_cookie)
        stored = await FileStore(tmp_path / "auth").get("ctonew-dev@example.com")
        assert stored is not None and stored.client_cookie == cto.live_cookie()


async def test_oversized_prompt_is_a_clear_413_and_quota_cools(
    start_router, tmp_path: Path
) -> None:
    async with FakeCtoNew() as cto:
        r = await _router(start_router, tmp_path, cto)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            with pytest.raises(openai.APIStatusError) as big:
                await client.chat.completions.create(
                    model="gpt-5.4",
                    messages=[{"role": "user", "content": "x" * (MAX_PROMPT_BYTES + 1)}],
                )
            cto.chat_failure = (403, "You have reached your daily usage limit")
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(
                    model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]
                )
            cto.chat_failure = None
            with pytest.raises(openai.RateLimitError):  # the account rests; nothing is sent
                await client.chat.completions.create(
                    model="gpt-5.4", messages=[{"role": "user", "content": "hi"}]
                )
    assert big.value.status_code == 413 and "20000 bytes" in big.value.message
    assert cto.prompts == []


async def test_unknown_model_names_the_offered_ones(start_router, tmp_path: Path) -> None:
    async with FakeCtoNew() as cto:
        r = await _router(start_router, tmp_path, cto)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            with pytest.raises(openai.NotFoundError) as err:
                await client.chat.completions.create(
                    model="gpt-4-nope", messages=[{"role": "user", "content": "hi"}]
                )
    assert "gpt_5_4" in err.value.message


def _frame(obj: dict) -> str:
    return orjson.dumps(obj).decode()


def test_frame_reader_ignores_idle_state_and_echo_and_tells_snapshots_from_deltas() -> None:
    reader = FrameReader(rid="r", model="m")
    events: list[ir.Event] = []
    idle = _frame({"type": "state", "state": {"inProgress": False}})
    for text in (
        _frame({"type": "history", "messages": []}),
        idle,
        _frame({"type": "state", "state": {"inProgress": True}}),
        _frame(
            {
                "type": "update",
                "buffer": _frame({"id": "u", "role": "user", "content": "hi"}) + "\n",
            }
        ),
        _frame(
            {
                "type": "update",
                "buffer": _frame({"id": "a", "type": "chat", "chat": {"content": "Hel"}}),
            }
        ),
        _frame(
            {
                "type": "update",
                "buffer": _frame({"id": "a", "type": "chat", "chat": {"content": "Hello"}}),
            }
        ),
        _frame(
            {
                "type": "update",
                "buffer": _frame({"id": "a", "type": "chat", "chat": {"content": "!"}}),
            }
        ),
    ):
        events += reader.feed(text)
    assert not reader.done
    events += reader.feed(idle)
    assert reader.done
    events += reader.finish(ir.Usage(1, 1))
    assert ir.aggregate(events).content == (ir.Text("Hello!"),)


async def test_prompt_is_base64_on_the_wire(start_router, tmp_path: Path) -> None:
    async with FakeCtoNew() as cto:
        r = await _router(start_router, tmp_path, cto)
        async with openai.AsyncOpenAI(
            base_url=f"{r.url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as client:
            await client.chat.completions.create(
                model="gpt-5.4", messages=[{"role": "user", "content": "Grüße"}]
            )
        await wait_for(lambda: bool(cto.prompts), what="a prompt")
    assert cto.prompts == ["Grüße"]
    assert base64.b64encode("Grüße".encode())
