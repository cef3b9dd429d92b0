"""The store's record types come from the provider-kind registry, not a second list."""

from __future__ import annotations

from router.auth import KIND_TYPES
from suite.config import KINDS


def test_every_store_kind_and_only_those_has_its_record_type() -> None:
    store = {n: k.store_type for n, k in KINDS.items() if k.credentials == "store"}
    assert dict(KIND_TYPES) == store
    assert all(store.values()), "a store kind must name its record type"
