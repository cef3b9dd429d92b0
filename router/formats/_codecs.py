"""The registered codec of each format (``CODECS``), over the format modules.

Each class only adapts its module's functions to the one :class:`Codec`
shape; the formats themselves live in ``openai_chat``, ``responses``,
``anthropic`` and ``gemini``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import anthropic, gemini, ir, openai_chat, responses
from ._codec import Codec, Context, Decoder, Encoder, WireBody

__all__ = ["CODECS"]


class _Chat:
    __slots__ = ()
    format = ir.Format.OPENAI

    def request_to_ir(self, body: ir.JSONObject) -> ir.Request:
        return openai_chat.request_to_ir(body)

    def request_from_ir(self, req: ir.Request, model: str, stream: bool) -> WireBody:
        return WireBody(openai_chat.request_from_ir(req, model, stream))

    def response_to_ir(self, body: ir.JSONObject) -> ir.Response:
        return openai_chat.response_to_ir(body)

    def response_from_ir(self, resp: ir.Response, ctx: Context) -> ir.JSONObject:
        return openai_chat.response_from_ir(resp, ctx.model)

    def stream_decoder(self) -> Decoder:
        return openai_chat.StreamDecoder()

    def stream_encoder(self, ctx: Context) -> Encoder:
        return openai_chat.StreamEncoder(ctx.model, ctx.request_id)


class _Responses:
    __slots__ = ()
    format = ir.Format.RESPONSES

    def request_to_ir(self, body: ir.JSONObject) -> ir.Request:
        return responses.request_to_ir(body)

    def request_from_ir(self, req: ir.Request, model: str, stream: bool) -> WireBody:
        return WireBody(responses.request_from_ir(req, model, stream))

    def response_to_ir(self, body: ir.JSONObject) -> ir.Response:
        return responses.response_to_ir(body)

    def response_from_ir(self, resp: ir.Response, ctx: Context) -> ir.JSONObject:
        return responses.response_from_ir(resp, ctx.model, tools=ctx.tools)

    def stream_decoder(self) -> Decoder:
        return responses.StreamDecoder()

    def stream_encoder(self, ctx: Context) -> Encoder:
        return responses.StreamEncoder(ctx.model, ctx.request_id, tools=ctx.tools)


class _Anthropic:
    __slots__ = ()
    format = ir.Format.ANTHROPIC

    def request_to_ir(self, body: ir.JSONObject) -> ir.Request:
        return anthropic.request_to_ir(body)

    def request_from_ir(self, req: ir.Request, model: str, stream: bool) -> WireBody:
        return WireBody(anthropic.request_from_ir(req, model, stream))

    def response_to_ir(self, body: ir.JSONObject) -> ir.Response:
        return anthropic.response_to_ir(body)

    def response_from_ir(self, resp: ir.Response, ctx: Context) -> ir.JSONObject:
        return anthropic.response_from_ir(resp, ctx.model)

    def stream_decoder(self) -> Decoder:
        return anthropic.StreamDecoder()

    def stream_encoder(self, ctx: Context) -> Encoder:
        return anthropic.StreamEncoder(ctx.model, ctx.request_id)


class _Gemini:
    __slots__ = ()
    format = ir.Format.GEMINI

    def request_to_ir(self, body: ir.JSONObject) -> ir.Request:
        return gemini.request_to_ir(body)

    def request_from_ir(self, req: ir.Request, model: str, stream: bool) -> WireBody:
        return WireBody(gemini.request_from_ir(req, model, stream))

    def response_to_ir(self, body: ir.JSONObject) -> ir.Response:
        return gemini.response_to_ir(body)

    def response_from_ir(self, resp: ir.Response, ctx: Context) -> ir.JSONObject:
        return gemini.response_from_ir(resp, ctx.model)

    def stream_decoder(self) -> Decoder:
        return gemini.StreamDecoder()

    def stream_encoder(self, ctx: Context) -> Encoder:
        return gemini.StreamEncoder(ctx.model, ctx.request_id)


def _table(*codecs: Codec) -> Mapping[ir.Format, Codec]:
    table = {c.format: c for c in codecs}
    missing = set(ir.Format) - set(table)
    if missing:  # a format added to the enum without its codec
        raise RuntimeError(f"formats without a codec: {sorted(missing)}")
    return MappingProxyType(table)


#: The codec of every format.
CODECS: Mapping[ir.Format, Codec] = _table(_Chat(), _Responses(), _Anthropic(), _Gemini())
