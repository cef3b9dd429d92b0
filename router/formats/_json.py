"""Typed access to raw JSON bodies, raising TranslationError that names the field."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import orjson

from .ir import Image, JSONObject, TranslationError

Raw = Mapping[str, Any]  # a decoded JSON object at the raw edge
R = TypeVar("R")

#: What a malformed upstream body raises while being read.
MALFORMED = (AttributeError, KeyError, TypeError, ValueError)


def upstream_answer(fn: Callable[[Mapping[str, Any]], R]) -> Callable[[Mapping[str, Any]], R]:
    """``response_to_ir``: an answer of the wrong shape is a TranslationError, never a crash."""

    @functools.wraps(fn)
    def read(body: Mapping[str, Any]) -> R:
        try:
            return fn(body)
        except TranslationError:
            raise
        except MALFORMED as exc:
            raise TranslationError("body", f"malformed upstream answer ({exc})") from None

    return read


def obj(value: object, path: str) -> Raw:
    if type(value) is dict:  # what the JSON parser makes: skip the ABC check
        return value
    if not isinstance(value, Mapping):
        raise TranslationError(path, "expected an object")
    return value


def arr(value: object, path: str) -> Sequence[Any]:
    if type(value) is list:
        return value
    if not isinstance(value, list | tuple):
        raise TranslationError(path, "expected an array")
    return value


def opt_obj(m: Raw, key: str, path: str) -> Raw | None:
    value = m.get(key)
    return None if value is None else obj(value, f"{path}{key}")


def opt_arr(m: Raw, key: str, path: str) -> Sequence[Any]:
    value = m.get(key)
    return () if value is None else arr(value, f"{path}{key}")


def objects(value: object, path: str) -> Iterator[tuple[str, Raw]]:
    """The objects of the JSON array ``value``, each with its path (``path[i]``)."""
    for i, raw in enumerate(arr(value, path)):
        p = f"{path}[{i}]"
        yield p, obj(raw, p)


def opt_objects(m: Raw, key: str, path: str) -> Iterator[tuple[str, Raw]]:
    """:func:`objects` of an array that may be absent (or null)."""
    return objects(opt_arr(m, key, path), f"{path}{key}")


def opt_str(m: Raw, key: str, path: str) -> str | None:
    value = m.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TranslationError(f"{path}{key}", "expected a string")
    return value


def req_str(m: Raw, key: str, path: str) -> str:
    value = opt_str(m, key, path)
    if value is None:
        raise TranslationError(f"{path}{key}", "required")
    return value


def opt_bool(m: Raw, key: str, path: str) -> bool | None:
    value = m.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise TranslationError(f"{path}{key}", "expected a boolean")
    return value


def opt_num(m: Raw, key: str, path: str) -> float | None:
    value = m.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(f"{path}{key}", "expected a number")
    return float(value)


#: Integers a translated body may carry: what every upstream's JSON reads (64-bit).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def opt_int(m: Raw, key: str, path: str) -> int | None:
    """An integer field (``1.0`` counts; ``1e20`` is out of range, not truncated)."""
    value = m.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TranslationError(f"{path}{key}", "expected an integer")
    if not INT_MIN <= value <= INT_MAX:
        raise TranslationError(f"{path}{key}", f"out of range (at most {INT_MAX})")
    if value != int(value):
        raise TranslationError(f"{path}{key}", "expected an integer")
    return int(value)


def num_or_int(value: float | None) -> float | int | None:
    """Render 1.0 as 1 so bodies look like what clients send (only where an integer
    is exact: ``1e300`` stays a float)."""
    if value is None:
        return None
    return int(value) if -(2**53) <= value <= 2**53 and value == int(value) else value


def int_of(value: object) -> int:
    """A token count from an upstream body; anything odd counts as 0."""
    if type(value) is int:  # nearly always: no union check (a few of these per event)
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return int(value)


def schema_obj(value: object, path: str) -> JSONObject:
    """A JSON Schema object, copied into plain dicts/lists."""
    return dict(obj(value, path))


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def loads_object(text: str) -> JSONObject | None:
    """Parse tool-call arguments; None when not a JSON object."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def args_object(text: str) -> JSONObject:
    """Arguments for formats that need an object (Anthropic input, Gemini args)."""
    value = loads_object(text)
    return value if value is not None else {"_raw_arguments": text}


def args_text(value: object) -> str:
    """Arguments as JSON text from an upstream object (or string)."""
    if isinstance(value, str):
        return value
    return dumps({} if value is None else value)


# --------------------------------------------------------------------------- data URLs

_DATA_URL = re.compile(r"^data:([^;,]+)?(?:;[^,]*?)?;base64,(.*)$", re.S)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """``data:<mime>;base64,<data>`` -> (mime, data)."""
    m = _DATA_URL.match(url)
    if m is None:
        return None
    return (m.group(1) or "application/octet-stream", m.group(2))


def image_from_url(url: str) -> Image:
    """An image URL: a data URL's bytes, or a link (its type guessed from the name)."""
    parsed = parse_data_url(url)
    if parsed is not None:
        return Image(parsed[0], data=parsed[1])
    return Image(guess_media_type(url), url=url)


def file_from_data(data: str) -> Image:
    """A file's ``file_data``: a data URL, or bare base64 taken for a PDF."""
    parsed = parse_data_url(data)
    return Image(*parsed) if parsed else Image("application/pdf", data=data)


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def guess_media_type(url: str) -> str:
    lower = url.lower().split("?", 1)[0]
    for ext, mime in (
        (".png", "image/png"),
        (".gif", "image/gif"),
        (".webp", "image/webp"),
        (".pdf", "application/pdf"),
    ):
        if lower.endswith(ext):
            return mime
    return "image/jpeg"


# --------------------------------------------------------------------------- ids

_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")


def safe_id(value: str, prefix: str = "call_") -> str:
    """An id made of ``[A-Za-z0-9_-]`` (Anthropic's rule), stable for equal input."""
    if value and not _ID_BAD.search(value):
        return value
    if not value:
        return prefix + "0"
    cleaned = _ID_BAD.sub("_", value)
    digest = hashlib.sha1(value.encode()).hexdigest()[:8]
    return f"{cleaned}_{digest}"


def short_user(user: str) -> str:
    """OpenAI caps ``user`` at 64 characters: hash longer values, stably."""
    return user if len(user) <= 64 else _hashed_user(user)


@functools.lru_cache(maxsize=1024)
def _hashed_user(user: str) -> str:
    """A client sends the same user on every turn (Claude Code: a JSON of ids)."""
    return hashlib.sha256(user.encode()).hexdigest()
