"""Reading a parsed YAML mapping: environment expansion and typed access with key paths.

Kept apart from ``suite.config`` so that module holds only the shape of the
configuration; this one holds how values are read and how problems are worded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Missing", "Section", "expand", "kind_of", "require_set"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config: {key}: {problem}" if key else f"config: {problem}")
        self.key = key


class Missing(str):
    """An unset ``${VAR}``: an error only if a used key holds it."""

    var: str

    def __new__(cls, var: str) -> Missing:
        obj = super().__new__(cls, "")
        obj.var = var
        return obj


def expand(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _expand_str(value, env)
    if isinstance(value, list):
        return [expand(v, env) for v in value]
    if isinstance(value, dict):
        return {str(k): expand(v, env) for k, v in value.items()}
    return value


def _expand_str(text: str, env: Mapping[str, str]) -> str:
    if "${" not in text:
        return text
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        var, default = m.group(1), m.group(2)
        if var in env and env[var] != "":
            return env[var]
        if default is not None:
            return default
        missing.append(var)
        return ""

    out = _ENV_REF.sub(sub, text)
    if missing:
        return Missing(missing[0])
    return out


def require_set(values: tuple[str, ...], key: str) -> None:
    for v in values:
        if isinstance(v, Missing):
            raise ConfigError(key, f"environment variable {v.var} is not set")


class Section:
    """A mapping being read, which knows its own key path for error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(path, f"expected a mapping, got {kind_of(data)}")
        self.data: dict[str, Any] = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def only(self, *names: str) -> None:
        for k in self.data:
            if k not in names:
                raise ConfigError(self.key(k), f"unknown key (expected one of: {', '.join(names)})")

    def section(self, name: str) -> Section:
        return Section(self.data.get(name), self.key(name))

    def _get(self, name: str) -> Any:
        value = self.data.get(name)
        if isinstance(value, Missing):
            raise ConfigError(self.key(name), f"environment variable {value.var} is not set")
        return value

    def string(self, name: str, default: str) -> str:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ConfigError(self.key(name), f"expected a string, got {kind_of(value)}")
        return str(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(self.key(name), f"expected true or false, got {value!r}")

    def integer(self, name: str, default: int, minimum: int | None = None) -> int:
        value = self._get(name)
        if value is None:
            return default
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(self.key(name), f"expected a whole number, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ConfigError(self.key(name), f"must be at least {minimum}, got {number}")
        return number

    def number(self, name: str, default: float, positive: bool = True) -> float:
        value = self._get(name)
        if value is None:
            return default
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(self.key(name), f"expected a number, got {value!r}") from None
        if positive and number <= 0:
            raise ConfigError(self.key(name), f"must be greater than 0, got {value!r}")
        return number

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.data.get(name)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise ConfigError(self.key(name), f"expected a list of strings, got {kind_of(value)}")
        out: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(
                    f"{self.key(name)}[{i}]", f"expected a string, got {kind_of(item)}"
                )
            out.append(item)
        return tuple(out)

    def path_value(self, name: str, default: Path) -> Path:
        value = self.string(name, "")
        return Path(value).expanduser() if value else default


def kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false"}.get(
        type(value), type(value).__name__
    )
