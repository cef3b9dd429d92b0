"""``python -m router``: run the router in the foreground.

supervisord runs this (one process per ``server.workers``, sharing the port
with SO_REUSEPORT); ``scripts/dev/start-router.sh`` runs it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
import sys

from aiohttp import web

from router._server import BACKLOG, raise_descriptor_limit
from router.api import STATE
from router.app import RouterRunner, create_app
from suite.config import Config, ConfigError, ServerConfig, load_config
from suite.logging import get_logger, setup_logging
from suite.management_key import with_stored_key

_SHORT_KEY = 24


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["show-request"]:  # python -m router show-request ID: a stored capture
        from router.observability import show_request

        return show_request(argv[1:])
    if argv[:1] == ["keys"]:  # python -m router keys add|list|show|revoke: client keys
        from router.keys import keys_command

        return keys_command(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m router", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "check", "login", "accounts", "management-key"],
    )
    parser.add_argument(
        "provider", nargs="?", choices=["claude", "codex", "ctonew"], help="login only"
    )
    parser.add_argument("--config", help="config file (default: $CLIPROXY_CONFIG or config.yaml)")
    login = parser.add_argument_group("login")
    login.add_argument("--paste", action="store_true", help="paste the code instead of a callback")
    login.add_argument("--cookie", help="ctonew: the __client cookie (else asked for)")
    login.add_argument("--port", type=int, help="callback port (default: the provider's)")
    login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait (300)")
    login.add_argument(
        "--proxy", default="", help="the account's own outbound proxy (stored with it), or direct"
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"config ok: {config.source}")
        return 0
    if args.command == "management-key":  # the console's key (generated when none is set)
        from router.console import management_key_command

        return management_key_command(config)
    config = with_stored_key(config)  # no management.key set: the one make start generated
    if args.command == "accounts":  # each sign-in's plan use, from the running router
        from router.auth import accounts_command

        return accounts_command(config)
    if args.command == "login":
        if args.provider is None:
            parser.error("login needs a provider: claude, codex or ctonew")
        from router.auth import login_command

        setup_logging("router-login", "warning")
        opts = {"paste": args.paste, "cookie": args.cookie, "port": args.port, "proxy": args.proxy}
        return login_command(config, args.provider, timeout=args.timeout, **opts)
    return serve(config)


def serve(config: Config) -> int:
    setup_logging("router", config.logging.level)
    log = get_logger("router")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows lacks it
        log.warning("uvloop not available; using the default event loop")
    srv = config.server
    nofile = raise_descriptor_limit()
    if 0 < len(config.management.key) < _SHORT_KEY:
        # Wrong keys are rate-limited, but the right one always passes: only its length
        # keeps it from being guessed (docs/operations.md, "Limits").
        log.warning("management.key is shorter than 24 characters: use a long random key")
    if not srv.api_keys:
        log.warning("server.api_keys is empty: only loopback clients will be served", host=srv.host)
    app = create_app(config, watch=True)
    for warning in app[STATE].current.warnings:
        log.warning(warning)
    # What exists now (modules, the app, compiled routes) lives as long as the process:
    # keep it out of full collections, whose pause grows with the heap they walk.
    gc.collect()
    gc.freeze()
    log.info("router starting", host=srv.host, port=srv.port, workers=srv.workers, nofile=nofile)
    # web.run_app, but on RouterRunner.
    runner = RouterRunner(app, access_log=None, shutdown_timeout=srv.shutdown_grace_seconds)
    asyncio.run(_serve(runner, srv))
    log.info("router stopped")
    return 0


async def _serve(runner: RouterRunner, srv: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT; then stop accepting and let requests in flight finish
    (``shutdown_grace_seconds``) before the loop ends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()
    try:
        site = web.TCPSite(runner, srv.host, srv.port, reuse_port=srv.workers > 1, backlog=BACKLOG)
        await site.start()
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
