"""Gemini API in and out: a relayed request becomes one prompt; page text becomes Gemini JSON.

The page answers plain text, so the service speaks the subset of
``generateContent`` a chat UI can honour: system text, the conversation,
temperature, top_p, max output tokens and stop sequences. Tool calls and
results are written into the prompt as text; images and files are refused
with 400 (the UI upload path is not driven).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "Job",
    "RequestError",
    "StreamRenderer",
    "Target",
    "build_job",
    "full_response",
    "parse_target",
]

_PATH = re.compile(r"/models/([^/:]+):([A-Za-z]+)\Z")


class RequestError(Exception):
    """A request this service cannot serve; ``status`` goes back in the ``error`` frame."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    model: str
    action: str  # generateContent | streamGenerateContent | countTokens
    sse: bool

    @property
    def stream(self) -> bool:
        return self.action == "streamGenerateContent"


def parse_target(url: str, suffix: str = "") -> Target:
    parts = urlsplit(url)
    m = _PATH.search(parts.path)
    if m is None:
        raise RequestError(404, f"not a Gemini model URL: {parts.path}")
    model, action = unquote(m.group(1)), m.group(2)
    if action not in ("generateContent", "streamGenerateContent", "countTokens"):
        raise RequestError(404, f"unsupported action {action!r}")
    if suffix and model.endswith(suffix):
        model = model[: -len(suffix)]
    alt = parse_qs(parts.query).get("alt", [""])[0] or parse_qs(parts.query).get("$alt", [""])[0]
    return Target(model, action, alt == "sse")


@dataclass(frozen=True, slots=True)
class Job:
    """What the page is asked: one prompt and the sampling settings the UI exposes."""

    model: str
    prompt: str
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()

    @property
    def prompt_tokens(self) -> int:
        return max(1, math.ceil(len(self.prompt) / 4))


def _part_text(part: Any) -> str:
    if not isinstance(part, dict):
        return ""
    if part.get("thought"):
        return ""
    if isinstance(part.get("text"), str):
        return str(part["text"])
    call = part.get("functionCall") or part.get("function_call")
    if isinstance(call, dict):
        return f"[tool call {call.get('name')}: {json.dumps(call.get('args') or {}, ensure_ascii=False)}]"
    res = part.get("functionResponse") or part.get("function_response")
    if isinstance(res, dict):
        body = json.dumps(res.get("response") or {}, ensure_ascii=False)
        return f"[tool result {res.get('name')}: {body}]"
    if "inlineData" in part or "inline_data" in part or "fileData" in part or "file_data" in part:
        raise RequestError(400, "the aistudio relay accepts text only (no images or files)")
    return ""


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        parts = content.get("parts") or []
        if isinstance(parts, list):
            return "".join(_part_text(p) for p in parts)
    return ""


def build_job(body: Any, model: str) -> Job:
    """The prompt for the page: system text first, then the turns (labelled when several)."""
    if not isinstance(body, dict):
        raise RequestError(400, "request body must be a JSON object")
    system = _text(body.get("systemInstruction") or body.get("system_instruction")).strip()
    contents = body.get("contents") or []
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise RequestError(400, "contents is required")
    turns: list[tuple[str, str]] = []
    for c in contents:
        role = c.get("role", "user") if isinstance(c, dict) else "user"
        text = _text(c).strip()
        if text:
            turns.append(("Model" if role == "model" else "User", text))
    if not turns:
        raise RequestError(400, "contents has no text")
    if len(turns) == 1 and not system:
        prompt = turns[0][1]
    else:
        blocks = [f"System instructions:\n{system}"] if system else []
        blocks += [f"{who}:\n{text}" for who, text in turns]
        prompt = "\n\n".join(blocks)
    cfg = body.get("generationConfig") or body.get("generation_config") or {}
    if not isinstance(cfg, dict):
        cfg = {}
    stop = cfg.get("stopSequences") or cfg.get("stop_sequences") or []
    return Job(
        model=model,
        prompt=prompt,
        temperature=_num(cfg, "temperature"),
        top_p=_num(cfg, "topP", "top_p"),
        max_tokens=_int(cfg, "maxOutputTokens", "max_output_tokens"),
        stop=tuple(s for s in stop if isinstance(s, str) and s)[:5],
    )


def _num(cfg: dict[str, Any], *keys: str) -> float | None:
    for k in keys:
        v = cfg.get(k)
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    return None


def _int(cfg: dict[str, Any], *keys: str) -> int | None:
    v = _num(cfg, *keys)
    return int(v) if v is not None and v > 0 else None


def _usage(prompt_tokens: int, text: str, thoughts: str) -> dict[str, int]:
    out_tokens = math.ceil(len(text) / 4)
    thought_tokens = math.ceil(len(thoughts) / 4)
    usage = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": out_tokens,
        "totalTokenCount": prompt_tokens + out_tokens + thought_tokens,
    }
    if thought_tokens:
        usage["thoughtsTokenCount"] = thought_tokens
    return usage


def _candidate(parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        cand["finishReason"] = finish
    return cand


def full_response(job: Job, text: str, thoughts: str) -> str:
    """A non-streaming ``GenerateContentResponse``."""
    parts: list[dict[str, Any]] = []
    if thoughts:
        parts.append({"text": thoughts, "thought": True})
    parts.append({"text": text})
    body = {
        "candidates": [_candidate(parts, "STOP")],
        "usageMetadata": _usage(job.prompt_tokens, text, thoughts),
        "modelVersion": job.model,
    }
    return json.dumps(body, ensure_ascii=False)


class StreamRenderer:
    """Gemini stream chunks: SSE (``data: {...}\\r\\n\\r\\n``) or one JSON array."""

    def __init__(self, job: Job, sse: bool) -> None:
        self.job = job
        self.sse = sse
        self.text = ""
        self.thoughts = ""
        self._opened = False

    def _frame(self, obj: dict[str, Any]) -> str:
        data = json.dumps(obj, ensure_ascii=False)
        if self.sse:
            return f"data: {data}\r\n\r\n"
        lead = ",\r\n" if self._opened else "["
        self._opened = True
        return lead + data

    def delta(self, kind: str, text: str) -> str:
        if kind == "thinking":
            self.thoughts += text
            part: dict[str, Any] = {"text": text, "thought": True}
        else:
            self.text += text
            part = {"text": text}
        return self._frame(
            {"candidates": [_candidate([part], None)], "modelVersion": self.job.model}
        )

    def final(self, finish: str = "STOP") -> str:
        chunk = {
            "candidates": [_candidate([{"text": ""}], finish)],
            "usageMetadata": _usage(self.job.prompt_tokens, self.text, self.thoughts),
            "modelVersion": self.job.model,
        }
        out = self._frame(chunk)
        return out if self.sse else out + "]"
