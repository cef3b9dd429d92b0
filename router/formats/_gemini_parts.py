"""Gemini ``Part`` objects <-> IR parts, shared by requests, responses and streams.

Gemini has no thinking blocks of its own: reasoning is a run of parts with
``thought: true``, and a ``thoughtSignature`` may sit on any part (the first
``functionCall`` of a step, or the last part of a text answer). In the IR:

* consecutive thought parts -> one ``Reasoning`` (text joined, their signature);
* a signature on a non-thought part -> ``Reasoning("", signature)`` right
  before the IR part it came with.

The way out is the mirror image: a text-less signed ``Reasoning`` puts its
signature on the next part; one with text becomes a thought part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import ir
from ._common import export_signature, import_signature, replayable, result_text
from ._json import (
    Raw,
    args_object,
    args_text,
    dumps,
    guess_media_type,
    int_of,
    obj,
    req_str,
    safe_id,
)

FORMAT = ir.Format.GEMINI
SKIP_SIGNATURE = "skip_thought_signature_validator"  # Google's value for foreign histories

_STOP_IN = {
    "STOP": ir.StopReason.END_TURN,
    "MAX_TOKENS": ir.StopReason.MAX_TOKENS,
    "SAFETY": ir.StopReason.CONTENT_FILTER,
    "RECITATION": ir.StopReason.CONTENT_FILTER,
    "BLOCKLIST": ir.StopReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": ir.StopReason.CONTENT_FILTER,
    "SPII": ir.StopReason.CONTENT_FILTER,
    "IMAGE_SAFETY": ir.StopReason.CONTENT_FILTER,
    "LANGUAGE": ir.StopReason.CONTENT_FILTER,
}
_STOP_OUT = {
    ir.StopReason.END_TURN: "STOP",
    ir.StopReason.TOOL_USE: "STOP",
    ir.StopReason.STOP_SEQUENCE: "STOP",
    ir.StopReason.MAX_TOKENS: "MAX_TOKENS",
    ir.StopReason.CONTENT_FILTER: "SAFETY",
    ir.StopReason.ERROR: "OTHER",
}


def stop_from_wire(reason: str | None, has_calls: bool) -> ir.StopReason:
    if reason in (None, "", "STOP", "FINISH_REASON_UNSPECIFIED"):
        return ir.StopReason.TOOL_USE if has_calls else ir.StopReason.END_TURN
    return _STOP_IN.get(str(reason), ir.StopReason.ERROR)


def stop_to_wire(reason: ir.StopReason) -> str:
    return _STOP_OUT[reason]


def usage_from_wire(u: Mapping[str, Any]) -> ir.Usage:
    thoughts = int_of(u.get("thoughtsTokenCount"))
    return ir.Usage(
        input_tokens=int_of(u.get("promptTokenCount")) + int_of(u.get("toolUsePromptTokenCount")),
        output_tokens=int_of(u.get("candidatesTokenCount")) + thoughts,
        cached_input_tokens=int_of(u.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
    )


def usage_to_wire(u: ir.Usage) -> dict[str, int]:
    out = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": max(u.output_tokens - u.reasoning_tokens, 0),
        "totalTokenCount": u.input_tokens + u.output_tokens,
    }
    if u.reasoning_tokens:
        out["thoughtsTokenCount"] = u.reasoning_tokens
    if u.cached_input_tokens:
        out["cachedContentTokenCount"] = u.cached_input_tokens
    return out


# --------------------------------------------------------------------------- in


def inline_of(part: Raw) -> Raw | None:
    value = part.get("inlineData", part.get("inline_data"))
    return value if isinstance(value, Mapping) else None


def file_of(part: Raw) -> Raw | None:
    value = part.get("fileData", part.get("file_data"))
    return value if isinstance(value, Mapping) else None


def media_part(part: Raw, path: str) -> ir.Image | None:
    inline = inline_of(part)
    if inline is not None:
        mime = inline.get("mimeType", inline.get("mime_type"))
        return ir.Image(
            str(mime or "application/octet-stream"),
            data=req_str(inline, "data", path + ".inlineData."),
        )
    file = file_of(part)
    if file is not None:
        uri = file.get("fileUri", file.get("file_uri"))
        if not isinstance(uri, str):
            raise ir.TranslationError(path + ".fileData.fileUri", "required")
        mime = file.get("mimeType", file.get("mime_type"))
        return ir.Image(str(mime or guess_media_type(uri)), url=uri)
    return None


def signature_of(part: Raw) -> tuple[str, ir.Format] | None:
    sig = part.get("thoughtSignature", part.get("thought_signature"))
    if not isinstance(sig, str) or not sig:
        return None
    return import_signature(sig, FORMAT)


def model_parts(parts: list[Any], path: str, call_id: Any) -> tuple[ir.Part, ...]:
    """Parts of a ``model`` turn. ``call_id(index, function_call)`` names calls."""
    out: list[ir.Part] = []
    run: list[str] = []
    run_sig: tuple[str, ir.Format] | None = None

    def close_run() -> None:
        nonlocal run_sig
        if run or run_sig:
            sig, source = run_sig if run_sig else (None, FORMAT)
            out.append(ir.Reasoning("".join(run), sig, False, source))
        run.clear()
        run_sig = None

    for i, raw in enumerate(parts):
        p = f"{path}[{i}]"
        part = obj(raw, p)
        sig = signature_of(part)
        if part.get("thought") is True:
            if run_sig is not None:
                close_run()
            run.append(str(part.get("text") or ""))
            run_sig = sig or run_sig
            continue
        close_run()
        if sig is not None:
            out.append(ir.Reasoning("", sig[0], False, sig[1]))
        call = part.get("functionCall", part.get("function_call"))
        if isinstance(call, Mapping):
            name = req_str(call, "name", p + ".functionCall.")
            out.append(ir.ToolCall(call_id(i, call), name, args_text(call.get("args"))))
        elif isinstance(part.get("text"), str):
            if part["text"]:  # an empty text part only carries a signature
                out.append(ir.Text(part["text"]))
        else:
            media = media_part(part, p)
            if media is not None:
                out.append(media)
    close_run()
    return tuple(out)


def response_content(resp: object, path: str) -> tuple[tuple[ir.ContentPart, ...], bool]:
    """``functionResponse.response`` -> (content, is_error)."""
    if isinstance(resp, Mapping):
        if set(resp) == {"error"}:
            value = resp["error"]
            return (ir.Text(value if isinstance(value, str) else dumps(value)),), True
        if len(resp) == 1:
            key, value = next(iter(resp.items()))
            if key in ("output", "result", "content") and isinstance(value, str):
                return (ir.Text(value),), False
    if resp is None:
        return (), False
    return (ir.Text(dumps(resp)),), False


# --------------------------------------------------------------------------- out


def media_out(img: ir.Image) -> dict[str, Any]:
    if img.data is not None:
        return {"inlineData": {"mimeType": img.media_type, "data": img.data}}
    return {"fileData": {"mimeType": img.media_type, "fileUri": img.url or ""}}


def function_response(result: ir.ToolResult) -> dict[str, Any]:
    key = "error" if result.is_error else "output"
    return {
        "functionResponse": {
            "name": result.name or "unknown_tool",
            "response": {key: result_text(result)},
        }
    }


def model_parts_out(content: tuple[ir.Part, ...], *, client: bool) -> list[dict[str, Any]]:
    """IR parts of an assistant turn -> Gemini parts.

    ``client`` renders for a Gemini client (every signature, tagged when
    foreign; call ids included); otherwise for the Gemini upstream (only its own
    signatures; a turn with calls but no signature gets Google's skip value).
    """
    parts: list[dict[str, Any]] = []
    pending: str | None = None
    for p in content:
        if isinstance(p, ir.Reasoning):
            if p.redacted or not p.signature and not (client and p.text):
                continue
            if not client and not replayable(p, FORMAT):
                continue
            sig = export_signature(p.signature, p.source, FORMAT) if p.signature else None
            if p.text:
                part: dict[str, Any] = {"text": p.text, "thought": True}
                if sig:
                    part["thoughtSignature"] = sig
                parts.append(part)
            elif sig:
                pending = sig
            continue
        if isinstance(p, ir.Text):
            part = {"text": p.text}
        elif isinstance(p, ir.Image):
            part = media_out(p)
        elif isinstance(p, ir.ToolCall):
            call: dict[str, Any] = {"name": p.name, "args": args_object(p.arguments)}
            if client:
                call = {"id": safe_id(p.id), **call}
            part = {"functionCall": call}
        else:
            continue
        if pending is not None:
            part["thoughtSignature"] = pending
            pending = None
        parts.append(part)
    if pending is not None:  # Gemini's own shape for a signature closing a text answer
        parts.append({"text": "", "thoughtSignature": pending})
    if not client:
        calls = [q for q in parts if "functionCall" in q]
        if calls and "thoughtSignature" not in calls[0]:
            calls[0]["thoughtSignature"] = SKIP_SIGNATURE
    return parts
