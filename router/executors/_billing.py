"""Claude Code's billing header and the ids that keep a conversation together.

``system[0]`` of every Claude Code request is ``x-anthropic-billing-header:
cc_version=<version>.<3 hex>; cc_entrypoint=<entrypoint>;``. The 3 hex are
``sha256("59cf53e54c78" + m[4] + m[7] + m[20] + version)[:3]`` where ``m``
is the prompt the user typed (the first user message's last text block
after the ``<system-reminder>`` blocks), indexed as JavaScript does (UTF-16
code units), a missing index counting as ``"0"``. Toward the real API the
header also carries ``cch=<5 hex>;``: the low 20 bits of xxHash64 (seeded)
of the serialized body written with ``cch=00000`` in its place.

Conversation ids are derived, not stored: the same client key and the same
opening of a conversation give the same id in every worker and after a
restart, which is what the upstream's prompt cache is keyed on.
"""

from __future__ import annotations

import hashlib
from typing import Any

try:  # the C implementation when installed; the pure one below otherwise
    import xxhash as _xxhash  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _xxhash = None

__all__ = [
    "CCH_PLACEHOLDER",
    "billing_header",
    "billing_suffix",
    "conversation_id",
    "prompt_text",
    "sign_body",
    "xxh64",
]

_SALT = "59cf53e54c78"
_PICKS = (4, 7, 20)
_CCH_SEED = 0x6E52736AC806831E
CCH_PLACEHOLDER = "cch=00000"
_REMINDER = "<system-reminder>"


def prompt_text(messages: Any) -> str:
    """What the user typed: the first user message's last text block that is not a
    ``<system-reminder>`` (or its last text block, or the message when it is a string)."""
    if not isinstance(messages, list):
        return ""
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            return content
        texts: list[str] = [
            b["text"]
            for b in content or ()
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        typed = [t for t in texts if not t.startswith(_REMINDER)]
        return (typed or texts or [""])[-1]
    return ""


def _js_char(units: bytes, index: int) -> str:
    """``text[index]`` as JavaScript reads it (UTF-16 code units; "0" past the end)."""
    unit = units[2 * index : 2 * index + 2]
    if len(unit) < 2:
        return "0"
    return unit.decode("utf-16-le", "replace")  # a lone surrogate hashes as U+FFFD, as in Node


def billing_suffix(prompt: str, version: str) -> str:
    units = prompt.encode("utf-16-le", "surrogatepass")
    picked = "".join(_js_char(units, i) for i in _PICKS)
    return hashlib.sha256(f"{_SALT}{picked}{version}".encode()).hexdigest()[:3]


def billing_header(prompt: str, version: str, entrypoint: str, cch: bool) -> str:
    text = (
        f"x-anthropic-billing-header: cc_version={version}.{billing_suffix(prompt, version)};"
        f" cc_entrypoint={entrypoint};"
    )
    return f"{text} {CCH_PLACEHOLDER};" if cch else text


def sign_body(data: bytes) -> bytes:
    """The body with its ``cch=00000`` placeholder replaced by the body's hash."""
    at = data.find(CCH_PLACEHOLDER.encode())
    if at < 0:
        return data
    value = f"cch={xxh64(data, _CCH_SEED) & 0xFFFFF:05x}".encode()
    return data[:at] + value + data[at + len(CCH_PLACEHOLDER) :]


def conversation_id(client: str, opening: bytes) -> str:
    """A UUID (version 7 layout, like the clients' own) for one client's conversation."""
    digest = bytearray(hashlib.sha256(client.encode() + b"\0" + opening).digest()[:16])
    digest[6] = 0x70 | (digest[6] & 0x0F)
    digest[8] = 0x80 | (digest[8] & 0x3F)
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# -- xxHash64 (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md) ------------

_M = 0xFFFFFFFFFFFFFFFF
_P1 = 0x9E3779B185EBCA87
_P2 = 0xC2B2AE3D27D4EB4F
_P3 = 0x165667B19E3779F9
_P4 = 0x85EBCA77C2B2AE63
_P5 = 0x27D4EB2F165667C5


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _M
    return (_rotl(acc, 31) * _P1) & _M


def _merge(acc: int, val: int) -> int:
    acc ^= _round(0, val)
    return (acc * _P1 + _P4) & _M


def xxh64(data: bytes, seed: int = 0) -> int:
    """xxHash64 of ``data``: the C library when installed, else this spec implementation
    (a few milliseconds for a large request; used only toward the real API)."""
    if _xxhash is not None:
        return int(_xxhash.xxh64_intdigest(data, seed))
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _M
        v2 = (seed + _P2) & _M
        v3 = seed & _M
        v4 = (seed - _P1) & _M
        limit = n - 32
        from_bytes = int.from_bytes
        while i <= limit:
            v1 = _round(v1, from_bytes(data[i : i + 8], "little"))
            v2 = _round(v2, from_bytes(data[i + 8 : i + 16], "little"))
            v3 = _round(v3, from_bytes(data[i + 16 : i + 24], "little"))
            v4 = _round(v4, from_bytes(data[i + 24 : i + 32], "little"))
            i += 32
        acc = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _M
        for v in (v1, v2, v3, v4):
            acc = _merge(acc, v)
    else:
        acc = (seed + _P5) & _M
    acc = (acc + n) & _M
    while i + 8 <= n:
        acc ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        acc = (_rotl(acc, 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        acc ^= (int.from_bytes(data[i : i + 4], "little") * _P1) & _M
        acc = (_rotl(acc, 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        acc ^= (data[i] * _P5) & _M
        acc = (_rotl(acc, 11) * _P1) & _M
        i += 1
    acc ^= acc >> 33
    acc = (acc * _P2) & _M
    acc ^= acc >> 29
    acc = (acc * _P3) & _M
    acc ^= acc >> 32
    return acc
