"""House rule: modules stay small (aim for 500 lines; a module over 800 fails CI)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["router", "suite", "ops", "aistudio", "webai", "bench", "tests"]
LIMIT = 800


def test_no_module_over_the_limit() -> None:
    too_big = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            lines = path.read_text(encoding="utf-8").count("\n")
            if lines > LIMIT:
                too_big.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_big, "split these modules: " + "; ".join(too_big)
