"""An honest, cheap token estimate for when no upstream can count.

Roughly four characters per token for English text and code, which is what
the providers' own rules of thumb say. Used only when the routed provider
has no counting endpoint; the response says nothing more precise than that.
"""

from __future__ import annotations

from typing import Any

__all__ = ["estimate_tokens"]

_SKIP_KEYS = frozenset(
    {"type", "role", "model", "id", "tool_use_id", "media_type", "mimeType", "signature"}
)


def estimate_tokens(body: Any) -> int:
    chars = 0
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            chars += len(item)
        elif isinstance(item, dict):
            for k, v in item.items():
                if k in _SKIP_KEYS:
                    continue
                if k in ("data", "url") and isinstance(v, str) and len(v) > 1000:
                    chars += 1000 * 4  # an image: ~1,000 tokens whatever its byte size
                    continue
                stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return max(1, (chars + 3) // 4)
