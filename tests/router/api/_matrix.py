"""The 4x4 translation matrix: one router in front of four validating fakes,
and one small agent per client SDK that keeps its own conversation.

    matrix = await start_matrix(start_router, stack)
    agent = matrix.agent("anthropic", upstream="gemini", tools=True)
    matrix.fake("gemini").enqueue(Reply(tool_calls=(...)), Reply(text="done"))
    turn = await agent.ask(stream=True)          # what the SDK saw
    agent.answer(turn, {"call_1": "sunny"})      # tool results, SDK-shaped
    turn = await agent.ask(stream=True)
    matrix.received("gemini")                    # what the fake accepted

Upstreams are picked by the model name the client sends (``via-anthropic``,
``via-chat``, ``via-responses``, ``via-gemini``, ``via-gemini-3``); each rule
aliases it to a real upstream model name. ``chat`` and ``responses`` are two
``openai-compatible`` providers, the second with ``wire: responses``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import openai
from google import genai
from google.genai import types as gt

from tests.conftest import RunningRouter, StartRouter, build_config
from tests.fakes import FakeAnthropic, FakeGemini, FakeOpenAI

__all__ = [
    "CLIENTS",
    "FIXTURES",
    "KEY",
    "STOPS",
    "TOOL",
    "UPSTREAMS",
    "Agent",
    "Matrix",
    "SeenCall",
    "Turn",
    "calls_sent",
    "result_key",
    "results_sent",
    "start_matrix",
    "text_of",
]

CLIENTS = ("anthropic", "chat", "responses", "gemini")
UPSTREAMS = ("anthropic", "chat", "responses", "gemini")
KEY = "sk-matrix-client"
FIXTURES = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "clients"

#: Upstream model each ``via-*`` name is aliased to.
UPSTREAM_MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "chat": "gpt-4o",
    "responses": "gpt-5",
    "gemini": "gemini-2.5-flash",
    "gemini-3": "gemini-3-pro-preview",  # the fake demands thought signatures here
}

#: A scripted (Anthropic-style) stop reason as each client format must say it.
STOPS = {
    "end_turn": {
        "anthropic": "end_turn",
        "chat": "stop",
        "gemini": "STOP",
        "responses": "completed",
    },
    "max_tokens": {
        "anthropic": "max_tokens",
        "chat": "length",
        "gemini": "MAX_TOKENS",
        "responses": "incomplete:max_output_tokens",
    },
    "tool_use": {
        "anthropic": "tool_use",
        "chat": "tool_calls",
        "gemini": "STOP",
        "responses": "completed",
    },
}

#: One function tool, with the JSON-Schema keywords Gemini refuses in ``parameters``.
TOOL = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["c", "f"]},
        },
        "required": ["city"],
        "additionalProperties": False,
    },
}


@dataclass(frozen=True)
class SeenCall:
    """A tool call as the client SDK presented it (``id`` None: Gemini gave none)."""

    id: str | None
    name: str
    args: dict[str, Any]


@dataclass
class Turn:
    """One answer as the client saw it."""

    text: str
    calls: list[SeenCall]
    usage: tuple[int, int] | None
    usage_reports: int  # streams: how many events carried the final usage
    stop: str  # client-native, see STOPS
    reasoning: list[tuple[str, str]] = field(default_factory=list)  # (text, signature)
    events: list[str] = field(default_factory=list)
    error: str = ""  # Responses: the error of a ``response.failed`` answer


def _strip_parsed(value: Any) -> Any:
    """Drop the SDK's client-side parse results (``parsed``, ``parsed_arguments``...)."""
    if isinstance(value, dict):
        return {k: _strip_parsed(v) for k, v in value.items() if not k.startswith("parsed")}
    if isinstance(value, list):
        return [_strip_parsed(v) for v in value]
    return value


