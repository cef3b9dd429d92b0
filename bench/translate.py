"""``python -m bench.translate``: what translation costs per request, without sockets.

The agent rows of ``python -m bench`` measure the whole router; this measures
only the work that makes a translated request dearer than a passthrough, in
the same process and on the same bodies, so a change to ``router/formats``
can be weighed in seconds:

* **request**: the Claude Code turn (88 KB) and the session grown to ~495 KB
  (``_fixture.py``), as an Anthropic client sends them, translated for an
  OpenAI Chat upstream (the parse, the nesting check, ``request_to_ir``,
  ``request_from_ir``, the bytes), beside what the passthrough does with the
  same body (the fast check of ``router.api._head`` and the model's value
  spliced in, ``replace_model``);
* **stream**: the bench fake's OpenAI stream (a role chunk, 50 content chunks,
  the finish and usage chunks, ``[DONE]``, one event per read as the fake
  writes them) through ``StreamTranslator`` to an Anthropic client, beside the
  passthrough's ``StreamWatcher`` on the fake's Anthropic stream of 50 events;
  the same stream read four whole events at a time (an upstream ahead of the
  router: each read holds what has come since the last); and read 4 KB at a time
  (several events per read, cut anywhere), as a relay that falls behind reads it.

Each figure is CPU time of this process per operation (``time.process_time``),
the best of ``--rounds`` rounds: interference from other processes only adds.
This is a measurement, not a test: it prints and never fails on a number.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from router.api._depth import check_depth
from router.api._head import MESSAGES, fast_head
from router.formats import CODECS, Format, StreamTranslator, StreamWatcher, replace_model

from ._fixture import grow, load_turn
from .fake_upstream import render

__all__ = ["main"]

_MODEL = "bench-model"  # what the rule calls the upstream's model (differs from the client's)
_STREAM_EVENTS = 50
_READ = 4096  # a relay that falls behind reads several events at once
_GROUP = 4  # whole events a read when the upstream is ahead of the router


@dataclass(frozen=True, slots=True)
class Row:
    group: str
    step: str
    us: float
    ref: float | None = None  # the passthrough's figure this row compares with


def cpu_us(fn: Callable[[], object], rounds: int, budget: float) -> float:
    """Best CPU microseconds per call of ``fn`` over ``rounds`` rounds of about ``budget`` s."""
    fn()
    start = time.process_time()
    fn()
    once = max(time.process_time() - start, 1e-6)
    count = max(1, int(budget / once))
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(count):
            fn()
        best = min(best, (time.process_time() - start) / count)
    return best * 1e6


def _deframe(write: bytes) -> bytes:
    """The SSE bytes of one write of the fake (HTTP head and chunk framing removed)."""
    if write.startswith(b"HTTP/1.1"):
        write = write[write.index(b"\r\n\r\n") + 4 :]
    out = b""
    while write:
        size_end = write.index(b"\r\n")
        size = int(write[:size_end], 16)
        if size == 0:
            break
        start = size_end + 2
        out += write[start : start + size]
        write = write[start + size + 2 :]
    return out


def fresh_dump_us(raw: bytes, rounds: int, budget: float) -> float:
    """CPU microseconds of the bytes of a translation made afresh each time, as a request's
    are. A ``str`` holding one non-ASCII character is kept in UCS-2 or UCS-4 and encoded
    to UTF-8 by its first ``orjson.dumps``, which CPython then caches in the string: dumping
    the same data again (about 100 us for the session) skips a cost every request pays
    (about 500 us; docs/performance.md)."""
    client, upstream = CODECS[Format.ANTHROPIC], CODECS[Format.OPENAI]
    best = float("inf")
    for _ in range(rounds):
        spent, count, began = 0.0, 0, time.process_time()
        while count < 2 or time.process_time() - began < budget:
            data = upstream.request_from_ir(client.request_to_ir(orjson.loads(raw)), _MODEL, True)
            start = time.process_time()
            orjson.dumps(data.data)
            spent += time.process_time() - start
            count += 1
        best = min(best, spent / count)
    return best * 1e6


def request_rows(name: str, body: dict[str, Any], rounds: int, budget: float) -> list[Row]:
    raw = orjson.dumps(body)
    client, upstream = CODECS[Format.ANTHROPIC], CODECS[Format.OPENAI]
    model = str(body["model"])

    def passthrough() -> object:
        """What the router does with a body it relays: the fast check, the model spliced."""
        return fast_head(MESSAGES, raw), replace_model(raw, model, _MODEL)

    def translate() -> bytes:
        data = orjson.loads(raw)
        check_depth(data, raw)
        req = client.request_to_ir(data)
        return upstream.request_from_ir(req, _MODEL, True).encoded()

    req = client.request_to_ir(body)
    group = f"{name}, {len(raw) // 1000} KB"
    same = cpu_us(passthrough, rounds, budget)
    parse = cpu_us(lambda: orjson.loads(raw), rounds, budget)
    depth = cpu_us(lambda: check_depth(body, raw), rounds, budget)
    to_ir = cpu_us(lambda: client.request_to_ir(body), rounds, budget)
    from_ir = cpu_us(lambda: upstream.request_from_ir(req, _MODEL, True).data, rounds, budget)
    dump = fresh_dump_us(raw, rounds, budget)
    whole = cpu_us(translate, rounds, budget)
    return [
        Row(group, "passthrough: fast check, model spliced", same),
        Row(group, "  translated: parse the client's body", parse),
        Row(group, "  nesting check", depth),
        Row(group, "  anthropic -> IR", to_ir),
        Row(group, "  IR -> openai (data)", from_ir),
        Row(group, "  openai data -> bytes (fresh strings)", dump),
        Row(group, "translated: all of the above", whole, same),
    ]


def stream_rows(rounds: int, budget: float) -> list[Row]:
    answers = render(_STREAM_EVENTS)
    openai = [_deframe(w) for w in answers.openai_stream_usage]
    anthropic = [_deframe(w) for w in answers.anthropic_stream]

    def watch() -> object:
        watcher = StreamWatcher(Format.ANTHROPIC)
        for piece in anthropic:
            watcher.feed(piece)
        return watcher.usage

    whole = b"".join(openai)
    pieces = [whole[i : i + _READ] for i in range(0, len(whole), _READ)]
    groups = [b"".join(openai[i : i + _GROUP]) for i in range(0, len(openai), _GROUP)]

    def translate(reads: list[bytes] = openai) -> bytes:
        tr = StreamTranslator(Format.OPENAI, Format.ANTHROPIC, "claude-client", "req1")
        out = [tr.feed(piece) for piece in reads]
        out.append(tr.finish())
        return b"".join(out)

    end = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert translate() == translate(pieces) == translate(groups) and translate().endswith(end)
    group = f"stream, {_STREAM_EVENTS} events"
    same = cpu_us(watch, rounds, budget)
    return [
        Row(group, "passthrough: StreamWatcher (anthropic)", same),
        Row(
            group, "translated: openai -> IR -> anthropic", cpu_us(translate, rounds, budget), same
        ),
        Row(
            group,
            f"  the same read {_GROUP} whole events at a time",
            cpu_us(lambda: translate(groups), rounds, budget),
            same,
        ),
        Row(
            group,
            f"  the same read {_READ // 1024} KB at a time",
            cpu_us(lambda: translate(pieces), rounds, budget),
            same,
        ),
    ]


def table(rows: list[Row]) -> str:
    lines = [f"{'':24} {'step':46} {'cpu us':>9}  vs passthrough", "-" * 94]
    last = ""
    for row in rows:
        group = row.group if row.group != last else ""
        if group and last:
            lines.append("")
        last = row.group
        ratio = f"{row.us / row.ref:6.2f}x" if row.ref else ""
        lines.append(f"{group:24} {row.step:46} {row.us:9.1f}  {ratio}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.translate", description=__doc__)
    p.add_argument("--rounds", type=int, default=7, help="rounds per figure (the best is kept)")
    p.add_argument("--budget", type=float, default=0.15, help="CPU seconds per round")
    args = p.parse_args(argv)
    turn = load_turn().body
    rows = request_rows("Claude Code turn", turn, args.rounds, args.budget)
    rows += request_rows("grown session", grow(turn), args.rounds, args.budget)
    rows += stream_rows(args.rounds, args.budget)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
