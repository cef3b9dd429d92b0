"""Profiling the router under load with py-spy (``python -m bench --profile``).

py-spy samples the running process from outside (``--nonblocking``, so it
does not pause it), one stack per sample, idle samples dropped. Time spent in
C (uvloop, aiohttp's parser, orjson) shows up as the self time of the Python
frame that called it, e.g. ``run_app`` holds the event loop's own work.
py-spy is not a project dependency: ``.venv/bin/pip install py-spy``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Profile", "find_py_spy", "parse", "start_py_spy"]

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")
_OURS = ("router/", "suite/")


def find_py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


def start_py_spy(exe: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    cmd = [
        exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "250",
        "--nonblocking", "-F", "-f", "raw", "-o", str(out),
    ]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    self_time: Counter[str]  # leaf frame -> samples
    inclusive: Counter[str]  # frame anywhere on the stack -> samples (once per stack)
    packages: Counter[str]  # top-level package of the leaf frame -> samples

    def pct(self, n: int) -> float:
        return 100.0 * n / self.samples if self.samples else 0.0

    def render(self, title: str, top: int = 12) -> str:
        lines = [f"{title}: {self.samples} busy samples"]
        lines.append("  self time by package: " + ", ".join(
            f"{pkg} {self.pct(n):.1f}%" for pkg, n in self.packages.most_common(8)
        ))  # fmt: skip
        lines.append("  top self time (leaf frames):")
        for frame, n in self.self_time.most_common(top):
            lines.append(f"    {self.pct(n):5.1f}%  {frame}")
        lines.append("  router/suite code by inclusive time (callees included):")
        ours = [
            (f, n)
            for f, n in self.inclusive.most_common()
            if f.split(" (", 1)[-1].startswith(_OURS)
        ]
        for frame, n in [x for x in ours if "__main__" not in x[0]][:top]:
            lines.append(f"    {self.pct(n):5.1f}%  {frame}")
        return "\n".join(lines)


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    return f"{m['func']} ({m['file']})"


def _package(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return "?"
    path = m["file"]
    if path.startswith("<frozen"):
        return "stdlib"
    head = path.split("/", 1)[0]
    if head.endswith(".py"):
        return "stdlib"
    if m["func"] == "run_app" or (head == "asyncio" and m["func"] == "run"):
        return "event loop (uvloop, C)"
    return head


def parse(raw: str) -> Profile:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        self_time[_short(frames[-1])] += n
        packages[_package(frames[-1])] += n
        for f in {_short(f) for f in frames}:
            inclusive[f] += n
    return Profile(total, self_time, inclusive, packages)
