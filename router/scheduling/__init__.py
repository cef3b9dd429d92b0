"""Scheduling: which credential serves a request, and what an attempt's outcome does.

Sans-io, like the protocol layers of mitmproxy: given a rule, the credentials'
states and each attempt's outcome, it decides what to try next (strategies,
rests, the circuit breaker, fallbacks, waiting) and what to record; it opens
no socket. ``router.api`` drives it with the real executors
(``serve``); the tests with a ``FakeExecutor``. See docs/routing.md.
"""

from ._limits import Scope, headroom_from_headers, limit_scope, room
from ._outcome import Change, record_failure, record_success, stream_failure, take_probe
from ._serve import serve
from ._session import session_key
from ._strategy import StickyTable, Turns, order
from ._walk import MAX_ROUTES, Policy, Routes, Scheduler, Walk

__all__ = [
    "Change",
    "MAX_ROUTES",
    "Policy",
    "Routes",
    "Scheduler",
    "Scope",
    "StickyTable",
    "Turns",
    "Walk",
    "headroom_from_headers",
    "limit_scope",
    "order",
    "record_failure",
    "record_success",
    "room",
    "serve",
    "session_key",
    "stream_failure",
    "take_probe",
]
