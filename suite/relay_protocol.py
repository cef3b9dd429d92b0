"""The ``/v1/ws`` relay protocol, shared by the router's hub and the aistudio service.

Wire-compatible with CLIProxyAPI's relay (``internal/wsrelay``): JSON text
frames ``{"id": ..., "type": ..., "payload": {...}}``, ``id`` a UUID per
request and empty for control frames. Sans-io: this module turns text into
typed frames and back; it never touches a socket.

    router -> service   http_request, cancel, auth_request, pong
    service -> router   http_response, stream_start, stream_chunk, stream_end,
                        error, ping; and from our own service only:
                        hello, status, auth_result

Extensions a CLIProxyAPI peer ignores: ``error.retry_after`` (seconds) and
``status.capacity`` (pages that can serve at all, busy or not).

Numbers are checked where they are read, so nothing downstream (logs, the
status page, dispatch arithmetic) meets a value it cannot hold: a status is
an HTTP status, a capacity a count from 0 to ``MAX_COUNT``, and the names a
service gives itself are at most ``MAX_NAME`` characters. A frame that breaks
these is a ``ProtocolError``; only an ``error`` frame is read leniently (a bad
status there becomes 502, a bad ``retry_after`` none), because dropping it
would leave its request waiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeAlias

import orjson

__all__ = [
    "AuthRequest",
    "AuthResult",
    "Cancel",
    "Error",
    "Frame",
    "Hello",
    "HttpRequest",
    "HttpResponse",
    "MAX_COUNT",
    "MAX_NAME",
    "Payload",
    "Ping",
    "Pong",
    "ProfileState",
    "ProtocolError",
    "Status",
    "StreamChunk",
    "StreamEnd",
    "StreamStart",
    "Unknown",
    "decode",
    "encode",
]

Headers: TypeAlias = Mapping[str, tuple[str, ...]]


#: The largest capacity (pages, requests at once) a service may announce.
MAX_COUNT = 10_000
#: The longest name a service may give itself or a profile.
MAX_NAME = 256
_STATUS = (100, 599)
_COUNT = (0, MAX_COUNT)
_MAX_RETRY_AFTER = 86_400.0


class ProtocolError(ValueError):
    """A frame that is not JSON, not shaped like ``{id, type, payload}``, or carrying a
    number or name out of its range."""


def _str(p: Mapping[str, Any], key: str, default: str = "", limit: int | None = None) -> str:
    v = p.get(key, default)
    if v is None:
        return default
    if not isinstance(v, str):
        raise ProtocolError(f"payload.{key}: expected a string")
    if limit is not None and len(v) > limit:
        raise ProtocolError(f"payload.{key}: longer than {limit} characters")
    return v


def _int(p: Mapping[str, Any], key: str, default: int, bounds: tuple[int, int]) -> int:
    v = p.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ProtocolError(f"payload.{key}: expected a number")
    low, high = bounds
    if not low <= v <= high:  # NaN fails too; so does 1e300, which int() would keep
        shown = repr(v) if len(repr(v)) <= 24 else repr(v)[:24] + "..."
        raise ProtocolError(f"payload.{key}: expected {low} to {high}, got {shown}")
    return int(v)


def _float(p: Mapping[str, Any], key: str, high: float) -> float | None:
    """A number from 0 to ``high``; anything else reads as absent (lenient)."""
    v = p.get(key)
    if v is None or isinstance(v, bool) or not isinstance(v, int | float):
        return None
    if not 0 <= v <= high:
        return None
    return float(v)


def _headers(p: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``{k: [v, ...]}`` as Go's http.Header encodes it; a plain string is accepted too."""
    raw = p.get("headers") or {}
    if not isinstance(raw, dict):
        raise ProtocolError("payload.headers: expected a mapping")
    out: dict[str, tuple[str, ...]] = {}
    for k, v in raw.items():
        if isinstance(v, str):
            out[str(k)] = (v,)
        elif isinstance(v, list):
            out[str(k)] = tuple(str(x) for x in v if isinstance(x, str))
    return out


def _headers_out(h: Headers) -> dict[str, list[str]]:
    return {k: list(v) for k, v in h.items()}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    TYPE: ClassVar[str] = "http_request"
    method: str
    url: str
    headers: Headers = field(default_factory=dict)
    body: str = ""
    sent_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": self.url,
            "headers": _headers_out(self.headers),
            "body": self.body,
            "sent_at": self.sent_at,
        }

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> HttpRequest:
        return cls(
            _str(p, "method", "POST"),
            _str(p, "url"),
            _headers(p),
            _str(p, "body"),
            _str(p, "sent_at"),
        )


@dataclass(frozen=True, slots=True)
class HttpResponse:
    TYPE: ClassVar[str] = "http_response"
    status: int = 200
    headers: Headers = field(default_factory=dict)
    body: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": _headers_out(self.headers), "body": self.body}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> HttpResponse:
        return cls(_int(p, "status", 200, _STATUS), _headers(p), _str(p, "body"))


@dataclass(frozen=True, slots=True)
class StreamStart:
    TYPE: ClassVar[str] = "stream_start"
    status: int = 200
    headers: Headers = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": _headers_out(self.headers)}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> StreamStart:
        return cls(_int(p, "status", 200, _STATUS), _headers(p))


@dataclass(frozen=True, slots=True)
class StreamChunk:
    TYPE: ClassVar[str] = "stream_chunk"
    data: str

    def to_json(self) -> dict[str, Any]:
        return {"data": self.data}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> StreamChunk:
        return cls(_str(p, "data"))


