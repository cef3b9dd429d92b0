"""Two router workers under supervisord open one host store in the run dir.

Both workers start at once and open the same SQLite file (WAL mode is set by
whichever comes first; the other waits on the lock); each logs the back-end
it uses and its own origin. Stopping the suite closes them cleanly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.ops.conftest import force_cleanup, make_suite, wait_for

pytestmark = pytest.mark.timeout(120)


def _edit(data: dict[str, Any]) -> None:
    data["server"].update(workers=2)
    for prov in data["providers"].values():
        if prov.get("kind") in ("aistudio", "webai"):
            prov["enabled"] = False  # no browser pool in this test


def _opened(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if '"shared state"' in line:
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
    return out


def test_two_workers_share_the_run_dir_store(tmp_path: Path) -> None:
    suite = make_suite(tmp_path / "suite", _edit)
    logs = [suite.base / "logs" / f"router_0{i}.log" for i in range(2)]
    try:
        started = suite.run("start.sh")
        assert started.returncode == 0, started.stdout + started.stderr
        assert wait_for(lambda: all(_opened(log) for log in logs), 30), [
            log.read_text(errors="replace")[-2000:] for log in logs if log.exists()
        ]
        opened = [_opened(log)[0] for log in logs]
        assert [o["backend"] for o in opened] == ["host", "host"]
        assert opened[0]["origin"] != opened[1]["origin"]
        store = suite.run_dir / "shared-state.sqlite3"
        assert store.stat().st_mode & 0o777 == 0o600
        stopped = suite.run("stop.sh", timeout=90)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        for log in logs:
            text = log.read_text(errors="replace")
            assert "shared state unreachable" not in text
            assert "could not publish" not in text
    finally:
        force_cleanup(suite)
