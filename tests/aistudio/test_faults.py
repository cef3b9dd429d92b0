"""Two services, a service that dies before answering, and a client that goes away."""

from __future__ import annotations

import asyncio

import aiohttp
import openai

from tests.fakes.aistudio_site import Answer

from .conftest import MODEL, MakeStack, wait_until


async def test_two_services_split_the_work(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1, services=2, default=Answer(delay=0.05))
    hub = stack.hub()
    assert await wait_until(lambda: [p.capacity for p in hub.peers.values()] == [1, 1], 20)
    client = openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)
    try:
        await asyncio.gather(
            *(
                client.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": f"{i}"}]
                )
                for i in range(4)
            )
        )
    finally:
        await client.close()
    assert sorted(p.served for p in hub.peers.values()) == [2, 2]


async def test_service_dying_before_stream_start_is_served_by_the_other(
    make_stack: MakeStack,
) -> None:
    stack = await make_stack(pages=1, instances=1, services=2)
    hub = stack.hub()
    assert await wait_until(lambda: [p.capacity for p in hub.peers.values()] == [1, 1], 20)
    stack.site.enqueue(Answer(text="never sent", delay_before=5.0))
    client = openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)
    try:
        pending = asyncio.ensure_future(
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
        assert await wait_until(lambda: len(stack.site.calls) == 1, 10)
        busy = next(s for s in stack.services if s.pool is not None and s.pool.busy())
        await stack.stop_service(busy)  # gone before its stream_start
        stream = await asyncio.wait_for(pending, 20)
        text = ""
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
    finally:
        await client.close()
    assert text == "Hello from the fake AI Studio page."
    assert len(stack.site.calls) == 2 and len(hub.peers) == 1


async def test_client_disconnect_stops_the_page(make_stack: MakeStack) -> None:
    stack = await make_stack(pages=1, instances=1)
    hub = stack.hub()
    assert await wait_until(lambda: sum(p.capacity for p in hub.peers.values()) == 1, 20)
    stack.site.enqueue(Answer(text=" ".join(f"t{i}" for i in range(400)), delay=0.05))  # ~20 s
    body = {"model": MODEL, "messages": [{"role": "user", "content": "long"}], "stream": True}
    async with aiohttp.ClientSession() as s:
        resp = await s.post(stack.router.url + "/v1/chat/completions", json=body)
        await resp.content.readany()
        await asyncio.sleep(0.3)
        resp.close()
    # cancel -> the service presses the page's stop button -> the page stops generating.
    assert await wait_until(lambda: bool(stack.site.of_type("stopped")), 20)
    assert await wait_until(lambda: bool(stack.site.of_type("ended_stopped")), 10)
    rendered = stack.site.of_type("ended_stopped")[-1].rendered
    assert 0 < len(rendered.split()) < 200
    # The page was reset and given back: the next request is served at once.
    assert await wait_until(
        lambda: stack.services[0].pool is not None and stack.services[0].pool.free() == 1, 20
    )
    client = openai.AsyncOpenAI(base_url=stack.router.url + "/v1", api_key="x", max_retries=0)
    try:
        done = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "x"}]
        )
    finally:
        await client.close()
    assert done.choices[0].message.content == "Hello from the fake AI Studio page."
