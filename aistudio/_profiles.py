"""Signed-in browser profiles: ``aistudio-<profile>.json`` in the auth dir.

Each file is a Playwright storage state (``{"cookies": [...], "origins":
[{"origin", "localStorage": [...]}]}``), written the way every credential
is: mode 0600, temp file + fsync + rename, so a crash never leaves half a
file and no other user can read the session cookies.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from suite.files import write_private

__all__ = ["ProfileStore", "valid_profile_name"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")  # fullmatch: no trailing newline
_PREFIX = "aistudio-"


def valid_profile_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


class ProfileStore:
    """Reads and writes profile files in one directory."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory.expanduser()

    def path(self, name: str) -> Path:
        if not valid_profile_name(name):
            raise ValueError(f"invalid profile name {name!r}")
        return self.dir / f"{_PREFIX}{name}.json"

    def names(self) -> list[str]:
        """Profiles saved so far, sorted (files that are not storage states are skipped)."""
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.glob(f"{_PREFIX}*.json"):
            name = p.name[len(_PREFIX) : -len(".json")]
            if valid_profile_name(name):
                out.append(name)
        return sorted(out)

    def load(self, name: str) -> dict[str, Any] | None:
        """The storage state, or None when the file is missing or unreadable."""
        try:
            data = json.loads(self.path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("cookies", []), list):
            return None
        return data

    def save(self, name: str, state: dict[str, Any]) -> Path:
        """Write atomically with mode 0600 (the directory is created 0700)."""
        target = self.path(name)
        write_private(target, json.dumps(state, indent=1), durable=True)
        return target
