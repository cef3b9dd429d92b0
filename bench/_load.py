"""Running one load test: Debian's ``wrk`` when installed, else ``bench.loadgen``.

Both run in their own process (pinned to the client CPU by the caller), both
are bounded by a request count and a duration, and both answer a
``LoadResult``. ``wrk`` sends POSTs through a generated Lua script whose
``response`` hook stops a thread after its share of the count and whose
``done`` hook prints exact numbers as JSON. It reads an SSE answer as the
chunked HTTP body it is, so its latency is the time to the whole stream.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = ["LoadResult", "LoadSpec", "have_wrk", "run_load"]

_WRK_MARK = "BENCH "


@dataclass(frozen=True, slots=True)
class LoadSpec:
    url: str
    body: bytes
    concurrency: int
    seconds: float
    count: int
    stream: bool
    headers: tuple[tuple[str, str], ...] = ()  # besides Content-Type (a client's own headers)


@dataclass(frozen=True, slots=True)
class LoadResult:
    tool: str
    requests: int
    errors: int  # non-2xx answers, socket errors, timeouts, bad streams
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    spec: LoadSpec, workdir: Path, tool: str, preexec: Callable[[], None] | None
) -> LoadResult:
    if tool == "wrk":
        return _run_wrk(spec, workdir, preexec)
    return _run_python(spec, workdir, preexec)


def _lua(spec: LoadSpec) -> str:
    body = spec.body.decode()
    assert "]==]" not in body
    extra = "".join(f'wrk.headers["{k}"] = [==[{v}]==]\n' for k, v in spec.headers if '"' not in k)
    return f"""
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
{extra}local limit = {spec.count}
local seen = 0
function response(status, headers, body)
  seen = seen + 1
  if seen >= limit then wrk.thread:stop() end
end
function done(s, lat, req)
  local e = s.errors
  io.write(string.format(
    '{_WRK_MARK}{{"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}}\\n',
    s.requests, s.duration, e.connect + e.read + e.write + e.status + e.timeout,
    lat:percentile(50), lat:percentile(99)))
end
"""


def _run_wrk(spec: LoadSpec, workdir: Path, preexec: Callable[[], None] | None) -> LoadResult:
    script = workdir / f"post-{'stream' if spec.stream else 'plain'}.lua"
    script.write_text(_lua(spec))
    cmd = [
        "wrk",
        "-t1",
        f"-c{spec.concurrency}",
        f"-d{max(1, round(spec.seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        spec.url,
    ]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=spec.seconds + 30,
        preexec_fn=preexec,
        check=False,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith(_WRK_MARK)), None)
    if line is None:
        raise RuntimeError(
            f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}"
        )
    d = orjson.loads(line[len(_WRK_MARK) :])
    return LoadResult(
        tool="wrk",
        requests=int(d["requests"]),
        errors=int(d["errors"]),
        seconds=d["duration_us"] / 1e6,
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
    )


def _run_python(spec: LoadSpec, workdir: Path, preexec: Callable[[], None] | None) -> LoadResult:
    body_file = workdir / f"body-{'stream' if spec.stream else 'plain'}.json"
    body_file.write_bytes(spec.body)
    cmd = [
        sys.executable,
        "-m",
        "bench.loadgen",
        "--url",
        spec.url,
        "--body-file",
        str(body_file),
        "-c",
        str(spec.concurrency),
        "-n",
        str(spec.count),
        "-d",
        str(spec.seconds),
    ]
    if spec.stream:
        cmd.append("--stream")
    for k, v in spec.headers:
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=spec.seconds + 60,
        preexec_fn=preexec,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.loadgen failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    d = orjson.loads(out.stdout.strip().splitlines()[-1])
    return LoadResult(
        tool="python",
        requests=int(d["requests"]),
        errors=int(d["bad"]),
        seconds=float(d["seconds"]),
        p50_ms=d["p50_us"] / 1000,
        p99_ms=d["p99_us"] / 1000,
    )
