"""The services and their shared foundation do not depend on the operations tooling.

``router``, ``aistudio`` and ``webai`` run under supervisord or on their own; what
they share lives in ``suite`` (config, logging, files, relay protocol, tasks).
Starting, stopping and describing the suite is ``ops``, which may import all of
them; none of them may import ``ops``, at module level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER = ["router", "aistudio", "webai", "suite"]
UPPER = "ops"


def imported(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every import in a file, absolute names only."""
    tree = ast.parse(path.read_text(), str(path))
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            # `from ops import x` and `from . import x` are both covered by the module name
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out.append((node.lineno, arg.value))
    return out


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in ("import_module", "__import__") and bool(node.args)


def _is_upper(module: str) -> bool:
    return module == UPPER or module.startswith(UPPER + ".")


@pytest.mark.parametrize("package", LOWER)
def test_package_does_not_import_ops(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    found = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in files
        for line, module in imported(path)
        if _is_upper(module)
    ]
    assert not found, "services and the foundation must not import ops:\n" + "\n".join(found)


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import ops.status\n"
        "from ops.rpc import Supervisor\n"
        "from ops import probe\n"
        "import importlib\n"
        "def f():\n"
        "    import ops\n"
        "    return importlib.import_module('ops.supervise')\n"
        "import opsfoo\n"
    )
    hits = [m for _, m in imported(sample) if _is_upper(m)]
    assert hits == ["ops.status", "ops.rpc", "ops", "ops", "ops.supervise"]


def test_ops_is_a_package_next_to_them() -> None:
    assert (ROOT / UPPER / "__init__.py").is_file()
    for package in LOWER:
        assert (ROOT / package / "__init__.py").is_file()
