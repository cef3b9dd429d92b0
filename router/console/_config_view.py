"""The running config as the console shows it: every value, where it came from, no secret.

Each entry is one leaf (``server.limits.max_connections``) with its value and
its origin:

* ``file``: written in the config file as it is;
* ``env``: the file says ``${VAR}`` there (``env`` names the variables); when
  the variable was unset or empty and the file gives ``${VAR:-default}``, the
  value is that default and ``fallback`` says so;
* ``default``: not in the file, the built-in default (only for the plain
  sections; a provider's defaults depend on its kind and are not listed);
* ``generated``: ``management.key`` from ``<auth.dir>/management.key``.

The values are those of the running config (what was loaded last); which
``${VAR}`` a key holds is read from the file now, so an edit since the last
load can mislabel an origin, and ``changed_since_load`` says when that may be.

Secrets never leave: a leaf whose name says it is one (``api_keys``,
``key``, ``token``, ``dsn``, ``cookies``, secret headers ...) shows only
whether it is set, and every other text goes through the log scrubber
(registered secrets by value, credential shapes, a proxy URL's password).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from suite.config import Config
from suite.logging import redact
from suite.management_key import key_path

__all__ = ["SET", "config_entries", "read_unexpanded"]

SET = "•••••• (set)"
_UNSET = "(empty)"
_PLAIN_SECTIONS = (
    "server",
    "management",
    "services",
    "auth",
    "logging",
    "health",
    "usage",
    "metrics",
)
_SECRET_NAMES = frozenset(
    {
        "api_keys",
        "key",
        "keys",
        "token",
        "dsn",
        "cookies",
        "cookie",
        "password",
        "secret",
        "client_cookie",
        "access_token",
        "refresh_token",
        "authorization",
        "x-api-key",
        "x-goog-api-key",
        "proxy-authorization",
    }
)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_MAX_TEXT = 500  # a value longer than this is cut (a pasted prompt in instructions)

Leaf = tuple[tuple[str, ...], Any]


def read_unexpanded(path: Path | None) -> tuple[Any, float]:
    """The config file as written (``${VAR}`` not expanded) and its mtime; ({}, 0) if unreadable."""
    if path is None:
        return {}, 0.0
    try:
        text = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}, 0.0
    return (data if isinstance(data, dict) else {}), mtime


def config_entries(
    config: Config, unexpanded: Mapping[str, Any], *, file_key_empty: bool
) -> list[dict[str, Any]]:
    """One entry per leaf, sorted by key: ``{key, value, source, env?, fallback?}``.

    ``file_key_empty``: the loaded file set no management key (the running one is then the
    generated key)."""
    raw_leaves = dict(_raw_leaves(config.raw, ()))
    typed = dict(_typed_leaves(config))
    out: dict[str, dict[str, Any]] = {}
    for path, value in raw_leaves.items():
        shown = typed.get(path, value)
        out[_dotted(path)] = _entry(path, shown, _origin(unexpanded, path, value))
    for path, value in typed.items():
        if path not in raw_leaves and not _covered(path, raw_leaves):
            out[_dotted(path)] = _entry(path, value, {"source": "default"})
    if file_key_empty and config.management.key:
        entry = _entry(("management", "key"), config.management.key, {"source": "generated"})
        entry["file"] = str(key_path(config))
        out["management.key"] = entry
    return [out[k] for k in sorted(out)]


def _entry(path: tuple[str, ...], value: Any, origin: dict[str, Any]) -> dict[str, Any]:
    return {"key": _dotted(path), "value": _shown(path, value), **origin}


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[", "[")


def _covered(path: tuple[str, ...], raw: Mapping[tuple[str, ...], Any]) -> bool:
    """A typed leaf the file already gives as a whole (a list of rules, a mapping)."""
    return any(path[: i + 1] in raw for i in range(len(path) - 1))


# -- leaves ---------------------------------------------------------------------


def _raw_leaves(value: Any, path: tuple[str, ...]) -> Iterator[Leaf]:
    """Leaves of the expanded file: mappings are walked, lists of mappings by index, and
    lists of plain values are one leaf."""
    if isinstance(value, Mapping):
        if not value and path:
            yield path, {}
        for k, v in value.items():
            yield from _raw_leaves(v, (*path, str(k)))
    elif isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        for i, v in enumerate(value):
            yield from _raw_leaves(v, (*path, f"[{i}]"))
    else:
        yield path, value


def _typed_leaves(config: Config) -> Iterator[Leaf]:
    """The plain sections' values, defaults included (nested settings dataclasses only:
    anything else, such as the parsed proxy policy, is shown as the file says it)."""
    for name in _PLAIN_SECTIONS:
        yield from _walk(getattr(config, name), (name,))


def _walk(obj: Any, path: tuple[str, ...]) -> Iterator[Leaf]:
    if is_dataclass(obj) and not isinstance(obj, type):
        if type(obj).__module__ != "suite._settings":
            return
        for f in fields(obj):
            yield from _walk(getattr(obj, f.name), (*path, f.name))
    elif isinstance(obj, str | int | float | bool) or obj is None:
        yield path, obj
    elif isinstance(obj, Path):
        yield path, str(obj)
    elif isinstance(obj, tuple | list | frozenset) and all(
        isinstance(v, str | int | float) for v in obj
    ):
        yield path, sorted(obj) if isinstance(obj, frozenset) else list(obj)


# -- origin and masking -----------------------------------------------------------


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if part.startswith("[") and isinstance(data, list):
            index = int(part[1:-1])
            data = data[index] if index < len(data) else None
        elif isinstance(data, Mapping):
            data = data.get(part)
        else:
            return None
    return data


def _origin(unexpanded: Mapping[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    written = _at(unexpanded, path)
    texts = (
        [written]
        if isinstance(written, str)
        else [w for w in written or [] if isinstance(w, str)]
        if isinstance(written, list)
        else []
    )
    refs = [m for t in texts for m in _ENV_REF.finditer(t)]
    if not refs:
        return {"source": "file"}
    out: dict[str, Any] = {"source": "env", "env": sorted({m.group(1) for m in refs})}
    defaults = [m.group(2) for m in refs]
    if len(texts) == 1 and len(refs) == 1 and defaults[0] is not None:
        whole = refs[0].group(0) == texts[0]
        if whole and value == defaults[0]:
            out["fallback"] = True  # unset or empty: the file's default
    return out


def _secret(path: tuple[str, ...]) -> bool:
    return any(part.lower() in _SECRET_NAMES for part in path if not part.startswith("["))


def _shown(path: tuple[str, ...], value: Any) -> Any:
    if _secret(path):
        return _masked(value)
    if isinstance(value, str):
        text = redact(value)
        return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"
    if isinstance(value, list):
        return [_shown(path, v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _shown((*path, str(k)), v) for k, v in value.items()}
    return value


def _masked(value: Any) -> Any:
    if isinstance(value, list | tuple):
        kept = [v for v in value if v not in ("", None)]
        return f"{len(kept)} set" if kept else _UNSET
    if isinstance(value, Mapping):
        return {str(k): _masked(v) for k, v in value.items()}
    if value in ("", None):
        return _UNSET
    if isinstance(value, bool | int | float):
        return value
    return SET
