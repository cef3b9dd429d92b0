"""Embeddings in the two wire formats that have them: OpenAI and Gemini.

OpenAI ``POST /embeddings`` takes ``input`` (a string, an array of strings, an
array of token ids or an array of token arrays), ``dimensions`` and
``encoding_format`` (``float`` or ``base64``: little-endian float32, base64
encoded), and answers ``{"object": "list", "data": [{"object": "embedding",
"index", "embedding"}], "model", "usage": {"prompt_tokens", "total_tokens"}}``.
Gemini ``:embedContent`` takes one ``content`` with ``taskType``, ``title`` and
``outputDimensionality`` and answers ``{"embedding": {"values"}}``;
``:batchEmbedContents`` takes ``requests`` (each one of those, with its own
``model``) and answers ``{"embeddings": [{"values"}]}``.

One small typed request (:class:`EmbedRequest`) and one result
(:class:`EmbedResult`) sit between them, so each side is read and written
once. No I/O; what cannot be expressed in the target format is a
:class:`~router.formats.ir.TranslationError` naming the field.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ._estimate import estimate_tokens
from .ir import TranslationError

__all__ = [
    "GEMINI_BATCH_LIMIT",
    "GEMINI_TASK_TYPES",
    "OPENAI_INPUT_LIMIT",
    "EmbedRequest",
    "EmbedResult",
    "gemini_embed_request",
    "gemini_embed_response",
    "gemini_embed_result",
    "gemini_upstream_bodies",
    "openai_embed_request",
    "openai_embed_response",
    "openai_embed_result",
    "openai_upstream_body",
]

#: Inputs one OpenAI embeddings request may carry (the API refuses more).
OPENAI_INPUT_LIMIT = 2048
#: Requests one Gemini ``batchEmbedContents`` call may carry (the API refuses more).
GEMINI_BATCH_LIMIT = 100
#: Gemini's ``taskType`` values; an OpenAI client may send one as ``task_type``.
GEMINI_TASK_TYPES = frozenset(
    {
        "TASK_TYPE_UNSPECIFIED",
        "RETRIEVAL_QUERY",
        "RETRIEVAL_DOCUMENT",
        "SEMANTIC_SIMILARITY",
        "CLASSIFICATION",
        "CLUSTERING",
        "QUESTION_ANSWERING",
        "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY",
    }
)


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """What a client asked to embed, in either format.

    ``texts`` holds one text per input; ``tokens`` instead holds token-id arrays
    (OpenAI only: no other upstream reads OpenAI's token ids); ``media`` says a
    Gemini input had a part that is not text (only Gemini can embed it).
    ``single``: one input, not a list (an OpenAI string, a Gemini
    ``embedContent``), which decides the shape of the answer.
    """

    texts: tuple[str, ...] = ()
    tokens: tuple[tuple[int, ...], ...] = ()
    dimensions: int | None = None
    task_type: str | None = None
    title: str | None = None
    single: bool = False
    base64: bool = False
    media: bool = False

    @property
    def count(self) -> int:
        return len(self.tokens) if self.tokens else len(self.texts)

    def estimated_tokens(self) -> int:
        """Prompt tokens when the upstream does not say (about four characters each)."""
        if self.tokens:
            return sum(len(t) for t in self.tokens)
        return estimate_tokens(list(self.texts))


@dataclass(frozen=True, slots=True)
class EmbedResult:
    """An upstream's vectors, in input order, and the prompt tokens it reported."""

    vectors: tuple[tuple[float, ...], ...]
    prompt_tokens: int | None = None


# -- reading client requests ---------------------------------------------------------


def openai_embed_request(body: Mapping[str, Any]) -> EmbedRequest:
    """An OpenAI ``/embeddings`` body, checked as the API checks it."""
    value = body.get("input")
    texts: tuple[str, ...] = ()
    tokens: tuple[tuple[int, ...], ...] = ()
    single = False
    if isinstance(value, str):
        if not value:
            raise TranslationError("input", "must not be empty")
        texts, single = (value,), True
    elif isinstance(value, list) and value:
        if len(value) > OPENAI_INPUT_LIMIT:
            raise TranslationError(
                "input", f"holds {len(value)} inputs; at most {OPENAI_INPUT_LIMIT} are allowed"
            )
        if all(isinstance(v, str) for v in value):
            for i, v in enumerate(value):
                if not v:
                    raise TranslationError(f"input[{i}]", "must not be empty")
            texts = tuple(value)
        elif all(_is_int(v) for v in value):
            tokens, single = (tuple(value),), True
        elif all(isinstance(v, list) and v and all(_is_int(t) for t in v) for v in value):
            tokens = tuple(tuple(v) for v in value)
        else:
            raise TranslationError(
                "input",
                "must be a string, an array of strings, an array of token ids"
                " or an array of token-id arrays (none empty)",
            )
    else:
        raise TranslationError(
            "input", "is required: a non-empty string or array (of strings or token ids)"
        )
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64"):
        raise TranslationError("encoding_format", "must be 'float' or 'base64'")
    task = body.get("task_type")
    if task is not None and (not isinstance(task, str) or task not in GEMINI_TASK_TYPES):
        raise TranslationError(
            "task_type", f"must be one of {', '.join(sorted(GEMINI_TASK_TYPES))}"
        )
    return EmbedRequest(
        texts=texts,
        tokens=tokens,
        dimensions=_dimensions(body.get("dimensions"), "dimensions"),
        task_type=task,
        single=single,
        base64=fmt == "base64",
    )


def gemini_embed_request(body: Mapping[str, Any], model: str, *, batch: bool) -> EmbedRequest:
    """A Gemini ``embedContent`` (or ``batchEmbedContents``) body for ``model``."""
    if not batch:
        text, media = _content_text(body.get("content"), "content")
        return EmbedRequest(
            texts=(text,),
            dimensions=_dimensions(body.get("outputDimensionality"), "outputDimensionality"),
            task_type=_task(body.get("taskType"), "taskType"),
            title=_title(body.get("title"), "title"),
            single=True,
            media=media,
        )
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise TranslationError("requests", "must be a non-empty array")
    if len(requests) > GEMINI_BATCH_LIMIT:
        raise TranslationError(
            "requests", f"at most {GEMINI_BATCH_LIMIT} requests can be in one batch"
        )
    texts: list[str] = []
    media = False
    shared: dict[str, Any] = {}
    for i, item in enumerate(requests):
        path = f"requests[{i}]"
        if not isinstance(item, dict):
            raise TranslationError(path, "must be an object")
        named = item.get("model")
        if named is not None and named not in (model, f"models/{model}"):
            raise TranslationError(
                f"{path}.model", f"{named!r} does not match the model of the URL (models/{model})"
            )
        text, has_media = _content_text(item.get("content"), f"{path}.content")
        texts.append(text)
        media |= has_media
        options = {
            "dimensions": _dimensions(
                item.get("outputDimensionality"), f"{path}.outputDimensionality"
            ),
            "task_type": _task(item.get("taskType"), f"{path}.taskType"),
            "title": _title(item.get("title"), f"{path}.title"),
        }
        if i == 0:
            shared = options
        elif options != shared:
            raise TranslationError(
                path,
                "every request of a batch must use the same taskType, title and"
                " outputDimensionality here (send differing ones in separate batches)",
            )
    return EmbedRequest(texts=tuple(texts), media=media, **shared)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _dimensions(value: object, field: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65536:
        raise TranslationError(field, "must be a positive integer")
    return value


def _task(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in GEMINI_TASK_TYPES:  # [] is unhashable
        raise TranslationError(field, f"must be one of {', '.join(sorted(GEMINI_TASK_TYPES))}")
    return str(value)


def _title(value: object, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TranslationError(field, "must be a string")
    return value


def _content_text(content: object, path: str) -> tuple[str, bool]:
    """The text of one Gemini content (its text parts joined by newlines), and whether
    it had parts that are not text."""
    if not isinstance(content, dict):
        raise TranslationError(path, "is required: an object with 'parts'")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise TranslationError(f"{path}.parts", "must be a non-empty array")
    texts: list[str] = []
    media = False
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise TranslationError(f"{path}.parts[{j}]", "must be an object")
        text = part.get("text")
        if isinstance(text, str):
            texts.append(text)
        elif text is not None:
            raise TranslationError(f"{path}.parts[{j}].text", "must be a string")
        else:
            media = True
    return "\n".join(texts), media


# -- writing upstream requests ---------------------------------------------------------


def openai_upstream_body(req: EmbedRequest, model: str) -> bytes:
    """The OpenAI body for a request that came in another format (vectors asked as floats:
    every OpenAI-compatible server has them; not all have base64)."""
    if req.media:
        raise TranslationError(
            "content.parts", "only text can be embedded by an OpenAI-compatible upstream"
        )
    body: dict[str, Any] = {
        "model": model,
        "input": req.texts[0] if req.single else list(req.texts),
        "encoding_format": "float",
    }
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    return orjson.dumps(body)


def gemini_upstream_bodies(req: EmbedRequest, model: str) -> tuple[list[bytes], bool]:
    """Gemini bodies for ``req``: one ``embedContent`` for a single input, else
    ``batchEmbedContents`` bodies of at most 100 requests each. Second: batch or not."""
    if req.tokens:
        raise TranslationError(
            "input", "token-id inputs can only go to an OpenAI-compatible upstream (send text)"
        )
    options: dict[str, Any] = {}
    if req.task_type is not None:
        options["taskType"] = req.task_type
    if req.title is not None:
        options["title"] = req.title
    if req.dimensions is not None:
        options["outputDimensionality"] = req.dimensions
    if req.single:
        return [orjson.dumps({"content": {"parts": [{"text": req.texts[0]}]}, **options})], False
    name = f"models/{model}"
    items = [
        {"model": name, "content": {"parts": [{"text": text}]}, **options} for text in req.texts
    ]
    bodies = [
        orjson.dumps({"requests": items[i : i + GEMINI_BATCH_LIMIT]})
        for i in range(0, len(items), GEMINI_BATCH_LIMIT)
    ]
    return bodies, True


# -- reading upstream answers ------------------------------------------------------------


def openai_embed_result(data: bytes, expected: int) -> EmbedResult:
    """An OpenAI embeddings answer (float or base64 vectors), in input order."""
    body = _loads(data)
    items = body.get("data")
    if not isinstance(items, list) or len(items) != expected:
        raise TranslationError("data", f"expected {expected} embeddings")
    ordered: list[tuple[float, ...] | None] = [None] * expected
    for pos, item in enumerate(items):
        if not isinstance(item, dict):
            raise TranslationError(f"data[{pos}]", "expected an object")
        index = item.get("index", pos)
        if not isinstance(index, int) or not 0 <= index < expected or ordered[index] is not None:
            raise TranslationError(f"data[{pos}].index", "out of range or repeated")
        ordered[index] = _vector(item.get("embedding"), f"data[{pos}].embedding")
    usage = body.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    return EmbedResult(
        tuple(v for v in ordered if v is not None), tokens if isinstance(tokens, int) else None
    )


def gemini_embed_result(data: bytes, expected: int, *, batch: bool) -> EmbedResult:
    """A Gemini ``embedContent`` / ``batchEmbedContents`` answer."""
    body = _loads(data)
    if batch:
        items = body.get("embeddings")
        if not isinstance(items, list) or len(items) != expected:
            raise TranslationError("embeddings", f"expected {expected} embeddings")
    else:
        items = [body.get("embedding")]
    vectors = []
    for i, item in enumerate(items):
        values = item.get("values") if isinstance(item, dict) else None
        vectors.append(_vector(values, f"embeddings[{i}].values"))
    usage = body.get("usageMetadata")
    tokens = usage.get("promptTokenCount") if isinstance(usage, dict) else None
    return EmbedResult(tuple(vectors), tokens if isinstance(tokens, int) else None)


def _loads(data: bytes) -> Mapping[str, Any]:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TranslationError("body", f"malformed upstream answer ({exc})") from None
    if not isinstance(body, dict):
        raise TranslationError("body", "expected an object")
    return body


def _vector(value: object, path: str) -> tuple[float, ...]:
    if isinstance(value, str):  # base64 float32, little-endian
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            raise TranslationError(path, "not valid base64") from None
        if len(raw) % 4:
            raise TranslationError(path, "not a whole number of float32 values")
        return struct.unpack(f"<{len(raw) // 4}f", raw)
    if isinstance(value, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return tuple(float(v) for v in value)
    raise TranslationError(path, "expected an array of numbers")


# -- writing client answers ----------------------------------------------------------------


def openai_embed_response(result: EmbedResult, req: EmbedRequest, model: str) -> bytes:
    """The OpenAI answer (``base64``: the float32 bytes, as the OpenAI API sends them)."""
    tokens = result.prompt_tokens if result.prompt_tokens is not None else req.estimated_tokens()
    data: list[dict[str, Any]] = []
    for i, vector in enumerate(result.vectors):
        embedding: Sequence[float] | str = vector
        if req.base64:
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def gemini_embed_response(result: EmbedResult, *, batch: bool) -> bytes:
    if batch:
        return orjson.dumps({"embeddings": [{"values": v} for v in result.vectors]})
    return orjson.dumps({"embedding": {"values": result.vectors[0]}})
