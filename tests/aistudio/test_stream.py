"""SDK → router → relay → aistudio service → real headless Chromium → fake AI Studio page."""

from __future__ import annotations

import time

import openai
import pytest
from google import genai
from google.genai import types as genai_types

from tests.fakes.aistudio_site import Answer

from .conftest import MODEL, MakeStack, Stack, wait_until

TEXT = " ".join(f"word{i}" for i in range(20))


async def ready(stack: Stack, capacity: int = 1) -> None:
    hub = stack.hub()
    assert await wait_until(lambda: sum(p.capacity for p in hub.peers.values()) >= capacity, 20)


def openai_client(stack: Stack) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)


async def test_openai_stream_arrives_while_the_page_still_renders(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    await ready(stack)
    stack.site.enqueue(Answer(text=TEXT, delay=0.05))  # 20 tokens over ~1 s
    client = openai_client(stack)
    try:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "count"}], stream=True
        )
        arrivals: list[float] = []
        text = ""
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.time())
                text += chunk.choices[0].delta.content
    finally:
        await client.close()
    assert text == TEXT
    assert len(arrivals) >= 10  # token by token, not one block at the end
    assert await wait_until(lambda: bool(stack.site.of_type("last_token")), 5)
    first_token = stack.site.of_type("first_token")[-1].at
    last_token = stack.site.of_type("last_token")[-1].at
    assert last_token - first_token > 0.7
    # The client had its first chunk long before the page rendered its last token.
    assert arrivals[0] < last_token - 0.5
    assert arrivals[0] - first_token < 0.5


async def test_google_genai_stream_with_thinking(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    await ready(stack)
    stack.site.enqueue(
        Answer(text="The answer is 4.", thinking="Two plus two is four.", delay=0.02)
    )
    g = genai.Client(
        api_key="x",
        http_options=genai_types.HttpOptions(base_url=stack.router.url, api_version="v1beta"),
    )
    thoughts, text = "", ""
    try:
        async for chunk in await g.aio.models.generate_content_stream(model=MODEL, contents="2+2?"):
            for cand in chunk.candidates or []:
                for part in (cand.content.parts if cand.content else None) or []:
                    if part.thought:
                        thoughts += part.text or ""
                    else:
                        text += part.text or ""
    finally:
        await g.aio.aclose()
    assert thoughts == "Two plus two is four."
    assert text == "The answer is 4."


async def test_settings_system_and_conversation_reach_the_page(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    await ready(stack)
    client = openai_client(stack)
    try:
        done = await client.chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Name a colour."},
            ],
            temperature=0.3,
            top_p=0.5,
            max_tokens=128,
            stop=["END"],
        )
    finally:
        await client.close()
    assert done.choices[0].message.content == "Hello from the fake AI Studio page."
    call = stack.site.calls[-1]
    assert call.prompt.startswith("System instructions:\nBe brief.")
    assert "User:\nHi" in call.prompt and "Model:\nHello!" in call.prompt
    assert call.prompt.endswith("User:\nName a colour.")
    assert (call.temperature, call.top_p, call.max_tokens, call.stop) == (0.3, 0.5, 128, ("END",))
    assert call.model == "gemini-2.5-pro"


async def test_model_is_switched_through_local_storage(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    await ready(stack)
    client = openai_client(stack)
    try:
        await client.chat.completions.create(
            model="gemini-2.5-flash-aistudio", messages=[{"role": "user", "content": "hi"}]
        )
        assert stack.site.calls[-1].model == "gemini-2.5-flash"
        with pytest.raises(openai.NotFoundError) as err:
            await client.chat.completions.create(
                model="gemini-0-nonexistent-aistudio", messages=[{"role": "user", "content": "hi"}]
            )
        assert "not available in AI Studio" in str(err.value)
    finally:
        await client.close()


async def test_quota_toast_is_a_429_and_ui_errors_keep_their_message(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    await ready(stack)
    client = openai_client(stack)
    try:
        stack.site.enqueue(Answer(error="Internal error: something broke"))
        with pytest.raises(openai.APIStatusError) as err:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}]
            )
        assert err.value.status_code == 502 and "something broke" in str(err.value)
        stack.site.enqueue(Answer(error="quota"))
        with pytest.raises(openai.RateLimitError) as rate:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}]
            )
        assert rate.value.status_code == 429  # the router's own word: cooling down, retry in N s
    finally:
        await client.close()
    health = stack.services[0].health()
    assert health["profiles"] == [{"name": "default", "state": "rate_limited"}]
