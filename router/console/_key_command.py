"""``python -m router management-key``: show the key the console and the management API take.

The key alone goes to stdout (for ``$(python -m router management-key)``);
where it comes from goes to stderr. With no ``management.key`` in the config
and no generated one yet, one is generated now (as ``make start`` does), and
a running router takes it at its next reload (SIGHUP) or restart.
"""

from __future__ import annotations

import sys
from typing import TextIO

from suite.config import Config
from suite.management_key import ensure_key, key_path

__all__ = ["management_key_command"]


def management_key_command(
    config: Config, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        key, origin = ensure_key(config)
    except OSError as exc:
        print(f"management-key: cannot store a key in {key_path(config)}: {exc}", file=err)
        return 1
    if origin == "config":
        where = f"management.key in {config.source or 'the config'}"
    elif origin == "generated":
        where = f"generated now, stored in {key_path(config)} (0600); a running router takes it at its next reload"
    else:
        where = f"generated at first start, stored in {key_path(config)} (0600)"
    print(key, file=out)
    print(f"management key: {where}", file=err)
    return 0
