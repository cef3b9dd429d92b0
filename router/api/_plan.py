"""What goes upstream for one client request, made once and handed to each attempt.

The client's body is parsed once (``router.api._body``) and serialized at most
once per upstream format and model: a same-format upstream gets the client's own
bytes, or those bytes with only the model's value spliced in
(``router.formats.replace_model``, docs/performance.md); another format gets the
translation of the request's IR, whose bytes the executor makes after its own
changes (``WireBody``). Each attempt gets its own fork of the body, and once an
answer has begun the whole request is let go (:meth:`Plan.release`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from router.executors import Action, UpstreamCall
from router.formats import (
    SIGNATURE_TAG,
    Format,
    WireBody,
    first_model,
    ir,
    replace_model,
    strip_foreign_signatures,
)
from router.state import Snapshot

from ._body import parse_json, read_raw
from ._head import Shape, fast_head
from ._translate import request_ir, translate_body

__all__ = ["Forward", "Plan", "read_forward"]


@dataclass(slots=True)
class Forward:
    """One client request, checked enough to route it.

    ``parsed`` is the body as data when the endpoint had to parse it whole (the
    fast check could not vouch for it: ``router.api._head``); otherwise the body
    is parsed only if something reads :attr:`body` (a translation, an executor's
    change, a session key from the conversation), and a body relayed as sent is
    never built at all.
    """

    fmt: Format
    model: str
    parsed: dict[str, Any] | None
    raw: bytes
    stream: bool
    action: Action = "generate"
    sse: bool = True  # Gemini streams: SSE (alt=sse) or a JSON array
    tagged: bool | None = None  # signatures tagged for another provider? None: not looked

    @property
    def body(self) -> dict[str, Any]:
        """The body as data, parsed (and its nesting checked) on first use."""
        data = self.parsed
        if data is None:
            data = self.parsed = parse_json(self.raw)
        return data


async def read_forward(
    request: web.Request,
    snap: Snapshot,
    fmt: Format,
    shape: Shape,
    check: Callable[[dict[str, Any]], tuple[str, bool]],
    *,
    path: tuple[str, bool] | None = None,
    sse: bool = True,
) -> Forward:
    """A turn's body read and checked enough to route it: by its head when the fast check
    vouches for it (``router.api._head``), else parsed whole and ``check``-ed, which names
    the wrong field (and returns the model and ``stream`` of a body the head refused but
    the endpoint accepts). ``path``: the model and ``stream`` the request's path gives
    (Gemini), which the body then only has to be valid for. A body whose model (the
    path's, or the body's first key) goes only to upstreams of other formats is parsed
    whole at once: its translation reads it all, and the fast check would be paid on top."""
    raw = await read_raw(request, snap.config.server.max_body_bytes)
    model = path[0] if path is not None else first_model(raw)
    head = fast_head(shape, raw) if model is None or _relayed(snap, fmt, model) else None
    body = None
    tagged = None
    if head is not None:
        found, tagged = (head.model, head.stream), head.tagged
    else:
        body = parse_json(raw)
        found = check(body)
    model, stream = path or found
    return Forward(fmt, model, body, raw, stream, sse=sse, tagged=tagged)


def _relayed(snap: Snapshot, fmt: Format, model: str) -> bool:
    """Whether a provider of ``model``'s rule speaks ``fmt`` (or no rule takes it)."""
    route = snap.table.route(model)
    if route is None:
        return True
    executors = snap.executors
    return any(
        (ex := executors.get(p.name)) is None or ex.wire is fmt for p in route.rule.providers
    )


class Plan:
    """What goes upstream, built once per request and per target format and model name
    (a rule's providers may know the model by different names)."""

    __slots__ = ("fwd", "headers", "client", "client_headers", "_ir", "_bodies")

    def __init__(self, fwd: Forward, headers: dict[str, str]) -> None:
        self.fwd = fwd
        self.headers = headers
        self.client = ""  # the client key's id; and its identifying headers (subscriptions)
        self.client_headers: Mapping[str, str] = {}
        self._ir: ir.Request | None = None
        self._bodies: dict[tuple[Format, str], WireBody] = {}

    def passthrough_body(self, model: str) -> WireBody:
        """The client's body for an upstream of its own format, one per attempt (its edits
        its own): the bytes as they came, or with only the model's value replaced when the
        upstream knows the model by another name (docs/performance.md)."""
        key = (self.fwd.fmt, model)
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = _same_format(self.fwd, model)
        return body.fork()

    def request_ir(self) -> ir.Request:
        if self._ir is None:
            self._ir = request_ir(self.fwd.fmt, self.fwd.body)
        return self._ir

    def body_for(self, target: Format, model: str) -> WireBody:
        """The translated body, made once per format and model; one per attempt."""
        body = self._bodies.get((target, model))
        if body is None:
            body = translate_body(self.request_ir(), target, model, self.fwd.stream)
            self._bodies[(target, model)] = body
        return body.fork()

    def call(self, body: WireBody, model: str, *, same_format: bool) -> UpstreamCall:
        fwd = self.fwd
        return UpstreamCall(
            action=fwd.action,
            model=model,
            body=body,
            stream=fwd.stream,
            forward_headers=self.headers if same_format else {},
            sse=fwd.sse if same_format else True,
            client=self.client,
            client_headers=self.client_headers if same_format else {},
            request=None if same_format else self._ir,
        )

    def release(self) -> None:
        """An answer has begun: no other candidate will be tried, so the request is not
        needed again. Drop it in every form (bytes, parsed, IR, translated), or a stream
        that lasts minutes keeps several copies of a body that may be megabytes."""
        self._ir = None
        self._bodies.clear()
        self.fwd.parsed = {}
        self.fwd.raw = b""


def _same_format(fwd: Forward, model: str) -> WireBody:
    """The client's body for an upstream of its own format and ``model``: its own bytes,
    or those with the model's value spliced in; serialized from the parsed data only
    when the splice cannot be made for sure, or when signatures tagged for another
    provider must go (after a failover). The data is parsed only if an executor reads
    it (``WireBody.lazy``)."""
    if fwd.tagged if fwd.tagged is not None else _tagged(fwd.raw):
        stripped = strip_foreign_signatures(fwd.fmt, fwd.body)
        if stripped is not None:
            return WireBody(stripped if fwd.fmt is Format.GEMINI else {**stripped, "model": model})
    if fwd.fmt is Format.GEMINI or model == fwd.model:  # Gemini: the model is in the URL
        return WireBody.lazy(fwd.raw, lambda: fwd.body)
    spliced = replace_model(fwd.raw, fwd.model, model, fwd.parsed)
    if spliced is None and fwd.parsed is None:  # not the first key: the key order says
        spliced = replace_model(fwd.raw, fwd.model, model, fwd.body)
    if spliced is None:
        return WireBody({**fwd.body, "model": model})
    return WireBody.lazy(spliced, lambda: {**fwd.body, "model": model})


_TAG_START = SIGNATURE_TAG[:1]


def _tagged(raw: bytes) -> bool:
    """``SIGNATURE_TAG in raw``, found through its first byte (``z``, rare in JSON and
    prose): a one-byte ``find`` runs at memchr speed, a four-byte one scans byte by byte
    (84 us for Claude Code's 88 KB turn, against 11 here)."""
    at = raw.find(_TAG_START)
    while at >= 0:
        if raw.startswith(SIGNATURE_TAG, at):
            return True
        at = raw.find(_TAG_START, at + 1)
    return False
