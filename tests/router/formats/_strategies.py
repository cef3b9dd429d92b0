"""Hypothesis strategies shared by the round-trip tests."""

from __future__ import annotations

import base64
from collections.abc import Iterable

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from router.formats import ir

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
).filter(lambda s: s.strip() == s and s.strip() != "")
names = st.sampled_from(["get_weather", "read_file", "run_cmd"])
args = st.dictionaries(
    st.sampled_from(["a", "b", "path"]), st.integers(0, 9) | texts, max_size=2
).map(lambda d: orjson.dumps(d).decode())


def signatures(urlsafe: bool = False) -> st.SearchStrategy[str]:
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return st.binary(min_size=3, max_size=24).map(lambda b: enc(b).decode())


def signed(draw: st.DrawFn, parts: Iterable[ir.Part], source: ir.Format) -> list[ir.Part]:
    """``parts``, each maybe after a text-less signed ``Reasoning``: the signature riding
    on the part that follows it, as Chat and Gemini carry one."""
    out: list[ir.Part] = []
    for part in parts:
        if draw(st.booleans()):
            out.append(ir.Reasoning("", draw(signatures()), False, source))
        out.append(part)
    return out
