"""Each package has one public surface: a sorted ``__all__`` that names every public member."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "aistudio",
    "router.api",
    "router.auth",
    "router.executors",
    "router.observability",
    "router.formats",
    "router.keys",
    "router.relay",
    "router.shared",
    "suite.config",
    "webai",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ names missing {member}"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not isinstance(v, type(importlib))
        and getattr(v, "__module__", name).startswith(name)
    }
    assert public <= set(exported), (
        f"{name} exposes {sorted(public - set(exported))} outside __all__"
    )
