"""The ``/v1/ws`` relay hub: browser services connect here and serve Gemini requests."""

from ._hub import RelayHub, gemini_error_body, relay_error
from ._peer import DEFAULT_CAPACITY, MAX_QUEUED_BYTES, Exchange, Peer, PeerGone

__all__ = [
    "DEFAULT_CAPACITY",
    "Exchange",
    "MAX_QUEUED_BYTES",
    "Peer",
    "PeerGone",
    "RelayHub",
    "gemini_error_body",
    "relay_error",
]
