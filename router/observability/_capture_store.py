"""Where captures go: a size-capped ring of files, one per request id.

``logging.capture`` (docs/observability.md): each captured request becomes
``<dir>/<request id>.json`` (mode 0600, the directory 0700, written whole:
temp file and rename). Once the files pass ``max_mb`` the oldest go. The
request path only puts the record on a bounded queue (a full queue drops the
record and counts it); a writer thread decodes the bodies, removes what could
be a secret (auth headers dropped, every known key and token and everything
shaped like one masked: ``suite.logging.redact``), writes the file and
trims the ring. With several router workers each keeps ``max_mb / workers``
in the shared directory, and any of them finds any capture by its id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import threading
from collections import deque
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from suite.config import Config, ConfigError, load_config
from suite.files import private_dir, write_private
from suite.logging import get_logger, redact

from ._capture import Capture, CapturedBody

__all__ = ["CaptureStore", "show_request"]

log = get_logger("router.capture")

BODY_LIMIT = 1024 * 1024  # bytes of one body kept (a smaller ring keeps less)
_QUEUE = 256  # records waiting for the writer; past it new ones are dropped
_ID = re.compile(r"[0-9a-f]{1,64}")
# Headers never written, whatever their value: they carry credentials.
_DROPPED = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-goog-api-key",
        "x-management-key",
        "cookie",
        "set-cookie",
    }
)
_STOP = object()


class CaptureStore:
    """The ring on disk and the thread that writes it."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.dir = directory
        self.max_bytes = max(1, max_bytes)
        self.body_limit = max(1024, min(BODY_LIMIT, self.max_bytes // 8))
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[Any] = queue.Queue(_QUEUE)
        self._ring: deque[tuple[str, int]] = deque()
        self._total = 0
        self._thread: threading.Thread | None = None

    @classmethod
    def from_config(cls, config: Config) -> CaptureStore | None:
        cap = config.logging.capture
        if not cap.enabled:
            return None
        share = int(cap.max_mb * 1024 * 1024) // max(1, config.server.workers)
        return cls(cap.dir, share)

    # -- request path ------------------------------------------------------------------

    def begin(self, request: web.BaseRequest) -> Capture:
        return Capture(self, request)

    def submit(self, capture: Capture, facts: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait((capture, facts))
        except queue.Full:
            self.dropped += 1

    # -- lookups (blocking: call them in a thread) ----------------------------------------

    def path_for(self, request_id: str) -> Path | None:
        """The file of a request id, or None for an id that cannot be one."""
        if not _ID.fullmatch(request_id):
            return None
        return self.dir / f"{request_id}.json"

    def load(self, request_id: str) -> bytes | None:
        path = self.path_for(request_id)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None

    def existing(self, request_ids: list[str]) -> set[str]:
        found = set()
        for rid in request_ids:
            path = self.path_for(rid)
            if path is not None and path.exists():
                found.add(rid)
        return found

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._adopt)
        self._thread = threading.Thread(target=self._run, name="capture-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join, 30.0)
        self._thread = None

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every record queued so far is written (tests, shutdown)."""
        done = threading.Event()
        self._queue.put(done, timeout=timeout)
        done.wait(timeout)

    # -- the writer thread ------------------------------------------------------------------

    def _adopt(self) -> None:
        """Take the files already there into the ring, oldest first, and trim it."""
        private_dir(self.dir)
        os.chmod(self.dir, 0o700)
        files = []
        for entry in os.scandir(self.dir):
            if entry.name.endswith(".json"):
                with contextlib.suppress(OSError):
                    st = entry.stat()
                    files.append((st.st_mtime, entry.name, st.st_size))
        for _, name, size in sorted(files):
            self._ring.append((name, size))
            self._total += size
        self._trim()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            capture, facts = item
            try:
                self._write(capture, facts)
            except Exception:  # a capture must never take the router down
                log.exception(
                    "could not write a request capture", request_id=facts.get("request_id")
                )

    def _write(self, capture: Capture, facts: dict[str, Any]) -> None:
        rid = facts["request_id"]
        doc = {
            "request_id": rid,
            "time": capture.started,
            "method": capture.method,
            "path": capture.path,
            "query": redact(capture.query),
            **{k: v for k, v in facts.items() if k not in ("request_id", "response_headers")},
            "client": {
                "request": {
                    "headers": _headers(capture.headers),
                    **_body(capture.client_request),
                },
                "response": {
                    "headers": _headers(facts["response_headers"]),
                    **_body(capture.client_response),
                },
            },
            "upstream": [
                {
                    "provider": a.provider,
                    "action": a.action,
                    "model": a.model,
                    "stream": a.stream,
                    "status": a.status,
                    "error": redact(a.error) if a.error else None,
                    "request": _body(a.request),
                    "response": _body(a.response),
                }
                for a in capture.attempts
            ],
        }
        data = orjson.dumps(doc)
        name = f"{rid}.json"
        write_private(self.dir / name, data)
        self.written += 1
        self._ring.append((name, len(data)))
        self._total += len(data)
        self._trim()

    def _trim(self) -> None:
        while self._total > self.max_bytes and self._ring:
            name, size = self._ring.popleft()
            self._total -= size
            with contextlib.suppress(OSError):
                os.unlink(self.dir / name)

    @property
    def total_bytes(self) -> int:
        return self._total


def _headers(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in pairs:
        if name.lower() in _DROPPED:
            continue
        out[str(name)] = redact(str(value))
    return out


def _body(body: CapturedBody) -> dict[str, Any]:
    text = b"".join(body.parts).decode("utf-8", "replace")
    return {"body": redact(text), "bytes": body.size, "truncated": body.truncated}


# -- python -m router show-request ID -------------------------------------------------------


def show_request(argv: list[str]) -> int:
    """Print a stored capture as indented JSON (reads the files; no router needed)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m router show-request")
    parser.add_argument("request_id", help="the X-Request-Id of the request")
    parser.add_argument("--config", help="config file (default: $CLIPROXY_CONFIG or config.yaml)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    store = CaptureStore(config.logging.capture.dir, 1)
    if store.path_for(args.request_id) is None:
        print(f"not a request id: {args.request_id[:80]!r}", file=sys.stderr)
        return 2
    data = store.load(args.request_id)
    if data is None:
        state = "on" if config.logging.capture.enabled else "off (logging.capture.enabled)"
        print(
            f"no capture for request {args.request_id} in {store.dir} (capture is {state};"
            " it may have left the ring)",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0
