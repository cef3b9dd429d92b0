"""Drive any endpoint that speaks a provider API with that provider's SDK.

The point of the fakes is that the official SDKs accept them; the point
of the router is that the same SDKs accept *it*. One small driver per
API lets both kinds of test ask the same question the same way:

    driver = sdk_driver("anthropic", fake.base_url, key)   # or the router's URL
    text, (tokens_in, tokens_out) = await driver.ask(stream=True)
    await driver.aclose()

APIs: ``anthropic`` (Messages), ``chat`` (OpenAI Chat Completions),
``responses`` (OpenAI Responses), ``gemini`` (generateContent). Clients are
built with retries off, so a scripted failure surfaces as the SDK's own
exception. Not imported by ``tests.fakes`` (importing three SDKs is slow).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import types as genai_types

__all__ = ["APIS", "Answer", "SdkDriver", "sdk_driver"]

APIS = ("anthropic", "chat", "responses", "gemini")
Answer = tuple[str, tuple[int, int]]
_DEFAULT_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "chat": "gpt-4o",
    "responses": "gpt-5",
    "gemini": "gemini-2.5-flash",
}


@dataclass
class SdkDriver:
    """An SDK client plus one way to ask it for ``(text, (in, out))``."""

    api: str
    client: Any
    ask_fn: Callable[[bool, str], Awaitable[Answer]]

    async def ask(self, stream: bool = False, prompt: str = "hi") -> Answer:
        """Send ``prompt`` as one user turn; the answer text and usage."""
        return await self.ask_fn(stream, prompt)

    async def aclose(self) -> None:
        """Close the SDK client (pytest runs with warnings as errors)."""
        if isinstance(self.client, genai.Client):
            await self.client.aio.aclose()
        else:
            await self.client.close()


def sdk_driver(api: str, base_url: str, key: str, *, model: str | None = None) -> SdkDriver:
    """A driver for ``api`` at ``base_url`` (OpenAI's includes ``/v1``)."""
    model = model or _DEFAULT_MODELS[api]
    if api == "anthropic":
        return SdkDriver(api, *_anthropic(base_url, key, model))
    if api in ("chat", "responses"):
        return SdkDriver(api, *_openai(api, base_url, key, model))
    if api == "gemini":
        return SdkDriver(api, *_gemini(base_url, key, model))
    raise ValueError(f"unknown api {api!r}; expected one of {', '.join(APIS)}")


def _anthropic(
    base_url: str, key: str, model: str
) -> tuple[Any, Callable[[bool, str], Awaitable[Answer]]]:
    client = anthropic.AsyncAnthropic(api_key=key, base_url=base_url, max_retries=0)

    async def ask(stream: bool, prompt: str) -> Answer:
        messages: Any = [{"role": "user", "content": prompt}]
        msg: Any
        if stream:
            async with client.messages.stream(model=model, max_tokens=64, messages=messages) as s:
                msg = await s.get_final_message()
        else:
            msg = await client.messages.create(model=model, max_tokens=64, messages=messages)
        text = "".join(b.text for b in msg.content if b.type == "text")
        return text, (msg.usage.input_tokens, msg.usage.output_tokens)

    return client, ask


def _openai(
    api: str, base_url: str, key: str, model: str
) -> tuple[Any, Callable[[bool, str], Awaitable[Answer]]]:
    client = openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0)

    async def chat(stream: bool, prompt: str) -> Answer:
        messages: Any = [{"role": "user", "content": prompt}]
        if not stream:
            done = await client.chat.completions.create(model=model, messages=messages)
            used: Any = done.usage
            return done.choices[0].message.content or "", (
                used.prompt_tokens,
                used.completion_tokens,
            )
        text, usage = "", (0, 0)
        options: Any = {"include_usage": True}
        chunks = await client.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options=options
        )
        async for chunk in chunks:
            text += "".join(c.delta.content or "" for c in chunk.choices)
            if chunk.usage:
                usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        return text, usage

    async def responses(stream: bool, prompt: str) -> Answer:
        done: Any
        if stream:
            async with client.responses.stream(model=model, input=prompt) as s:
                done = await s.get_final_response()
        else:
            done = await client.responses.create(model=model, input=prompt)
        return done.output_text, (done.usage.input_tokens, done.usage.output_tokens)

    return client, chat if api == "chat" else responses


def _gemini(
    base_url: str, key: str, model: str
) -> tuple[Any, Callable[[bool, str], Awaitable[Answer]]]:
    retry = genai_types.HttpRetryOptions(attempts=1)
    options = genai_types.HttpOptions(base_url=base_url, retry_options=retry)
    client = genai.Client(api_key=key, http_options=options)

    async def ask(stream: bool, prompt: str) -> Answer:
        chunks: list[Any]
        if stream:
            answer = await client.aio.models.generate_content_stream(model=model, contents=prompt)
            chunks = [c async for c in answer]
        else:
            chunks = [await client.aio.models.generate_content(model=model, contents=prompt)]
        usage: Any = chunks[-1].usage_metadata
        text = "".join(c.text or "" for c in chunks)
        return text, (usage.prompt_token_count, usage.candidates_token_count)

    return client, ask
