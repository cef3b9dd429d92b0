"""A token file uploaded from the console, in CLIProxyAPI's format, checked before it is stored.

CLIProxyAPI writes one JSON document per sign-in (``claude-<email>.json``,
``codex-<email>.json``: ``type``, ``email``, ``access_token``,
``refresh_token``, ``id_token``, ``expired``, ``last_refresh``, codex's
``account_id``); ours adds cto.new's (``client_cookie`` ...). Dropping such a
file into the auth dir works; the upload does the same through the store
(file or PostgreSQL), with clear words for what is wrong: not JSON, a type
this router does not serve (CLIProxyAPI also has Gemini, Qwen, iFlow ...),
no token at all. The stored name is ``<type>-<account>`` as if signed in here
(the account from ``email``, else from the file name). The file's other keys
are kept as they are.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.auth import KIND_TYPES, AuthRecord, record_name
from suite.proxies import InvalidProxy, check_proxy_setting

__all__ = ["MAX_TOKEN_FILE_BYTES", "TokenFileError", "parse_token_file"]

MAX_TOKEN_FILE_BYTES = 256 * 1024
_TYPES = sorted(set(KIND_TYPES.values()))
_NEEDS = {
    "claude": ("access_token", "refresh_token"),
    "codex": ("access_token", "refresh_token"),
    "ctonew": ("client_cookie",),
}


class TokenFileError(ValueError):
    """The upload is not a token file this router can use; the message says why."""


def parse_token_file(filename: str, content: Any) -> AuthRecord:
    """The record to store for an uploaded file (``content``: its text, or the parsed object)."""
    if isinstance(content, str):
        if len(content) > MAX_TOKEN_FILE_BYTES:
            raise TokenFileError(f"the file is larger than {MAX_TOKEN_FILE_BYTES // 1024} KB")
        try:
            content = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise TokenFileError("the file is not JSON (a token file is one JSON object)") from None
    if not isinstance(content, dict):
        raise TokenFileError("the file must hold one JSON object (a CLIProxyAPI token file)")
    stem = filename.rsplit("/", 1)[-1].removesuffix(".json")
    declared = content.get("type")
    type_ = declared if isinstance(declared, str) and declared else stem.split("-", 1)[0]
    if type_ not in _NEEDS:
        shown = repr(type_[:40]) if type_ else "none"
        raise TokenFileError(
            f"credential type {shown} is not one this router serves "
            f'(expected {", ".join(_TYPES)} in the file\'s "type")'
        )
    needed = _NEEDS[type_]
    if not any(isinstance(content.get(k), str) and content[k].strip() for k in needed):
        raise TokenFileError(f"a {type_} token file needs {' or '.join(needed)}; this one has none")
    email = content.get("email")
    account = email if isinstance(email, str) and email.strip() else ""
    if not account and "-" in stem and stem.split("-", 1)[0] == type_:
        account = stem.split("-", 1)[1]
    if not account:
        raise TokenFileError(
            'the file names no account: no "email", and the file name is not <type>-<account>.json'
        )
    data = {k: v for k, v in content.items() if v is not None}
    data["type"] = type_
    proxy = data.get("proxy_url", "")  # the account's own outbound proxy (docs/credentials.md)
    try:
        if not isinstance(proxy, str):
            raise InvalidProxy("expected a string")
        check_proxy_setting(proxy)
    except InvalidProxy as exc:
        raise TokenFileError(f'"proxy_url": {exc}') from None
    return AuthRecord(record_name(type_, account), type_, data)
