"""State the router's workers share: credential rests, breakers, headroom, and counters.

See docs/shared-state.md. ``SharedState`` (``app[SHARED]``) is what the rest of
the router uses; the back-ends (``LocalBackend``, ``HostBackend``,
``PostgresBackend``) implement ``SharedBackend`` and are chosen from the config
by ``backend_for``.
"""

from ._adapter import (
    apply_record,
    credential_listener,
    credential_record,
    publish_credential,
    reset_credential,
)
from ._backend import Row, SharedBackend
from ._local import LocalBackend
from ._postgres import PostgresBackend
from ._records import (
    BREAKER_STATES,
    Breaker,
    BreakerState,
    Count,
    Hit,
    SharedStateError,
    StateChange,
    StateRecord,
    merge_records,
)
from ._setup import SHARED, backend_for, backend_name, host_path, shared_context
from ._sqlite import HostBackend
from ._state import Listener, SharedState, default_origin

__all__ = [
    "BREAKER_STATES",
    "Breaker",
    "BreakerState",
    "Count",
    "Hit",
    "HostBackend",
    "Listener",
    "LocalBackend",
    "PostgresBackend",
    "Row",
    "SHARED",
    "SharedBackend",
    "SharedState",
    "SharedStateError",
    "StateChange",
    "StateRecord",
    "apply_record",
    "backend_for",
    "backend_name",
    "credential_listener",
    "credential_record",
    "default_origin",
    "host_path",
    "merge_records",
    "publish_credential",
    "reset_credential",
    "shared_context",
]
