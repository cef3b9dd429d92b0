"""Wire formats: what clients and upstreams say, and translation between them.

No I/O happens in this package; it turns bytes and JSON into other bytes and
JSON, so every piece can be tested without sockets. ``CODECS`` holds one
:class:`Codec` per :class:`Format`, all of one shape; :class:`StreamTranslator`
and :func:`translate_response` re-render an upstream's answer for a client of
another format.
"""

from ._codec import Codec, Context, Decoder, Encoder, WireBody
from ._codecs import CODECS
from ._errors import error_body, stream_error_event
from ._estimate import estimate_tokens
from ._foreign import SIGNATURE_TAG, strip_foreign_signatures
from ._sse import SSEParser
from ._translator import StreamTranslator, translate_response, translated_chunks
from ._wire import StreamWatcher, TokenUsage, first_model, replace_model, usage_from_body
from .ir import Format

__all__ = [
    "CODECS",
    "Codec",
    "Context",
    "Decoder",
    "Encoder",
    "Format",
    "SIGNATURE_TAG",
    "SSEParser",
    "StreamTranslator",
    "StreamWatcher",
    "TokenUsage",
    "WireBody",
    "error_body",
    "estimate_tokens",
    "first_model",
    "replace_model",
    "stream_error_event",
    "strip_foreign_signatures",
    "translate_response",
    "translated_chunks",
    "usage_from_body",
]
