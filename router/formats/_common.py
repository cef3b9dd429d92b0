"""Helpers shared by the format modules: signatures, thinking levels, SSE frames,
request settings, and the conversation clean-up every strict upstream needs."""

from __future__ import annotations

import base64
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson

from . import ir
from ._json import Raw, dumps, num_or_int, obj, opt_bool, opt_str, schema_obj

# --------------------------------------------------------------------------- signatures
#
# A signature is only valid for the provider that issued it. When one leaves
# through a client format other than its own, it gets a tag naming its source
# format; the tag comes back with the client's next turn, so the request
# translator knows where it may be replayed. Gemini clients get the foreign
# signature base64url-wrapped behind the tag (tags are 8 base64 letters): the
# google-genai SDK decodes ``thoughtSignature`` as base64 bytes and re-encodes
# it, so the value must be canonical base64 whatever the source's alphabet.

SIGNATURE_TAG = b"zcpa"  # how every tag starts: a body without these bytes holds none
_TAGS: dict[ir.Format, str] = {
    ir.Format.ANTHROPIC: "zcpaANTH",
    ir.Format.GEMINI: "zcpaGEMI",
    ir.Format.RESPONSES: "zcpaRESP",
    ir.Format.OPENAI: "zcpaCHAT",
}


def export_signature(signature: str, source: ir.Format | None, target: ir.Format) -> str:
    if source is None or source == target:
        return signature
    if target == "gemini":
        return _TAGS[source] + base64.urlsafe_b64encode(signature.encode()).decode()
    return _TAGS[source] + signature


def import_signature(raw: str, native: ir.Format) -> tuple[str, ir.Format]:
    for source, tag in _TAGS.items():
        if source == native or not raw.startswith(tag):
            continue
        body = raw[len(tag) :]
        if native != "gemini":
            return body, source
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode(), source
        except (ValueError, UnicodeDecodeError):
            break  # not one of ours
    return raw, native


def replayable(part: ir.Reasoning, target: ir.Format) -> bool:
    """A reasoning part the target's provider will accept back."""
    return bool(part.signature) and part.source in (None, target)


# --------------------------------------------------------------------------- thinking

EFFORT_BUDGET = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 24576,
    "xhigh": 32768,
    "max": 32768,
}


def thinking_budget(t: ir.Thinking) -> int:
    if t.budget_tokens is not None:
        return t.budget_tokens
    return EFFORT_BUDGET.get(t.effort or "medium", 8192)


def thinking_effort(t: ir.Thinking) -> str:
    if t.effort is not None:
        return t.effort
    budget = t.budget_tokens if t.budget_tokens is not None else 8192
    if budget <= 3000:
        return "low"
    if budget <= 12000:
        return "medium"
    return "high"


# --------------------------------------------------------------------------- SSE


def sse(event: str | None, payload: object) -> bytes:
    data = orjson.dumps(payload)
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"


def sse_parts(event: str | None, build: Callable[..., object], holes: int = 1) -> tuple[bytes, ...]:
    """``sse(event, build(*values))`` rendered once, cut around its ``holes`` values.

    The hot events of a stream differ only in a value or two (a delta's text, a
    sequence number): joining the parts with each value's ``orjson.dumps`` gives
    the bytes ``sse`` would, for one small dump instead of the whole payload.
    ``build`` must place its values in argument order.
    """
    salt = 0
    while True:
        values = [f"\x00{salt}.{i}\x00" for i in range(holes)]
        marks = [orjson.dumps(value) for value in values]
        frame = sse(event, build(*values))
        counts = [frame.count(m) for m in marks]
        if 0 in counts:
            raise ValueError("build() left a value out")
        if counts == [1] * holes:
            parts = []
            for mark in marks:
                head, found, frame = frame.partition(mark)
                if not found:
                    raise ValueError("build() placed its values out of order")
                parts.append(head)
            return (*parts, frame)
        salt += 1  # a fixed value of the frame holds a mark: take others


# --------------------------------------------------------------------------- results


def result_text(result: ir.ToolResult) -> str:
    content = result.content
    if len(content) == 1 and isinstance(content[0], ir.Text):
        return content[0].text  # what nearly every result holds
    return "".join(p.text for p in content if isinstance(p, ir.Text))


