"""``python -m router keys add|list|show|revoke``: client keys from the command line.

The commands work on the store directly (the file in ``auth.dir``, or the
PostgreSQL table); a running router notices the change within about half a
second. ``add`` prints the new key once: only its hash is kept, so it cannot be
shown again. Nothing else ever prints a key.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import replace
from typing import Any

import orjson

from router.shared import SharedState, SharedStateError, backend_for, backend_name, host_path
from suite.config import Config, ConfigError, load_config

from ._errors import KeyStoreError
from ._key import ClientKey, InvalidKeyField, find_key
from ._limits import key_usage
from ._ring import config_view
from ._store import open_key_store

__all__ = ["keys_command"]

_COLUMNS = ("id", "name", "prefix", "state", "expires_at", "models", *("rpm", "tpd", "month"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m router keys", description=__doc__)
    p.add_argument("--config", help="config file (default: $CLIPROXY_CONFIG or config.yaml)")
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="create a key and print it (once)")
    add.add_argument("name", help="the key's name: shown in usage and logs")
    add.add_argument("--models", help="comma-separated globs (gpt-*,claude-*); default: all")
    add.add_argument("--rpm", type=int, help="requests per minute")
    add.add_argument("--tokens-per-day", type=int, help="tokens per UTC day (in + out)")
    add.add_argument("--monthly-budget", type=int, help="tokens per calendar month (UTC)")
    add.add_argument("--expires", help="ISO date or time (UTC), or a duration: 12h, 30d, 2w")
    for name, text in (("list", "every key (never the keys themselves)"), ("show", "one key")):
        cmd = sub.add_parser(name, help=text)
        if name == "show":
            cmd.add_argument("ref", help="the key's id or name")
        cmd.add_argument("--json", action="store_true", help="JSON instead of text")
    revoke = sub.add_parser("revoke", help="revoke a key: it gets 401 from then on")
    revoke.add_argument("ref", help="the key's id or name")
    return p


def keys_command(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(config, args))
    except (KeyStoreError, InvalidKeyField) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


async def _run(config: Config, args: argparse.Namespace) -> int:
    store = open_key_store(config.auth)
    await store.open()
    try:
        if args.action == "add":
            fields: dict[str, Any] = {
                "models": args.models or (),
                "expires_at": args.expires,
                "requests_per_minute": args.rpm,
                "tokens_per_day": args.tokens_per_day,
                "monthly_token_budget": args.monthly_budget,
            }
            key, secret = ClientKey.new(args.name, **fields)
            await store.create(key)
            print(f"created key {key.name!r} ({key.id}) in {store.describe()}")
            print(f"key: {secret}")
            print("shown once: store it now (only its hash is kept)")
            return 0
        keys = await store.load()
        if args.action == "list":
            return _list(config, keys, args.json)
        found = find_key(keys, args.ref)
        if found is None:
            print(f"error: no key with id or name {args.ref[:80]!r}", file=sys.stderr)
            return 1
        if args.action == "revoke":
            now = time.time()
            done = await store.update(
                found.id, lambda k: k if k.revoked_at is not None else replace(k, revoked_at=now)
            )
            print(f"revoked key {found.name!r} ({found.id})" if done else "error: key vanished")
            return 0 if done else 1
        view: dict[str, Any] = found.view(time.time())
        view["usage"] = await _usage(config, found)
        if args.json:
            print(orjson.dumps(view, option=orjson.OPT_INDENT_2).decode())
        else:
            for name, value in view.items():
                print(f"{name:21} {_text(value)}")
        return 0
    finally:
        await store.close()


def _list(config: Config, keys: Any, as_json: bool) -> int:
    now = time.time()
    views = [config_view(raw.encode()) for raw in config.server.api_keys] + [
        k.view(now) for k in keys
    ]
    if as_json:
        print(orjson.dumps({"keys": views}, option=orjson.OPT_INDENT_2).decode())
        return 0
    rows = [
        (
            v["id"],
            v["name"],
            v["prefix"] or "-",
            v["state"],
            v["expires_at"] or "never",
            ",".join(v["models"]) or "*",
            *(_text(v[f]) for f in ("requests_per_minute", "tokens_per_day")),
            _text(v["monthly_token_budget"]),
        )
        for v in views
    ]
    widths = [max(len(str(r[i])) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    for row in [_COLUMNS, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return 0


async def _usage(config: Config, key: ClientKey) -> dict[str, float | None] | str:
    name = backend_name(config)
    if name == "local":
        return "kept by the running router only (server.shared_state: local): GET /v1/keys/ID"
    if name == "host" and not host_path(config).exists():  # never create one here
        return f"no shared state at {host_path(config)} (set CLIPROXY_RUN_DIR to the suite's)"
    state = SharedState(backend_for(config))
    try:
        await state.backend.open()
        return await key_usage(state, key)
    except (SharedStateError, OSError) as exc:  # a store down must not hide the details
        return f"unavailable ({str(exc)[:120]})"
    finally:
        await state.backend.close()


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(map(str, value)) or "*"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)
