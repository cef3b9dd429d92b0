"""The IR's dataclasses keep their dataclass behaviour with the quicker ``__init__``
(``router/formats/_quick.py``): defaults, fresh default factories, keywords, frozen."""

from __future__ import annotations

import dataclasses

import pytest

from router.formats import ir
from router.formats._quick import quick

CLASSES = [v for v in vars(ir).values() if isinstance(v, type) and dataclasses.is_dataclass(v)]


def _required(cls: type) -> dict[str, object]:
    return {
        f.name: f"v-{f.name}"
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_defaults_factories_and_keywords_as_declared(cls: type) -> None:
    required = _required(cls)
    a, b = cls(**required), cls(*required.values())
    assert a == b
    for f in dataclasses.fields(cls):
        value = getattr(a, f.name)
        if f.name in required:
            assert value == required[f.name]
        elif f.default is not dataclasses.MISSING:
            assert value is f.default
        else:
            assert value == f.default_factory() and value is not getattr(b, f.name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(a, dataclasses.fields(cls)[0].name, "changed")
    assert dataclasses.replace(a, **required) == a
    with pytest.raises(TypeError):
        cls(**required, not_a_field=1)


def test_it_refuses_what_it_does_not_rebuild() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Late:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    with pytest.raises(TypeError, match="plain fields"):
        quick(Late)
