"""``python -m aistudio``: run the browser-pool service; ``login --profile NAME`` signs one in.

supervisord runs ``python -m aistudio`` when ``providers.aistudio.enabled``;
``scripts/dev/start-aistudio.sh`` runs it in the foreground. Problems that
need a person (no browser, no display for login) are one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from suite.config import ConfigError, load_config
from suite.logging import get_logger, setup_logging

from ._engines import EngineMissing, choose_engine
from ._login import LoginFailed, login
from ._profiles import ProfileStore
from ._service import Service
from ._settings import Settings, settings_from_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aistudio", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "login"])
    parser.add_argument("--config", help="config file (default: $CLIPROXY_CONFIG or config.yaml)")
    parser.add_argument("--provider", help="which aistudio provider of the config (default: first)")
    parser.add_argument("--profile", default="default", help="login: the profile to sign in")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        settings = settings_from_config(config, args.provider)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    setup_logging("aistudio", config.logging.level)
    try:
        if args.command == "login":
            return asyncio.run(_login(settings, args.profile))
        return asyncio.run(_serve(settings))
    except EngineMissing as exc:
        print(f"aistudio: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"aistudio: {exc.strerror or exc}", file=sys.stderr)
        return 1


async def _login(settings: Settings, profile: str) -> int:
    engine = choose_engine(settings.browser, settings.proxy)
    try:
        path = await login(settings, ProfileStore(settings.auth_dir), engine, profile)
    except LoginFailed as exc:
        print(f"aistudio login: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.stop()
    print(f"profile {profile} saved to {path}")
    return 0


async def _serve(settings: Settings) -> int:
    log = get_logger("aistudio")
    service = Service(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    try:
        await stop.wait()
    finally:
        log.info("aistudio service stopping")
        await service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
