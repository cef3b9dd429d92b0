"""``python -m webai``: run the webai service in the foreground.

supervisord runs this as the ``webai`` program when ``providers.webai.enabled``
is true; by hand: ``.venv/bin/python -m webai [--config FILE] [--provider NAME]``.
Exit status 2 with one line on stderr for a config problem.
"""

from __future__ import annotations

import argparse
import sys

from aiohttp import web

from suite.config import ConfigError, load_config
from suite.logging import get_logger, setup_logging
from webai import create_app, load_settings, silence_library_logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webai", description=__doc__)
    parser.add_argument("--config", help="config file (default: $CLIPROXY_CONFIG or config.yaml)")
    parser.add_argument("--provider", help="the webai provider to serve (default: 'webai')")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "check"])
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        settings = load_settings(config, args.provider)
        if args.command == "check":
            print(f"config ok: {config.source}: webai on {settings.host}:{settings.port}")
            return 0
        setup_logging("webai", config.logging.level)
        silence_library_logs()
        app = create_app(settings)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    log = get_logger("webai")
    log.info("webai starting", host=settings.host, port=settings.port)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        shutdown_timeout=10.0,
        handle_signals=True,
    )
    log.info("webai stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