class Agent:
    """One client SDK talking to the router, keeping the conversation in its own shape."""

    api: str

    def __init__(self, url: str, model: str, *, tools: bool) -> None:
        self.url = url
        self.model = model
        self.tools = tools
        self.history: list[Any] = []

    def start(self, prompt: str) -> None:
        raise NotImplementedError

    async def ask(self, stream: bool, *, thinking: bool = False) -> Turn:
        raise NotImplementedError

    def answer(self, turn: Turn, results: Mapping[str, str]) -> None:
        """Append ``turn`` and the tool results (keyed by the client-visible id, or by
        ``name#n`` where the call had no id) in this client's own format."""
        raise NotImplementedError

    def say(self, prompt: str) -> None:
        """Append the last answer and a new user message (the conversation goes on)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError


def result_key(call: SeenCall, n: int) -> str:
    return call.id or f"{call.name}#{n}"


# --------------------------------------------------------------------- Anthropic


class AnthropicAgent(Agent):
    api = "anthropic"

    def __init__(self, url: str, model: str, *, tools: bool) -> None:
        super().__init__(url, model, tools=tools)
        self.client = anthropic.AsyncAnthropic(base_url=url, api_key=KEY, max_retries=0)
        self._last: list[dict[str, Any]] = []

    def start(self, prompt: str) -> None:
        self.history = [{"role": "user", "content": prompt}]

    def _kwargs(self, thinking: bool) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self.model, "max_tokens": 1024, "messages": self.history}
        if self.tools:
            kw["tools"] = [
                {
                    "name": TOOL["name"],
                    "description": TOOL["description"],
                    "input_schema": TOOL["parameters"],
                }
            ]
        if thinking:
            kw["max_tokens"] = 4096
            kw["thinking"] = {"type": "enabled", "budget_tokens": 2048}
        return kw

    async def ask(self, stream: bool, *, thinking: bool = False) -> Turn:
        events: list[str] = []
        if stream:
            async with self.client.messages.stream(**self._kwargs(thinking)) as s:
                async for ev in s:
                    events.append(ev.type)
                msg = await s.get_final_message()
        else:
            msg = await self.client.messages.create(**self._kwargs(thinking))
        self._last = [_strip_parsed(b.model_dump(exclude_none=True)) for b in msg.content]
        return Turn(
            text="".join(b.text for b in msg.content if b.type == "text"),
            calls=[
                SeenCall(b.id, b.name, dict(b.input)) for b in msg.content if b.type == "tool_use"
            ],
            usage=(msg.usage.input_tokens, msg.usage.output_tokens),
            usage_reports=events.count("message_delta") if stream else 1,
            stop=str(msg.stop_reason),
            reasoning=[(b.thinking, b.signature) for b in msg.content if b.type == "thinking"],
            events=events,
        )

    def answer(self, turn: Turn, results: Mapping[str, str]) -> None:
        self.history.append({"role": "assistant", "content": self._last})
        blocks = [
            {"type": "tool_result", "tool_use_id": c.id, "content": results[result_key(c, n)]}
            for n, c in enumerate(turn.calls)
        ]
        self.history.append({"role": "user", "content": blocks})

    def say(self, prompt: str) -> None:
        self.history.append({"role": "assistant", "content": self._last})
        self.history.append({"role": "user", "content": prompt})

    async def aclose(self) -> None:
        await self.client.close()


# --------------------------------------------------------------------- OpenAI Chat


class ChatAgent(Agent):
    api = "chat"

    def __init__(self, url: str, model: str, *, tools: bool) -> None:
        super().__init__(url, model, tools=tools)
        self.client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        self._last: dict[str, Any] = {}

    def start(self, prompt: str) -> None:
        self.history = [{"role": "user", "content": prompt}]

    def _kwargs(self, thinking: bool) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self.model, "messages": self.history}
        if self.tools:
            kw["tools"] = [{"type": "function", "function": dict(TOOL)}]
        if thinking:
            kw["reasoning_effort"] = "low"
        return kw

    async def ask(self, stream: bool, *, thinking: bool = False) -> Turn:
        if stream:
            return await self._ask_stream(thinking)
        done = await self.client.chat.completions.create(**self._kwargs(thinking))
        choice = done.choices[0]
        msg = choice.message
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments},
                **(c.model_extra or {}),
            }
            for c in msg.tool_calls or []
        ]
        used = done.usage
        usage = (used.prompt_tokens, used.completion_tokens) if used else None
        return self._turn(msg.content, calls, usage, 1, str(choice.finish_reason))

    async def _ask_stream(self, thinking: bool) -> Turn:
        """Accumulate the raw chunks as an agent loop does (the SDK's ``stream()``
        helper refuses ``finish_reason: length``)."""
        chunks = await self.client.chat.completions.create(
            **self._kwargs(thinking), stream=True, stream_options={"include_usage": True}
        )
        text: str | None = None
        calls: dict[int, dict[str, Any]] = {}
        usages: list[Any] = []
        finish = ""
        async for chunk in chunks:
            if chunk.usage:
                usages.append(chunk.usage)
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    text = (text or "") + delta.content
                for tc in delta.tool_calls or []:
                    call = calls.setdefault(
                        tc.index,
                        {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                    )
                    call["id"] = tc.id or call["id"]
                    call.update(tc.model_extra or {})
                    if tc.function is not None:
                        call["function"]["name"] += tc.function.name or ""
                        call["function"]["arguments"] += tc.function.arguments or ""
                if choice.finish_reason:
                    finish = choice.finish_reason
        usage = (usages[-1].prompt_tokens, usages[-1].completion_tokens) if usages else None
        return self._turn(text, [calls[i] for i in sorted(calls)], usage, len(usages), finish)

    def _turn(
        self,
        text: str | None,
        calls: list[dict[str, Any]],
        usage: tuple[int, int] | None,
        reports: int,
        stop: str,
    ) -> Turn:
        self._last = {"role": "assistant", "content": text}
        if calls:
            self._last["tool_calls"] = calls
        return Turn(
            text=text or "",
            calls=[
                SeenCall(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in calls
            ],
            usage=usage,
            usage_reports=reports,
            stop=stop,
        )

    def answer(self, turn: Turn, results: Mapping[str, str]) -> None:
        self.history.append(self._last)
        for n, c in enumerate(turn.calls):
            self.history.append(
                {"role": "tool", "tool_call_id": c.id, "content": results[result_key(c, n)]}
            )

    def say(self, prompt: str) -> None:
        self.history.append(self._last)
        self.history.append({"role": "user", "content": prompt})

    async def aclose(self) -> None:
        await self.client.close()


# --------------------------------------------------------------------- OpenAI Responses


class ResponsesAgent(Agent):
    api = "responses"

    def __init__(self, url: str, model: str, *, tools: bool) -> None:
        super().__init__(url, model, tools=tools)
        self.client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        self._last: list[dict[str, Any]] = []

    def start(self, prompt: str) -> None:
        self.history = [{"role": "user", "content": prompt}]

    def _kwargs(self, thinking: bool) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self.model, "input": self.history, "store": False}
        if self.tools:
            kw["tools"] = [{"type": "function", "strict": False, **TOOL}]
        if thinking:
            kw["reasoning"] = {"effort": "medium", "summary": "auto"}
            kw["include"] = ["reasoning.encrypted_content"]
        return kw

    async def ask(self, stream: bool, *, thinking: bool = False) -> Turn:
        events: list[str] = []
        reports = 1
        final: Any = None
        if stream:
            reports = 0
            async with self.client.responses.stream(**self._kwargs(thinking)) as s:
                async for ev in s:
                    events.append(ev.type)
                    response = getattr(ev, "response", None)
                    if response is not None and response.usage is not None:
                        reports += 1
                    if ev.type in ("response.completed", "response.incomplete", "response.failed"):
                        final = ev.response
            assert final is not None, f"no terminal event in {events}"
        else:
            final = await self.client.responses.create(**self._kwargs(thinking))
        self._last = [_strip_parsed(item.model_dump(exclude_none=True)) for item in final.output]
        stop = str(final.status)
        if final.incomplete_details is not None:
            stop += f":{final.incomplete_details.reason}"
        used = final.usage
        calls = [i for i in final.output if i.type == "function_call"]
        reasoning = [
            (" ".join(s.text for s in i.summary), i.encrypted_content or "")
            for i in final.output
            if i.type == "reasoning"
        ]
        return Turn(
            text=final.output_text,
            calls=[SeenCall(c.call_id, c.name, json.loads(c.arguments)) for c in calls],
            usage=(used.input_tokens, used.output_tokens) if used else None,
            usage_reports=reports,
            stop=stop,
            reasoning=reasoning,
            events=events,
            error=final.error.message if final.error is not None else "",
        )

    def answer(self, turn: Turn, results: Mapping[str, str]) -> None:
        self.history.extend(self._last)
        for n, c in enumerate(turn.calls):
            self.history.append(
                {
                    "type": "function_call_output",
                    "call_id": c.id,
                    "output": results[result_key(c, n)],
                }
            )

    def say(self, prompt: str) -> None:
        self.history.extend(self._last)
        self.history.append({"role": "user", "content": prompt})

    async def aclose(self) -> None:
        await self.client.close()


# --------------------------------------------------------------------- Gemini


class GeminiAgent(Agent):
    api = "gemini"

    def __init__(self, url: str, model: str, *, tools: bool) -> None:
        super().__init__(url, model, tools=tools)
        retry = gt.HttpRetryOptions(attempts=1)
        self.client = genai.Client(
            api_key=KEY, http_options=gt.HttpOptions(base_url=url, retry_options=retry)
        )
        self._last: list[gt.Part] = []

    def start(self, prompt: str) -> None:
        self.history = [gt.Content(role="user", parts=[gt.Part(text=prompt)])]

    def _config(self, thinking: bool) -> gt.GenerateContentConfig:
        config = gt.GenerateContentConfig()
        if self.tools:
            decl = gt.FunctionDeclaration(
                name=TOOL["name"],
                description=TOOL["description"],
                parameters_json_schema=TOOL["parameters"],
            )
            config.tools = [gt.Tool(function_declarations=[decl])]
        if thinking:
            config.thinking_config = gt.ThinkingConfig(include_thoughts=True, thinking_budget=2048)
        return config

    async def ask(self, stream: bool, *, thinking: bool = False) -> Turn:
        models = self.client.aio.models
        config = self._config(thinking)
        if stream:
            answer = await models.generate_content_stream(
                model=self.model, contents=self.history, config=config
            )
            chunks = [c async for c in answer]
        else:
            chunks = [
                await models.generate_content(
                    model=self.model, contents=self.history, config=config
                )
            ]
        parts: list[gt.Part] = []
        finishes: list[str] = []
        for c in chunks:
            for cand in c.candidates or []:
                if cand.content and cand.content.parts:
                    parts.extend(cand.content.parts)
                if cand.finish_reason is not None:
                    finishes.append(cand.finish_reason.name)
        self._last = parts
        used = chunks[-1].usage_metadata
        reports = sum(
            1
            for c in chunks
            if c.usage_metadata and c.usage_metadata.candidates_token_count is not None
        )
        calls = [p.function_call for p in parts if p.function_call]
        return Turn(
            text="".join(p.text for p in parts if p.text and not p.thought),
            calls=[SeenCall(c.id, c.name or "", dict(c.args or {})) for c in calls],
            usage=(used.prompt_token_count or 0, used.candidates_token_count or 0)
            if used
            else None,
            usage_reports=reports,
            stop=",".join(finishes),
            reasoning=[
                (p.text or "", base64.b64encode(p.thought_signature or b"").decode())
                for p in parts
                if p.thought or p.thought_signature
            ],
            events=[str(len(chunks))],
        )

    #: Echo ``functionCall.id`` in ``functionResponse.id`` (as Gemini CLI does);
    #: off: ``Part.from_function_response(name=..., response=...)``, the SDK's own
    #: idiom, which pairs by name and order only.
    echo_ids = True

    def answer(self, turn: Turn, results: Mapping[str, str]) -> None:
        self.history.append(gt.Content(role="model", parts=self._last))
        responses = [
            gt.Part(
                function_response=gt.FunctionResponse(
                    id=c.id if self.echo_ids else None,
                    name=c.name,
                    response={"result": results[result_key(c, n)]},
                )
            )
            for n, c in enumerate(turn.calls)
        ]
        self.history.append(gt.Content(role="user", parts=responses))

    def say(self, prompt: str) -> None:
        self.history.append(gt.Content(role="model", parts=self._last))
        self.history.append(gt.Content(role="user", parts=[gt.Part(text=prompt)]))

    async def aclose(self) -> None:
        await self.client.aio.aclose()


_AGENTS: dict[str, type[Agent]] = {
    "anthropic": AnthropicAgent,
    "chat": ChatAgent,
    "responses": ResponsesAgent,
    "gemini": GeminiAgent,
}


# --------------------------------------------------------------------- the matrix


@dataclass
class Matrix:
    router: RunningRouter
    fakes: dict[str, Any]
    stack: AsyncExitStack

    @property
    def url(self) -> str:
        return self.router.url

    def agent(self, api: str, upstream: str, *, tools: bool = False, prompt: str = "hi") -> Agent:
        """A client of ``api`` whose requests the router sends to ``upstream``."""
        agent = _AGENTS[api](self.url, f"via-{upstream}", tools=tools)
        agent.start(prompt)
        self.stack.push_async_callback(agent.aclose)
        return agent

    def fake(self, upstream: str) -> Any:
        return self.fakes[upstream.removesuffix("-3")]

    def received(self, upstream: str) -> list[dict[str, Any]]:
        """Bodies of the model requests the upstream's fake received, oldest first."""
        return [
            r.json
            for r in self.fake(upstream).requests
            if r.method == "POST"
            and isinstance(r.json, dict)
            and not r.path.endswith("count_tokens")
        ]


