"""A faster ``__init__`` for the IR's frozen dataclasses (no dependency on the IR)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

__all__ = ["quick"]


_T = TypeVar("_T")


def quick(cls: type[_T]) -> type[_T]:
    """``cls`` (a frozen, slotted dataclass) with an ``__init__`` that sets each slot
    through the slot's own descriptor.

    The generated one calls ``object.__setattr__`` per field (frozen classes cannot
    assign), which looks the name up again each time: 30-40 % of building an IR
    object, and a big request builds hundreds (a message, its parts, their texts).
    Same signature, same defaults, same frozen instances.
    """
    names: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    params, lines = [], []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init or f.kw_only is True:
            raise TypeError(f"{cls.__name__}.{f.name}: only plain fields are supported")
        names[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        value = f.name
        if f.default is not dataclasses.MISSING:
            names[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            value = f"_factory_{f.name}() if {f.name} is _MISSING else {f.name}"
        else:
            params.append(f.name)
        lines.append(f"    _set_{f.name}(self, {value})")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: __post_init__ is not supported")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(lines), names)
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