def fill_result_names(messages: Sequence[ir.Message]) -> tuple[ir.Message, ...]:
    """Give every ToolResult the name of its call (formats without names); messages
    without an unnamed result are kept as they are."""
    names: dict[str, str] | None = None
    out: list[ir.Message] = []
    for m in messages:
        if any(isinstance(p, ir.ToolResult) and not p.name for p in m.content):
            if names is None:
                names = {
                    p.id: p.name for m in messages for p in m.content if isinstance(p, ir.ToolCall)
                }
            parts = tuple(
                ir.ToolResult(p.call_id, names.get(p.call_id, ""), p.content, p.is_error)
                if isinstance(p, ir.ToolResult) and not p.name
                else p
                for p in m.content
            )
            m = ir.Message(m.role, parts)
        out.append(m)
    return tuple(out)


# --------------------------------------------------------------------------- turns


def _kept(part: ir.Part, *, results: bool) -> bool:
    """Whether a part stays in its turn: no empty text, no result in an assistant turn
    (``results`` false) and no call in any other."""
    if isinstance(part, ir.Text):
        return bool(part.text)
    if isinstance(part, ir.ToolResult):
        return results
    if isinstance(part, ir.ToolCall):
        return not results
    return True


def _orphan_text(result: ir.ToolResult) -> ir.Text:
    return ir.Text(f"[result of tool {result.name or result.call_id}]\n{result_text(result)}")


def _in_order(content: tuple[ir.Part, ...], pending: dict[str, str], order: dict[str, int]) -> bool:
    """Whether a user turn is already as :func:`normalize_turns` leaves it: its results
    first, each answering a pending call, in the calls' order, then parts that stay
    (no empty text, no call)."""
    last = -1
    others = False
    for p in content:
        if isinstance(p, ir.ToolResult):
            at = order.get(p.call_id, -1)
            if others or at <= last or p.call_id not in pending:
                return False
            last = at
        elif isinstance(p, ir.Text):
            if not p.text:
                return False
            others = True
        elif isinstance(p, ir.ToolCall):
            return False
        else:
            others = True
    return True


def normalize_turns(
    messages: Sequence[ir.Message], *, merge: bool, system_as_user: bool
) -> list[ir.Message]:
    """The conversation as strict upstreams require it.

    * every tool call of an assistant turn is answered before the next
      assistant turn (a missing answer becomes an error result), and every
      tool result answers a call of the assistant turn before it (an orphan
      becomes plain text);
    * tool results come first in their user turn;
    * empty messages are dropped; with ``merge`` consecutive turns of one role
      become one; with ``system_as_user`` late system messages become user text.
    """
    out: list[ir.Message] = []
    pending: dict[str, str] = {}
    order: dict[str, int] = {}
    answered_from = -1  # index in `out` of the first user turn after the calls

    def flush() -> None:
        nonlocal answered_from
        if not pending:
            return
        missing = tuple(
            ir.ToolResult(cid, name, (ir.Text("tool call was not answered"),), True)
            for cid, name in pending.items()
        )
        if answered_from >= 0:
            m = out[answered_from]
            results = [p for p in m.content if isinstance(p, ir.ToolResult)] + list(missing)
            results.sort(key=lambda r: order.get(r.call_id, len(order)))
            rest = tuple(p for p in m.content if not isinstance(p, ir.ToolResult))
            out[answered_from] = ir.Message(m.role, tuple(results) + rest)
        else:
            out.append(ir.Message(ir.Role.USER, missing))
        pending.clear()

    for msg in messages:
        role = msg.role
        if role is ir.Role.SYSTEM and system_as_user:
            role = ir.Role.USER
        content = msg.content
        parts: tuple[ir.Part, ...]
        if role is ir.Role.ASSISTANT:
            if pending:
                flush()
            calls: dict[str, str] = {}
            order = {}
            clean = True  # nothing to drop: the message's own parts go on as they are
            for p in content:
                if isinstance(p, ir.ToolCall):
                    calls[p.id] = p.name
                    if p.id not in order:
                        order[p.id] = len(order)
                elif isinstance(p, ir.ToolResult) or (isinstance(p, ir.Text) and not p.text):
                    clean = False
            pending.update(calls)
            answered_from = -1
            parts = content if clean else tuple(p for p in content if _kept(p, results=False))
        elif _in_order(content, pending, order):
            parts = content  # the usual turn: the message goes on as it is
            for p in content:
                if isinstance(p, ir.ToolResult):
                    del pending[p.call_id]
        else:
            results: list[ir.ToolResult] = []
            rest: list[ir.Part] = []
            clean = True
            for p in content:
                if isinstance(p, ir.ToolResult):
                    if p.call_id in pending:
                        pending.pop(p.call_id)
                        results.append(p)
                        continue
                    rest.append(_orphan_text(p))
                elif _kept(p, results=True):
                    rest.append(p)
                    continue
                clean = False
            if results:
                if len(results) > 1:
                    results.sort(key=lambda r: order.get(r.call_id, len(order)))
                parts = (*results, *rest)
                if clean and all(map(operator.is_, parts, content)):
                    parts = content  # already in order: the message goes on as it is
            else:
                parts = content if clean else tuple(rest)
        if not parts:
            continue
        if merge and out and out[-1].role is role:
            prev = out[-1]
            if role is ir.Role.USER:
                res = tuple(
                    sorted(
                        (p for p in prev.content + parts if isinstance(p, ir.ToolResult)),
                        key=lambda r: order.get(r.call_id, len(order)),
                    )
                )
                other = tuple(p for p in prev.content + parts if not isinstance(p, ir.ToolResult))
                out[-1] = ir.Message(role, res + other)
            else:
                out[-1] = ir.Message(role, prev.content + parts)
            continue
        same = parts is content and role is msg.role
        out.append(msg if same else ir.Message(role, parts))
        if role is ir.Role.USER and answered_from < 0 and pending:
            answered_from = len(out) - 1
    if pending and answered_from >= 0:
        flush()
    return out


