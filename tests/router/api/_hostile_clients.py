"""Hostile HTTP clients, run as a separate process so that their own work (and their
descriptors) does not count against the router under test.

    python -m tests.router.api._hostile_clients hold PORT COUNT PER_SECOND
        open COUNT connections (PER_SECOND of them a second) that send nothing; print
        how many opened; on a line from stdin, print how many the server has closed.
    python -m tests.router.api._hostile_clients flood PORT COUNT LINE_BYTES LINES
        COUNT connections at once, each sending a request head of LINES header lines
        of LINE_BYTES; print a JSON list of what each got back before the close.

Every loop is bounded in count and every socket has a timeout.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import threading
import time


def hold(port: int, count: int, per_second: int) -> None:
    socks = []
    started = time.monotonic()
    for i in range(count):
        # Paced: a connect burst faster than any server accepts overflows the kernel's
        # accept queue, which drops SYNs (retried a second later) for everyone: a
        # network-level flood, for a firewall or SYN cookies, not for the server.
        ahead = started + i / per_second - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
    print(len(socks), flush=True)
    sys.stdin.readline()
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            closed += s.recv(1) == b""
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    print(closed, flush=True)


def _flood_one(port: int, line_bytes: int, lines: int, out: list[str], i: int) -> None:
    filler = b"a" * line_bytes
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError as exc:
        out[i] = f"connect failed: {exc}"
        return
    with s:
        try:
            s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for n in range(lines):
                s.sendall(b"X-Flood-%d: %s\r\n" % (n, filler))
        except OSError:
            pass  # closed by the server: read what it said
        answer = b""
        try:
            while len(answer) < 65536:
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:
            pass
        out[i] = answer.decode("latin-1")


def flood(port: int, count: int, line_bytes: int, lines: int) -> None:
    out = [""] * count
    threads = [
        threading.Thread(target=_flood_one, args=(port, line_bytes, lines, out, i))
        for i in range(count)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    # The descriptor limit is inherited from the test, which may have lowered it for
    # the router: the attacker is not bound by that.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mode, args = sys.argv[1], [int(a) for a in sys.argv[2:]]
    if mode == "hold":
        hold(*args)
    elif mode == "flood":
        flood(*args)
    else:
        sys.exit(f"unknown mode {mode!r}")
