"""Wire formats: what clients and upstreams say, and translation between them.

No I/O happens in this package; it turns bytes and JSON into other bytes and
JSON, so every piece can be tested without sockets.
"""

from ._errors import error_body, stream_error_event
from ._estimate import estimate_tokens
from ._foreign import SIGNATURE_TAG, strip_foreign_signatures
from ._sse import SSEParser
from ._wire import StreamWatcher, TokenUsage, usage_from_body
from .ir import Format

__all__ = [
    "Format",
    "SIGNATURE_TAG",
    "SSEParser",
    "StreamWatcher",
    "TokenUsage",
    "error_body",
    "estimate_tokens",
    "stream_error_event",
    "strip_foreign_signatures",
    "usage_from_body",
]
