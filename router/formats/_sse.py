"""Incremental Server-Sent Events parser.

Upstream bytes arrive in arbitrary pieces; this turns them into whole events
(``event`` name or None, ``data`` bytes) as soon as each is complete, keeping
only the unfinished tail. Handles ``\\n``, ``\\r\\n`` and ``\\r`` line ends,
multi-line data, and comment lines (``: ping``), which are skipped.

The common case (``\\n`` line ends, whole events) takes a fast path that
splits on blank lines and reads each block's few lines directly; anything
else goes line by line.

Memory and time stay linear in the input: while a line is open, pieces that
do not end it are only collected and joined once when its line end comes
(concatenating each piece to the tail would copy the tail again every time).
How long a line may get is the executor's to bound (``max_sse_line_bytes``).
"""

from __future__ import annotations

__all__ = ["SSEParser"]


class SSEParser:
    __slots__ = ("_buf", "_more", "_event", "_data")

    def __init__(self) -> None:
        self._buf = b""
        self._more: list[bytes] = []  # pieces of the open line that follow _buf
        self._event: str | None = None
        self._data: list[bytes] = []

    def idle(self) -> bool:
        """Whether nothing is pending: the next byte starts a new line of a new event."""
        return not self._buf and not self._more and not self._data and self._event is None

    def feed(self, chunk: bytes) -> list[tuple[str | None, bytes]]:
        """Add bytes; return the events they completed."""
        if not self._buf:
            if chunk[-2:] == b"\n\n" and not self._data and self._event is None:
                one = self._one(chunk)
                if one is not None:
                    return [one]
            buf = chunk
        elif b"\n" not in chunk and b"\r" not in chunk and self._buf[-1:] != b"\r":
            self._more.append(chunk)  # the open line goes on: nothing completes yet
            return []
        elif self._more:
            buf = b"".join((self._buf, *self._more, chunk))
            self._more = []
        else:
            buf = self._buf + chunk
        out: list[tuple[str | None, bytes]] = []
        if b"\r" in buf:
            # Normalise; a trailing lone \r may be half of \r\n, keep it back.
            keep_cr = buf.endswith(b"\r")
            buf = buf[:-1] if keep_cr else buf
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if keep_cr:
                buf += b"\r"
        elif not self._data and self._event is None:
            return self._fast(buf, out)
        else:
            # An event was split across reads: finish it line by line, then go fast again.
            rest = self._finish_event(buf, out)
            return out if rest is None else self._fast(rest, out)
        self._lines(buf, out)
        return out

    @staticmethod
    def _one(chunk: bytes) -> tuple[str | None, bytes] | None:
        """The event of a chunk that is exactly one simple event (:meth:`_simple`) and
        its blank line, how upstreams write nearly every event; None for any other chunk,
        found without copying it."""
        if b"\r" in chunk:
            return None
        return SSEParser._simple(chunk, len(chunk) - 2)

    @staticmethod
    def _simple(block: bytes, end: int) -> tuple[str | None, bytes] | None:
        """The event of ``block[:end]`` (no CR in it) when that is one ``data:`` line, or
        an ``event:`` and a ``data:`` line; None for anything else."""
        first = block.find(b"\n", 0, end)
        event: str | None = None
        at = 0
        if first >= 0:
            if not block.startswith(b"event:") or block.find(b"\n", first + 1, end) >= 0:
                return None
            name = block[6:first]
            event = (name[1:] if name[:1] == b" " else name).decode("utf-8", "replace")
            at = first + 1
        if not block.startswith(b"data:", at):
            return None
        at += 5
        if block[at : at + 1] == b" ":
            at += 1
        return event, block[at:end]

    def _finish_event(self, buf: bytes, out: list[tuple[str | None, bytes]]) -> bytes | None:
        """Read lines up to the blank line that ends the pending event; return what follows
        (None when the buffer ran out first, its tail kept for the next read)."""
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                self._buf = buf[start:]
                return None
            line = buf[start:nl]
            start = nl + 1
            self._line(line, out)
            if not line:
                return buf[start:]

    def _fast(
        self, buf: bytes, out: list[tuple[str | None, bytes]]
    ) -> list[tuple[str | None, bytes]]:
        blocks = buf.split(b"\n\n")
        self._buf = b""
        tail = blocks.pop()
        simple = self._simple
        for block in blocks:
            if not block:
                continue
            one = simple(block, len(block))
            if one is not None:
                out.append(one)
                continue
            event: str | None = None
            data: list[bytes] = []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    value = line[5:]
                    data.append(value[1:] if value[:1] == b" " else value)
                elif line.startswith(b"event:"):
                    name = line[6:]
                    event = (name[1:] if name[:1] == b" " else name).decode("utf-8", "replace")
                elif line and line[:1] != b":":
                    continue  # id:, retry: and unknown fields carry nothing we use
            if data:
                out.append((event, b"\n".join(data)))
        if tail:
            self._lines(tail, out)
        return out

    def _lines(self, buf: bytes, out: list[tuple[str | None, bytes]]) -> None:
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            self._line(buf[start:nl], out)
            start = nl + 1
        self._buf = buf[start:]

    def finish(self) -> list[tuple[str | None, bytes]]:
        """The stream ended: flush an event that lacked its blank line."""
        out: list[tuple[str | None, bytes]] = []
        if self._more:
            self._buf = b"".join((self._buf, *self._more))
            self._more = []
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
