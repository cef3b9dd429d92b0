"""``/status.json``'s programs come from ``python -m ops.supervise status --json``.

The router shares that command's output, not the operations code; what it makes
of a suite that is not running, and of a command that fails, is checked here
(the running suite is in test_supervised.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from router.observability._status import _collect


async def test_a_suite_that_is_not_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  port: 18599\n")
    monkeypatch.setenv("CLIPROXY_CONFIG", str(config))
    data = await _collect(tmp_path / "run")
    assert data["running"] is False and data["processes"] == []
    assert data["problem"] == "supervisord is not running"
    assert data["run_dir"] == str(tmp_path / "run")


async def test_a_failing_command_is_a_problem_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  port: not-a-port\n")  # no saved manifest, broken config
    monkeypatch.setenv("CLIPROXY_CONFIG", str(config))
    data = await _collect(tmp_path / "run")
    assert data == {
        "running": False,
        "problem": "status command failed: "
        "config: server.port: expected a whole number, got 'not-a-port'",
    }
