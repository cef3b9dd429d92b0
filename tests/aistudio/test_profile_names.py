"""Profile names: a trailing newline is not part of a valid name (no stray files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aistudio import ProfileStore


def test_a_profile_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    assert store.path("default") == tmp_path / "aistudio-default.json"
    with pytest.raises(ValueError, match="invalid profile name"):
        store.path("default\n")
