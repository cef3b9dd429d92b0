"""Translation errors as HTTP answers.

The translating itself is ``router.formats`` (``CODECS``, ``StreamTranslator``,
``translate_response``); what the API adds is what a failure means to the
client: a request that cannot be read or written in the upstream's format is
the client's 400 naming the field, an answer the upstream sent that cannot be
read is an upstream failure (the next candidate may do better).
"""

from __future__ import annotations

from typing import Any

from router.errors import BadRequest, UpstreamConnectError
from router.formats import CODECS, Context, Format, WireBody, ir
from router.formats import translate_response as _translate_response

__all__ = ["request_ir", "translate_body", "translate_response"]


def _bad_request(exc: ir.TranslationError) -> BadRequest:
    return BadRequest(f"{exc.field}: {exc.message}", param=exc.field)


def request_ir(fmt: Format, body: dict[str, Any]) -> ir.Request:
    """The client's request in the canonical form; a 400 naming the field if it cannot be read."""
    try:
        return CODECS[fmt].request_to_ir(body)
    except ir.TranslationError as exc:
        raise _bad_request(exc) from None


def translate_body(req: ir.Request, target: Format, model: str, stream: bool) -> WireBody:
    """The request for an upstream of ``target`` (its bytes made when the executor sends
    it, after its own changes); a 400 if it cannot be written."""
    try:
        return CODECS[target].request_from_ir(req, model, stream)
    except ir.TranslationError as exc:
        raise _bad_request(exc) from None


def translate_response(
    data: bytes, source: Format, client: Format, model: str, req: ir.Request
) -> tuple[bytes, ir.Usage]:
    """An upstream's complete answer, re-rendered for the client."""
    try:
        return _translate_response(data, source, client, Context(model, tools=req.tools))
    except ir.TranslationError as exc:
        raise UpstreamConnectError(
            f"upstream sent an answer that could not be read: {exc}"
        ) from None