async def start_matrix(start_router: StartRouter, stack: AsyncExitStack) -> Matrix:
    fakes = {
        "anthropic": await stack.enter_async_context(FakeAnthropic(api_keys=("sk-ant-up",))),
        "chat": await stack.enter_async_context(FakeOpenAI(api_keys=("sk-oa-up",))),
        "responses": await stack.enter_async_context(FakeOpenAI(api_keys=("sk-oa-up",))),
        "gemini": await stack.enter_async_context(FakeGemini(api_keys=("AIza-up",))),
    }
    providers = {
        "anthropic": {
            "kind": "anthropic",
            "base_url": fakes["anthropic"].base_url,
            "api_keys": ["sk-ant-up"],
        },
        "chat": {
            "kind": "openai-compatible",
            "base_url": fakes["chat"].base_url,
            "api_keys": ["sk-oa-up"],
        },
        "responses": {
            "kind": "openai-compatible",
            "base_url": fakes["responses"].base_url,
            "api_keys": ["sk-oa-up"],
            "wire": "responses",
        },
        "gemini": {"kind": "gemini", "base_url": fakes["gemini"].base_url, "api_keys": ["AIza-up"]},
    }
    routing = [
        {"pattern": f"^via-{name}$", "providers": [name.removesuffix("-3")], "model": model}
        for name, model in UPSTREAM_MODELS.items()
    ]
    router = await start_router(build_config(providers, routing, api_keys=[KEY]))
    return Matrix(router, fakes, stack)