def joined_system(system: Iterable[ir.Text]) -> str:
    return "\n\n".join(t.text for t in system if t.text)


def tool_args_json(call: ir.ToolCall) -> str:
    """Arguments as they go into formats that carry JSON text."""
    args = call.arguments
    if args and not args[0].isspace():
        return args  # without stripping a copy of what may be a whole file
    return args if args.strip() else "{}"


def put_present(out: dict[str, Any], values: Iterable[tuple[str, object]]) -> None:
    """Put the settings a request has into a body, as ``(wire key, IR value)`` pairs in
    the format's order: floats as clients write them (``1`` for 1.0), tuples as lists."""
    for key, value in values:
        if value is None or value == ():
            continue
        if isinstance(value, float):
            value = num_or_int(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value


def json_mode_instruction(fmt: ir.ResponseFormat) -> str:
    if fmt.schema is not None:
        return "Respond only with a JSON value matching this JSON Schema:\n" + dumps(fmt.schema)
    return "Respond only with a valid JSON object."


# --------------------------------------------------------------------------- OpenAI requests
#
# Chat and Responses share how a tool choice and a response format are spelled.


def tool_choice_mode(choice: str) -> ir.ToolChoice:
    """A ``tool_choice`` given as a string."""
    if choice not in ("auto", "none", "required"):
        raise ir.TranslationError("tool_choice", f"unknown tool_choice {choice!r}")
    return ir.ToolChoice(choice)  # type: ignore[arg-type]


def response_format_in(fmt: Raw, path: str, spec_key: str | None) -> ir.ResponseFormat | None:
    """``{"type": "json_object"}``, or ``json_schema`` with its ``name`` / ``schema`` /
    ``strict`` under ``spec_key`` (Chat) or beside the type (Responses); else None."""
    kind = fmt.get("type")
    if kind == "json_object":
        return ir.ResponseFormat("json_object")
    if kind != "json_schema":
        return None
    if spec_key is not None:
        path = f"{path}.{spec_key}"
        fmt = obj(fmt.get(spec_key), path)
    schema = fmt.get("schema")
    return ir.ResponseFormat(
        "json_schema",
        schema_obj(schema, path + ".schema") if schema is not None else {},
        opt_str(fmt, "name", path + "."),
        opt_bool(fmt, "strict", path + "."),
    )


def response_format_out(fmt: ir.ResponseFormat | None, spec_key: str | None) -> dict[str, Any]:
    """The wire shape :func:`response_format_in` reads; empty for plain text."""
    if fmt is None or fmt.type == "text":
        return {}
    if fmt.type == "json_object":
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": fmt.name or "response", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        spec["strict"] = fmt.strict
    if spec_key is not None:
        return {"type": "json_schema", spec_key: spec}
    return {"type": "json_schema", **spec}
