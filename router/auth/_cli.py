"""``python -m router login claude|codex|ctonew``: sign in from a terminal.

Prints the URL, waits for the browser's redirect (or a pasted code with
``--paste``), and says where the credential was saved. A running router
picks the new credential up from the store without a restart.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from suite.config import Config

from ._login import Logins, Mode
from ._manager import AuthManager
from ._oauth import LoginError
from ._record import InvalidName
from ._store import StoreError

__all__ = ["login_command"]

_PROGRESS_SECONDS = 15.0


def login_command(
    config: Config,
    provider: str,
    *,
    paste: bool = False,
    cookie: str | None = None,
    timeout: float = 300.0,
    port: int | None = None,
    out: TextIO | None = None,
    read_line: Callable[[str], str] = input,
    proxy: str = "",
) -> int:
    """Run one login; 0 when a credential was saved, 1 otherwise. ``proxy``: the
    account's own outbound proxy, used to sign in and stored with it."""
    stream = out or sys.stdout
    return asyncio.run(
        _login(config, provider, paste, cookie, timeout, port, stream, read_line, proxy)
    )


async def _ask(read_line: Callable[[str], str], prompt: str, timeout: float) -> str:
    """A line from the terminal without blocking the loop (a daemon thread, so a
    timed-out prompt cannot keep the process alive)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            line = read_line(prompt)
        except (EOFError, OSError) as exc:
            loop.call_soon_threadsafe(_settle, answer, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, answer, line, None)

    threading.Thread(target=read, daemon=True, name="login-prompt").start()
    try:
        return await asyncio.wait_for(answer, timeout)
    except TimeoutError:
        raise LoginError(f"nothing was pasted within {timeout:.0f}s") from None
    except (EOFError, OSError):
        raise LoginError("no input (stdin closed)") from None


def _settle(fut: asyncio.Future[str], value: str | None, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value or "")


async def _login(
    config: Config,
    provider: str,
    paste: bool,
    cookie: str | None,
    timeout: float,
    port: int | None,
    out: TextIO,
    read_line: Callable[[str], str],
    proxy: str = "",
) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    manager = AuthManager(config)
    logins = Logins(manager)
    try:
        await manager.ensure_open(background=False)
        if provider == "ctonew":
            pasted = cookie or await _ask(
                read_line,
                "Paste the cto.new __client cookie (or the whole Cookie header): ",
                timeout,
            )
            say("Checking the cookie with cto.new ...")
            rec = await logins.ctonew(pasted, proxy)
            say(f"Signed in to cto.new as {rec.account}.")
            say(f"Credential saved to {manager.store.describe(rec.name)}")
            return 0
        mode: Mode = "paste" if paste else "callback"
        flow = await logins.start(provider, mode, port=port, proxy_url=proxy)
        say(f"Open this URL in a browser and sign in to {provider}:\n\n  {flow.url}\n")
        if paste:
            hint = (
                "CODE#STATE shown by the page"
                if provider == "claude"
                else "the whole URL of the page"
            )
            text = await _ask(read_line, f"Paste {hint}: ", timeout)
            flow = await logins.submit(text, flow.state)
        else:
            say(
                f"Waiting for the browser to return to {flow.redirect_uri} (up to {timeout:.0f}s) ..."
            )
            deadline = time.monotonic() + timeout
            while not flow.done.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    await logins.cancel(flow, "timed out")
                    say(
                        f"Login failed: no sign-in came back within {timeout:.0f}s; nothing was saved."
                        " On a server without a browser, run again with --paste."
                    )
                    return 1
                await logins.wait(flow, min(_PROGRESS_SECONDS, left))
                if not flow.done.is_set():
                    say(f"  still waiting ({max(0.0, deadline - time.monotonic()):.0f}s left) ...")
        if flow.status != "done" or flow.record is None:
            say(f"Login failed: {flow.error or 'unknown error'}")
            return 1
        say(f"Signed in to {provider} as {flow.record.account}.")
        say(f"Credential saved to {flow.saved_to}")
        return 0
    except (LoginError, StoreError, InvalidName) as exc:
        say(f"Login failed: {exc}")
        return 1
    finally:
        await logins.close()
        await manager.close()
