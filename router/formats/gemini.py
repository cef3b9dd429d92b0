"""Gemini generateContent <-> IR (requests, responses; streams in ``_gemini_stream``).

Gemini has no tool-call ids. On the way in, a ``functionCall`` keeps its
``id`` when the client sent one (Gemini CLI echoes the ids this gateway hands
out) and otherwise gets a stable positional id (``call_<turn>_<part>``); each
``functionResponse`` is paired by id, else with the first unanswered call of
the same name, in order. On the way out to a Gemini upstream, calls go without
ids and results are named after their call.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from . import ir
from ._common import (
    normalize_turns,
    put_present,
    replayable,
    thinking_budget,
)
from ._gemini_parts import (
    FORMAT,
    function_response,
    media_out,
    media_part,
    model_parts,
    model_parts_out,
    response_content,
    stop_from_wire,
    stop_to_wire,
    usage_from_wire,
    usage_to_wire,
)
from ._gemini_stream import StreamDecoder, StreamEncoder
from ._json import (
    Raw,
    arr,
    obj,
    objects,
    opt_arr,
    opt_int,
    opt_num,
    opt_obj,
    opt_objects,
    opt_str,
    req_str,
    safe_id,
    upstream_answer,
)
from ._schema import Budget, clean_for_gemini, from_gemini

__all__ = [
    "StreamDecoder",
    "StreamEncoder",
    "request_from_ir",
    "request_to_ir",
    "response_from_ir",
    "response_to_ir",
]

# --------------------------------------------------------------------------- request in


def _get(m: Raw, camel: str, snake: str) -> Any:
    return m.get(camel, m.get(snake))


def _user_parts(
    parts: list[Any], path: str, ci: int, pending: list[tuple[str, str]]
) -> tuple[ir.Part, ...]:
    out: list[ir.Part] = []
    for i, raw in enumerate(parts):
        p = f"{path}[{i}]"
        part = obj(raw, p)
        fr = _get(part, "functionResponse", "function_response")
        if isinstance(fr, Mapping):
            frp = p + ".functionResponse."
            name = req_str(fr, "name", frp)
            wanted = fr.get("id")
            match = next((c for c in pending if wanted and c[0] == wanted), None)
            if match is None:
                match = next((c for c in pending if c[1] == name), None)
            if match is not None:
                pending.remove(match)
                call_id = match[0]
            else:
                call_id = str(wanted) if wanted else f"call_{ci}_{i}"
            content, is_error = response_content(
                fr.get("response"), p + ".functionResponse.response"
            )
            extra = tuple(
                m
                for m in (media_part(x, xp) for xp, x in opt_objects(fr, "parts", frp))
                if m is not None
            )
            out.append(ir.ToolResult(call_id, name, content + extra, is_error))
        elif isinstance(part.get("text"), str):
            if part.get("thought") is not True:
                out.append(ir.Text(part["text"]))
        else:
            media = media_part(part, p)
            if media is not None:
                out.append(media)
    return tuple(out)


def _messages(contents: object) -> list[ir.Message]:
    messages: list[ir.Message] = []
    pending: list[tuple[str, str]] = []
    for ci, raw in enumerate(arr(contents, "contents")):
        p = f"contents[{ci}]"
        content = obj(raw, p)
        role = opt_str(content, "role", p + ".") or "user"
        parts = list(opt_arr(content, "parts", p + "."))
        if role == "model":

            def call_id(i: int, call: Raw, ci: int = ci) -> str:
                given = call.get("id")
                return safe_id(given) if isinstance(given, str) and given else f"call_{ci}_{i}"

            items = model_parts(parts, p + ".parts", call_id)
            pending = [(x.id, x.name) for x in items if isinstance(x, ir.ToolCall)]
            messages.append(ir.Message(ir.Role.ASSISTANT, items))
        elif role in ("user", "function", "tool"):
            messages.append(ir.Message(ir.Role.USER, _user_parts(parts, p + ".parts", ci, pending)))
        else:
            raise ir.TranslationError(p + ".role", f"unknown role {role!r}")
    return messages


def _tools(body: Raw) -> tuple[ir.Tool, ...]:
    out = []
    for tp, tool in opt_objects(body, "tools", ""):
        decls = _get(tool, "functionDeclarations", "function_declarations") or []
        for p, decl in objects(decls, tp + ".functionDeclarations"):
            schema = _get(decl, "parametersJsonSchema", "parameters_json_schema")
            if schema is None:
                schema = decl.get("parameters")
            params = (
                from_gemini(dict(obj(schema, p + ".parameters"))) if schema is not None else None
            )
            out.append(
                ir.Tool(
                    req_str(decl, "name", p + "."),
                    opt_str(decl, "description", p + ".") or "",
                    params if isinstance(params, dict) else {"type": "object", "properties": {}},
                )
            )
    return tuple(out)


def _tool_choice(body: Raw) -> ir.ToolChoice | None:
    cfg = _get(body, "toolConfig", "tool_config")
    if not isinstance(cfg, Mapping):
        return None
    fcc = _get(cfg, "functionCallingConfig", "function_calling_config")
    if not isinstance(fcc, Mapping):
        return None
    mode = str(fcc.get("mode") or "AUTO").upper()
    names = _get(fcc, "allowedFunctionNames", "allowed_function_names") or []
    if mode == "NONE":
        return ir.ToolChoice("none")
    if mode == "ANY":
        if isinstance(names, list) and len(names) == 1:
            return ir.ToolChoice("tool", str(names[0]))
        return ir.ToolChoice("required")
    return ir.ToolChoice("auto")


def _thinking(cfg: Raw) -> ir.Thinking | None:
    tc = _get(cfg, "thinkingConfig", "thinking_config")
    if not isinstance(tc, Mapping):
        return None
    budget = _get(tc, "thinkingBudget", "thinking_budget")
    level = _get(tc, "thinkingLevel", "thinking_level")
    include = bool(_get(tc, "includeThoughts", "include_thoughts"))
    if budget == 0:
        return ir.Thinking(enabled=False)
    return ir.Thinking(
        True,
        budget if isinstance(budget, int) and budget > 0 else None,
        str(level).lower() if isinstance(level, str) else None,
        include,
    )


def _response_format(cfg: Raw) -> ir.ResponseFormat | None:
    mime = _get(cfg, "responseMimeType", "response_mime_type")
    schema = _get(cfg, "responseJsonSchema", "response_json_schema")
    if schema is None:
        schema = _get(cfg, "responseSchema", "response_schema")
    if mime != "application/json":
        return None
    if isinstance(schema, Mapping):
        converted = from_gemini(dict(schema))
        return ir.ResponseFormat("json_schema", converted if isinstance(converted, dict) else {})
    return ir.ResponseFormat("json_object")


def request_to_ir(body: Mapping[str, Any]) -> ir.Request:
    b = obj(body, "body")
    if b.get("cachedContent") or b.get("cached_content"):
        raise ir.TranslationError(
            "cachedContent", "cached content lives at Google and cannot be translated"
        )
    system_raw = _get(b, "systemInstruction", "system_instruction")
    system: tuple[ir.Text, ...] = ()
    if isinstance(system_raw, str):
        system = (ir.Text(system_raw),)
    elif system_raw is not None:
        si = obj(system_raw, "systemInstruction")
        system = tuple(
            ir.Text(str(part.get("text")))
            for part in (
                obj(x, "systemInstruction.parts")
                for x in opt_arr(si, "parts", "systemInstruction.")
            )
            if isinstance(part.get("text"), str) and part.get("text")
        )
    cfg = obj(_get(b, "generationConfig", "generation_config") or {}, "generationConfig")
    n = opt_int(cfg, "candidateCount", "generationConfig.")
    if n is not None and n > 1:
        raise ir.TranslationError(
            "generationConfig.candidateCount", "only one candidate can be translated"
        )
    stops = _get(cfg, "stopSequences", "stop_sequences") or []
    return ir.Request(
        messages=tuple(_messages(b.get("contents"))),
        system=system,
        tools=_tools(b),
        tool_choice=_tool_choice(b),
        temperature=opt_num(cfg, "temperature", "generationConfig."),
        top_p=opt_num(cfg, "topP", "generationConfig.")
        if "topP" in cfg
        else opt_num(cfg, "top_p", "generationConfig."),
        top_k=opt_int(cfg, "topK", "generationConfig.")
        if "topK" in cfg
        else opt_int(cfg, "top_k", "generationConfig."),
        max_tokens=opt_int(cfg, "maxOutputTokens", "generationConfig.")
        or opt_int(cfg, "max_output_tokens", "generationConfig."),
        stop=tuple(str(s) for s in arr(stops, "generationConfig.stopSequences")),
        response_format=_response_format(cfg),
        thinking=_thinking(cfg),
        seed=opt_int(cfg, "seed", "generationConfig."),
        presence_penalty=opt_num(cfg, "presencePenalty", "generationConfig."),
        frequency_penalty=opt_num(cfg, "frequencyPenalty", "generationConfig."),
    )


# --------------------------------------------------------------------------- request out


def _user_parts_out(content: tuple[ir.Part, ...], names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for p in content:
        if isinstance(p, ir.ToolResult):
            # Gemini pairs by name: the call's name wins over what the client said.
            parts.append(
                function_response(dataclasses.replace(p, name=names.get(p.call_id, p.name)))
            )
            parts.extend(media_out(c) for c in p.content if isinstance(c, ir.Image))
        elif isinstance(p, ir.Text):
            parts.append({"text": p.text})
        elif isinstance(p, ir.Image):
            parts.append(media_out(p))
    return parts


def _budget_cap(model: str) -> int:
    """Largest thinkingBudget the model takes (Flash models stop at 24576)."""
    return 24576 if "flash" in model else 32768


def _thinking_config(t: ir.Thinking, model: str) -> dict[str, Any] | None:
    if not t.enabled:
        return None
    cfg: dict[str, Any] = {"includeThoughts": t.include_thoughts}
    if t.budget_tokens is not None:
        cfg["thinkingBudget"] = min(t.budget_tokens, _budget_cap(model))
    elif t.effort is not None:
        if "gemini-2" in model:
            cfg["thinkingBudget"] = min(thinking_budget(t), _budget_cap(model))
        else:
            cfg["thinkingLevel"] = "low" if t.effort in ("minimal", "low") else "high"
    return cfg


def _strip_foreign(messages: tuple[ir.Message, ...]) -> list[ir.Message]:
    return [
        ir.Message(
            m.role,
            tuple(p for p in m.content if not isinstance(p, ir.Reasoning) or replayable(p, FORMAT)),
        )
        for m in messages
    ]


def request_from_ir(req: ir.Request, model: str, stream: bool) -> dict[str, Any]:
    """A Gemini body; ``model`` and ``stream`` live in the URL, not here."""
    contents = []
    names = {p.id: p.name for m in req.messages for p in m.content if isinstance(p, ir.ToolCall)}
    for m in normalize_turns(_strip_foreign(req.messages), merge=True, system_as_user=True):
        if m.role is ir.Role.ASSISTANT:
            parts = model_parts_out(m.content, client=False)
            role = "model"
        else:
            parts = _user_parts_out(m.content, names)
            role = "user"
        if parts:
            contents.append({"role": role, "parts": parts})
    out: dict[str, Any] = {"contents": contents}
    system = [{"text": t.text} for t in req.system if t.text]
    if system:
        out["systemInstruction"] = {"parts": system}
    inlined = Budget()  # what $ref inlining may add, for every schema of the request
    if req.tools:
        decls = []
        for tool in req.tools:
            decl: dict[str, Any] = {"name": tool.name}
            if tool.description:
                decl["description"] = tool.description
            schema = clean_for_gemini(tool.parameters, inlined)
            if schema.get("properties"):
                decl["parametersJsonSchema"] = schema
            decls.append(decl)
        out["tools"] = [{"functionDeclarations": decls}]
        choice = req.tool_choice
        if choice is not None:
            mode = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}[choice.mode]
            fcc: dict[str, Any] = {"mode": mode}
            if choice.mode == "tool" and choice.name:
                fcc["allowedFunctionNames"] = [choice.name]
            out["toolConfig"] = {"functionCallingConfig": fcc}
    cfg: dict[str, Any] = {}
    put_present(
        cfg,
        (
            ("temperature", req.temperature),
            ("topP", req.top_p),
            ("presencePenalty", req.presence_penalty),
            ("frequencyPenalty", req.frequency_penalty),
            ("topK", req.top_k),
            ("maxOutputTokens", req.max_tokens),
            ("stopSequences", req.stop),
            ("seed", req.seed),
        ),
    )
    fmt = req.response_format
    if fmt is not None and fmt.type != "text":
        cfg["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema:
            cfg["responseJsonSchema"] = clean_for_gemini(fmt.schema, inlined)
    if req.thinking is not None:
        tc = _thinking_config(req.thinking, model)
        if tc is not None:
            cfg["thinkingConfig"] = tc
    if cfg:
        out["generationConfig"] = cfg
    return out


# --------------------------------------------------------------------------- responses


@upstream_answer
def response_to_ir(body: Mapping[str, Any]) -> ir.Response:
    b = obj(body, "body")
    rid = opt_str(b, "responseId", "") or ""
    base = safe_id(rid) if rid else uuid.uuid4().hex[:16]
    candidates = arr(b.get("candidates") or [], "candidates")
    content: tuple[ir.Part, ...] = ()
    finish: str | None = None
    if candidates:
        cand = obj(candidates[0], "candidates[0]")
        finish = opt_str(cand, "finishReason", "candidates[0].")
        c = opt_obj(cand, "content", "candidates[0].") or {}

        def call_id(i: int, call: Raw) -> str:
            given = call.get("id")
            return safe_id(given) if isinstance(given, str) and given else f"call_{base}_{i}"

        content = model_parts(
            list(opt_arr(c, "parts", "candidates[0].content.")),
            "candidates[0].content.parts",
            call_id,
        )
    else:
        feedback = opt_obj(b, "promptFeedback", "") or {}
        if feedback.get("blockReason"):
            finish = "SAFETY"
    has_calls = any(isinstance(p, ir.ToolCall) for p in content)
    return ir.Response(
        id=rid,
        model=opt_str(b, "modelVersion", "") or "",
        content=content,
        stop_reason=stop_from_wire(finish, has_calls),
        usage=usage_from_wire(opt_obj(b, "usageMetadata", "") or {}),
    )


def response_from_ir(resp: ir.Response, model: str) -> dict[str, Any]:
    parts = model_parts_out(resp.content, client=True)
    return {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": stop_to_wire(resp.stop_reason),
                "index": 0,
            }
        ],
        "usageMetadata": usage_to_wire(resp.usage),
        "modelVersion": model,
        "responseId": resp.id or uuid.uuid4().hex,
    }