@dataclass(frozen=True, slots=True)
class _Empty:
    """A frame with an empty payload: nothing to read, nothing to write."""

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class StreamEnd(_Empty):
    TYPE: ClassVar[str] = "stream_end"


@dataclass(frozen=True, slots=True)
class Cancel(_Empty):
    TYPE: ClassVar[str] = "cancel"


@dataclass(frozen=True, slots=True)
class Ping(_Empty):
    TYPE: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class Pong(_Empty):
    TYPE: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class Error:
    """A request failed. ``status`` as an HTTP status (429 = rate limited, retryable)."""

    TYPE: ClassVar[str] = "error"
    error: str
    status: int = 502
    retry_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.error, "status": self.status}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Error:
        status = p.get("status")
        code = 502
        if isinstance(status, int | float) and not isinstance(status, bool):
            code = int(status) if 100 <= status <= 599 else 502
        retry = _float(p, "retry_after", _MAX_RETRY_AFTER)
        return cls(_str(p, "error") or "relay error", code, retry)


@dataclass(frozen=True, slots=True)
class AuthRequest:
    TYPE: ClassVar[str] = "auth_request"
    profile: str

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> AuthRequest:
        return cls(_str(p, "profile"))


@dataclass(frozen=True, slots=True)
class AuthResult:
    TYPE: ClassVar[str] = "auth_result"
    profile: str
    ok: bool
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "ok": self.ok, "error": self.error}

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> AuthResult:
        return cls(_str(p, "profile"), bool(p.get("ok")), _str(p, "error"))


@dataclass(frozen=True, slots=True)
class ProfileState:
    """``state``: ``ready``, ``login_required``, ``rate_limited``, ``starting`` or ``error``."""

    name: str
    state: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state}


def _profiles(p: Mapping[str, Any]) -> tuple[ProfileState, ...]:
    raw = p.get("profiles") or []
    if not isinstance(raw, list):
        raise ProtocolError("payload.profiles: expected a list")
    if len(raw) > MAX_COUNT:
        raise ProtocolError(f"payload.profiles: more than {MAX_COUNT}")
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(ProfileState(_str({"name": item}, "name", limit=MAX_NAME), "ready"))
        elif isinstance(item, dict):
            name = _str(item, "name", limit=MAX_NAME)
            out.append(ProfileState(name, _str(item, "state", "ready", MAX_NAME)))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Hello:
    TYPE: ClassVar[str] = "hello"
    service: str
    instance: str
    version: str
    capacity: int
    profiles: tuple[ProfileState, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "instance": self.instance,
            "version": self.version,
            "capacity": self.capacity,
            "profiles": [x.to_json() for x in self.profiles],
        }

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Hello:
        return cls(
            _str(p, "service", limit=MAX_NAME),
            _str(p, "instance", limit=MAX_NAME),
            _str(p, "version", limit=MAX_NAME),
            _int(p, "capacity", 0, _COUNT),
            _profiles(p),
        )


@dataclass(frozen=True, slots=True)
class Status:
    TYPE: ClassVar[str] = "status"
    capacity_free: int
    profiles: tuple[ProfileState, ...] = ()
    capacity: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "capacity_free": self.capacity_free,
            "profiles": [x.to_json() for x in self.profiles],
        }
        if self.capacity is not None:
            out["capacity"] = self.capacity
        return out

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Status:
        return cls(
            _int(p, "capacity_free", 0, _COUNT),
            _profiles(p),
            _int(p, "capacity", 0, _COUNT) if p.get("capacity") is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Unknown:
    """A frame type this side does not know; kept so the caller can log and ignore it."""

    type: str
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.raw)


Payload: TypeAlias = (
    HttpRequest
    | HttpResponse
    | StreamStart
    | StreamChunk
    | StreamEnd
    | Error
    | Cancel
    | Ping
    | Pong
    | AuthRequest
    | AuthResult
    | Hello
    | Status
    | Unknown
)

_TYPES: dict[str, Any] = {
    cls.TYPE: cls
    for cls in (
        HttpRequest,
        HttpResponse,
        StreamStart,
        StreamChunk,
        StreamEnd,
        Error,
        Cancel,
        Ping,
        Pong,
        AuthRequest,
        AuthResult,
        Hello,
        Status,
    )
}


@dataclass(frozen=True, slots=True)
class Frame:
    id: str
    payload: Payload

    @property
    def type(self) -> str:
        p = self.payload
        return p.type if isinstance(p, Unknown) else p.TYPE


def encode(frame_id: str, payload: Payload) -> str:
    """One text frame. Go's decoder takes ``payload`` as a JSON object, so it always is one."""
    kind = payload.type if isinstance(payload, Unknown) else payload.TYPE
    return orjson.dumps({"id": frame_id, "type": kind, "payload": payload.to_json()}).decode()


def decode(text: str | bytes) -> Frame:
    """Parse one frame; ``ProtocolError`` names what is wrong."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"frame is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError("frame is not a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("frame has no 'type'")
    fid = obj.get("id") or ""
    if not isinstance(fid, str):
        fid = str(fid)
    payload = obj.get("payload") or {}
    if not isinstance(payload, dict):
        raise ProtocolError("frame 'payload' is not an object")
    cls = _TYPES.get(kind)
    if cls is None:
        return Frame(fid, Unknown(kind, payload))
    return Frame(fid, cls.from_json(payload))
