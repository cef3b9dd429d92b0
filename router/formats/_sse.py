"""Incremental Server-Sent Events parser.

Upstream bytes arrive in arbitrary pieces; this turns them into whole events
(``event`` name or None, ``data`` bytes) as soon as each is complete, keeping
only the unfinished tail. Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends,
multi-line data, and comment lines (``: ping``), which are skipped.
"""

from __future__ import annotations

__all__ = ["SSEParser"]


class SSEParser:
    __slots__ = ("_buf", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Add bytes; return the events they completed."""
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            # Normalise; a trailing lone \r may be half of \r\n, keep it back.
            keep_cr = buf.endswith(b"\r")
            buf = buf[:-1] if keep_cr else buf
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep_cr:
                buf += b"\r"
        out: list[tuple[str | None, bytes]] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            self._line(line, out)
        self._buf = buf[start:]
        return out

    def finish(self) -> list[tuple[str | None, bytes]]:
        """The stream ended: flush an event that lacked its blank line."""
        out: list[tuple[str | None, bytes]] = []
        if self._buf:
            self._line(self._buf.rstrip(b"\r"), out)
            self._buf = b""
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[tuple[str | None, bytes]]) -> None:
        if not line:
            if self._data:
                out.append((self._event, b"\n".join(self._data)))
            self._event = None
            self._data = []
            return
        if line[0:1] == b":":
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