# --------------------------------------------------------------------- reading what a fake got


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(text_of(c) for c in content)
    if isinstance(content, dict):
        for key in ("text", "output", "content", "result", "response"):
            if key in content:
                return text_of(content[key])
        return json.dumps(content)
    return "" if content is None else str(content)


def calls_sent(upstream: str, body: dict[str, Any]) -> list[tuple[str | None, str, dict[str, Any]]]:
    """Every tool call the conversation in ``body`` holds, in order."""
    up = upstream.removesuffix("-3")
    out: list[tuple[str | None, str, dict[str, Any]]] = []
    if up == "anthropic":
        for m in body["messages"]:
            for b in m["content"] if isinstance(m["content"], list) else []:
                if b.get("type") == "tool_use":
                    out.append((b["id"], b["name"], b["input"]))
    elif up == "chat":
        for m in body["messages"]:
            for c in m.get("tool_calls") or []:
                out.append((c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])))
    elif up == "responses":
        for i in body["input"] if isinstance(body["input"], list) else []:
            if i.get("type") == "function_call":
                out.append((i["call_id"], i["name"], json.loads(i["arguments"])))
    else:
        for c in body["contents"]:
            for p in c["parts"]:
                if "functionCall" in p:
                    out.append((None, p["functionCall"]["name"], p["functionCall"].get("args", {})))
    return out


def results_sent(upstream: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """Every tool result in ``body``: ``(call id, or name for Gemini; its text)``."""
    up = upstream.removesuffix("-3")
    out: list[tuple[str, str]] = []
    if up == "anthropic":
        for m in body["messages"]:
            for b in m["content"] if isinstance(m["content"], list) else []:
                if b.get("type") == "tool_result":
                    out.append((b["tool_use_id"], text_of(b.get("content"))))
    elif up == "chat":
        for m in body["messages"]:
            if m["role"] == "tool":
                out.append((m["tool_call_id"], text_of(m["content"])))
    elif up == "responses":
        for i in body["input"] if isinstance(body["input"], list) else []:
            if i.get("type") == "function_call_output":
                out.append((i["call_id"], text_of(i["output"])))
    else:
        for c in body["contents"]:
            for p in c["parts"]:
                if "functionResponse" in p:
                    fr = p["functionResponse"]
                    out.append((fr["name"], text_of(fr.get("response"))))
    return out
