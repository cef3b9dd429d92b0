"""Live credentials: the store's records kept in memory, refreshed in time.

``AuthManager`` owns the store, one ``LiveAuth`` per stored credential, and a
background loop that notices records added, changed or removed elsewhere
(by hand, by ``python -m router login``, by another router) and refreshes
tokens ahead of expiry. Requests never touch the store: ``LiveAuth.token()``
returns the token in memory, and only waits when it has (nearly) lapsed.

Refresh is single-flight per credential: one in-process lock, then the
store's lock (a file lock, or a PostgreSQL advisory lock across routers),
then a re-read, so whoever waited finds the fresh token instead of
refreshing again. The rotated refresh token / cookie is written to the
store *before* the new access token is handed to anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from suite.config import Config
from suite.logging import get_logger
from suite.outbound import Session, SessionPool, new_session
from suite.proxies import InvalidProxy
from suite.tasks import spawn

from ._backends import open_store
from ._clerk import clerk_refresh
from ._live import LiveAuth, settled
from ._oauth import Profiles, RefreshFailed, profiles_from_config, refresh_oauth
from ._record import KIND_TYPES, AuthRecord, Token, check_name
from ._sign_in_proxy import SignInProxies
from ._store import Conflict, Store, StoreError

__all__ = ["AuthManager", "LiveAuth"]

log = get_logger("router.auth")


class AuthManager:
    """The store and every live credential of one router process."""

    def __init__(self, config: Config) -> None:
        self.store: Store = open_store(config.auth)
        self._store_kind = (config.auth.store, config.auth.dsn, config.auth.dir)
        self.profiles: Profiles = profiles_from_config(config)
        self.poll_seconds = config.auth.poll_seconds
        self.needed = _uses_store(config)
        self.on_change: Callable[[], object] | None = None
        # Told of every refresh at the provider: (record type, succeeded) - for /metrics.
        self.on_refresh: Callable[[str, bool], object] | None = None
        self._handles: dict[str, LiveAuth] = {}
        self._unreadable: dict[str, tuple[str, str]] = {}  # name -> (version, reason)
        # Token endpoints and logins: one session per proxy (suite.outbound).
        self._sessions = SessionPool(new_session)
        self._proxies = SignInProxies.of(config)
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._loop: asyncio.Task[None] | None = None
        self._background: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()

    # -- configuration and lifecycle -----------------------------------------

    def configure(self, config: Config) -> None:
        """A reloaded config: new endpoints/leads now; a new store needs a restart."""
        self.profiles = profiles_from_config(config)
        self._proxies = SignInProxies.of(config)
        self.poll_seconds = config.auth.poll_seconds
        newly = _uses_store(config) and not self.needed
        self.needed = self.needed or _uses_store(config)
        if (config.auth.store, config.auth.dsn, config.auth.dir) != self._store_kind:
            log.warning("auth store settings changed: restart the router to switch stores")
        if newly and self._loop is None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return
            self._loop = spawn(self._open_later(), name="auth-open")

    def lead(self, type_: str) -> float:
        return self.profiles.lead(type_)

    def session(self, type_: str, own: str = "") -> Session:
        """The HTTP client for ``type_``'s token endpoints (no cookie jar: accounts never
        mix), through the credential's own proxy (``own``), else its provider's, else
        the server's (docs/operations.md, "Outbound proxy"); InvalidProxy for a bad one."""
        return self._sessions.get(self._proxies.choose(type_, self._endpoint(type_), own))

    def _endpoint(self, type_: str) -> str:
        if type_ == "ctonew":
            return self.profiles.ctonew.clerk_url
        return self.profiles.oauth(type_).token_url

    async def start(self) -> None:
        """Open the store when a provider uses it (else on the first management call).

        A store that cannot be opened (database down) does not stop the router:
        API-key providers serve, and opening is retried in the background."""
        if not self.needed:
            return
        try:
            await self.ensure_open(background=True)
        except StoreError as exc:
            log.error("credential store unavailable; retrying in the background", error=str(exc))
            self._loop = spawn(self._open_later(), name="auth-open")

    async def _open_later(self) -> None:
        wait = 0.0
        while not self._opened:
            await asyncio.sleep(wait)
            wait = min(max(1.0, wait * 2), 30.0)
            try:
                async with self._open_lock:
                    await self.store.open()
                    self._opened = True
                    await self.sync()
            except StoreError as exc:
                log.warning("credential store still unavailable", error=str(exc))
        log.info("credential store opened")
        await self._run()

    async def ensure_open(self, *, background: bool = True) -> None:
        async with self._open_lock:
            if not self._opened:
                await self.store.open()
                self._opened = True
                await self.sync()
            if background and self._loop is None:
                self._loop = spawn(self._run(), name="auth-refresh")

    async def close(self) -> None:
        tasks = [t for t in (self._loop, *self._background.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop = None
        self._background.clear()
        await self._sessions.close()
        if self._opened:
            await self.store.close()
            self._opened = False

    # -- what routing sees ---------------------------------------------------

    def sources(self) -> dict[str, list[LiveAuth]]:
        """Usable credentials per executor kind (disabled and refused ones left out)."""
        out: dict[str, list[LiveAuth]] = {kind: [] for kind in KIND_TYPES}
        for kind, type_ in KIND_TYPES.items():
            for name in sorted(self._handles):
                h = self._handles[name]
                if h.type == type_ and h.record.state == "active":
                    out[kind].append(h)
        return out

    def get(self, name: str) -> LiveAuth | None:
        return self._handles.get(name)

    def summaries(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(self._handles):
            h = self._handles[name]
            item = h.record.summary()
            if h.error:
                item["last_error"] = h.error
            out.append(item)
        for name, (_, reason) in sorted(self._unreadable.items()):
            out.append(
                {
                    "name": name,
                    "provider": name.split("-", 1)[0],
                    "state": "unreadable",
                    "reason": reason,
                }
            )
        return out

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- noticing changes made elsewhere -------------------------------------

    async def sync(self) -> None:
        """Bring memory in line with the store; tell routing when the set changed."""
        versions = await self.store.versions()
        changed = False
        for name, version in versions.items():
            h = self._handles.get(name)
            if h is not None and h.record.version == version:
                continue
            bad = self._unreadable.get(name)
            if bad is not None and bad[0] == version:
                continue
            if h is not None and h.lock.locked():
                continue  # a refresh is writing it; the next poll reads the result
            changed |= await self._load(name, version, h)
        for name in [n for n in self._handles if n not in versions]:
            del self._handles[name]
            log.info("credential removed from the store", credential=name)
            changed = True
        for name in [n for n in self._unreadable if n not in versions]:
            del self._unreadable[name]
        if changed:
            self._changed()

    async def _load(self, name: str, version: str, h: LiveAuth | None) -> bool:
        try:
            if h is None:
                rec = await self.store.get(name)
            else:
                async with h.lock:
                    rec = await self.store.get(name)
        except StoreError as exc:
            self._unreadable[name] = (version, str(exc))
            log.warning("credential skipped: unreadable", credential=name, error=str(exc))
            return False
        self._unreadable.pop(name, None)
        if rec is None:
            return False
        if h is None:
            self._handles[name] = LiveAuth(self, rec)
            log.info("credential loaded", credential=name, state=rec.state)
            self._wake.set()
            return True
        before = h.record.state
        h.update(rec)
        h.recovered()  # changed elsewhere (a new login, a hand edit): worth trying again
        return before != rec.state

    async def _run(self) -> None:
        """Poll the store; refresh what is due (disabled and cooling ones too)."""
        while True:
            try:
                await self.sync()
            except StoreError as exc:
                log.warning("credential store poll failed", error=str(exc))
            now = time.time()
            for h in list(self._handles.values()):
                tok = h.current
                if h.record.refresh_refused or h.backing_off(now):
                    continue
                if not tok.access or now >= tok.expires_at - self.lead(h.type):
                    self.kick(h)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    def kick(self, h: LiveAuth) -> None:
        """Refresh ``h`` in the background unless that is already under way."""
        task = self._background.get(h.name)
        if task is not None and not task.done():
            return
        self._background[h.name] = spawn(self._refresh_quietly(h), name=f"refresh-{h.name}")

    async def _refresh_quietly(self, h: LiveAuth) -> None:
        try:
            await self._refresh(h, h.current.access, False)
        except (RefreshFailed, StoreError):
            pass  # logged where it happened; the backoff decides the next try

    # -- the refresh itself --------------------------------------------------

    async def refresh(self, h: LiveAuth, stale: str, *, force: bool) -> Token:
        """Refresh ``h`` unless done meanwhile. Runs in its own task, shielded: a client
        that goes away mid-refresh must not cancel it after the provider rotated the
        refresh token and before the new one is stored."""
        if h.lock.locked() or not settled(h.current, stale, force, self.lead(h.type)):
            task = spawn(self._refresh(h, stale, force), name=f"refresh-{h.name}")
            task.add_done_callback(_retrieve)
            return await asyncio.shield(task)
        return h.current

    async def _refresh(self, h: LiveAuth, stale: str, force: bool) -> Token:
        lead = self.lead(h.type)
        async with h.lock:
            if settled(h.current, stale, force, lead):
                return h.current
            if h.record.refresh_refused:
                raise RefreshFailed(h.record.disabled_reason or "refresh refused", refused=True)
            if h.backing_off():
                raise h.waiting()  # a 401 storm must not get round the backoff either
            try:
                async with self.store.lock(h.name):
                    return await self._refresh_locked(h, stale, force, lead)
            except StoreError as exc:
                self._backoff(h, f"credential store: {exc}")
                raise RefreshFailed(f"credential store unavailable: {exc}", refused=False) from None

    async def _refresh_locked(self, h: LiveAuth, stale: str, force: bool, lead: float) -> Token:
        current = await self.store.get(h.name)
        if current is None:
            raise RefreshFailed("the credential was deleted", refused=True)
        if current.version != h.record.version:
            h.update(current)  # another process refreshed (or someone edited it)
            if settled(h.current, stale, force, lead):
                return h.current
        else:
            current = h.record  # the same, or newer: rotated tokens a failing store refused
        if current.refresh_refused:
            raise RefreshFailed(current.disabled_reason or "refresh refused", refused=True)
        try:
            data = await self._provider_refresh(current)
        except RefreshFailed as exc:
            if exc.rotated:  # stored before anything else can go wrong
                h.update(await self._store_rotated(h, current, {**current.data, **exc.rotated}))
            self._refresh_done(h, False)
            if exc.refused:
                await self._refused(h, h.record, exc.message)
            else:
                self._backoff(h, exc.message, exc.retry_after)
            raise
        h.update(await self._store_rotated(h, current, data))  # stored first, handed out second
        self._refresh_done(h, True)
        left = h.current.expires_at - time.time()
        if left <= 0:  # a token that is dead on arrival would be fetched again at every poll
            self._backoff(h, "the provider answered with a token that has already expired")
            raise h.waiting()
        h.recovered()
        log.info("credential refreshed", credential=h.name, expires_in=round(left))
        return h.current

    def _refresh_done(self, h: LiveAuth, ok: bool) -> None:
        if self.on_refresh is not None:
            self.on_refresh(h.type, ok)

    async def _store_rotated(
        self, h: LiveAuth, current: AuthRecord, data: Mapping[str, Any]
    ) -> AuthRecord:
        """Write the new tokens. The provider already rotated them, so they must not be
        lost: a record edited meanwhile gets them merged in; a store that fails keeps
        them in memory (and says so loudly) rather than dropping them."""
        record = AuthRecord(current.name, current.type, data, current.version)
        tokens = {k: v for k, v in data.items() if current.data.get(k) != v}
        try:
            for _ in range(3):
                try:
                    return await self.store.put(record, record.version)
                except Conflict:
                    latest = await self.store.get(current.name)
                    if latest is None:
                        raise RefreshFailed("the credential was deleted", refused=True) from None
                    record = AuthRecord(
                        latest.name, latest.type, {**latest.data, **tokens}, latest.version
                    )
            return await self.store.put(record, None)
        except StoreError as exc:
            log.error(
                "rotated token NOT stored; kept in memory only", credential=h.name, error=str(exc)
            )
            return record

    async def _provider_refresh(self, record: AuthRecord) -> dict[str, Any]:
        """The provider's new token fields. Whatever goes wrong is a RefreshFailed, so that
        it backs off: an exception escaping here once meant a new try at every poll."""
        try:
            session = self.session(record.type, record.proxy_url)
            if record.type == "ctonew":
                return await clerk_refresh(session, self.profiles.ctonew, record)
            return await refresh_oauth(session, self.profiles.oauth(record.type), record)
        except RefreshFailed:
            raise
        except InvalidProxy as exc:
            msg = f"the credential's proxy_url cannot be used: {exc}"
            raise RefreshFailed(msg, refused=False) from None
        except Exception as exc:  # any failure must back off, not repeat at every poll
            log.error("credential refresh failed unexpectedly", error=type(exc).__name__)
            raise RefreshFailed(f"refresh failed ({type(exc).__name__})", refused=False) from None

    def _backoff(self, h: LiveAuth, reason: str, retry_after: float | None = None) -> None:
        wait = h.failed(reason, retry_after)
        log.warning(
            "credential refresh failed; will retry",
            credential=h.name,
            error=reason,
            retry_in=round(wait, 1),
        )

    async def _refused(self, h: LiveAuth, current: AuthRecord, reason: str) -> None:
        log.warning(
            "credential refresh refused: disabled until a new login",
            credential=h.name,
            error=reason,
        )
        rec = current.with_data(refresh_refused=True, disabled_reason=f"refresh refused: {reason}")
        try:
            h.update(await self.store.put(rec, current.version))
        except StoreError as exc:
            h.update(rec)
            log.warning("could not record the refused refresh", credential=h.name, error=str(exc))
        self._changed()

    # -- changes asked for by logins and the management API -----------------

    async def save(self, record: AuthRecord) -> AuthRecord:
        """Store a new login (replacing an older one of the same account)."""
        await self.ensure_open(background=self.needed)
        async with self.store.lock(record.name):
            saved = await self._put_replacing(record)
        h = self._handles.get(saved.name)
        if h is None:
            self._handles[saved.name] = LiveAuth(self, saved)
        else:
            h.update(saved)
            h.recovered()
        self._unreadable.pop(saved.name, None)
        log.info("credential saved", credential=saved.name, store=self.store.describe(saved.name))
        self._changed()
        return saved

    async def _put_replacing(self, record: AuthRecord) -> AuthRecord:
        for _ in range(3):
            try:
                current = await self.store.get(record.name)
            except StoreError:
                current = None  # an unreadable file is simply replaced
            try:
                return await self.store.put(record, current.version if current else None)
            except Conflict:
                continue
        return await self.store.put(record, None)

    async def delete(self, name: str) -> bool:
        await self.ensure_open(background=self.needed)
        check_name(name)
        async with self.store.lock(name):
            found = await self.store.delete(name)
        if self._handles.pop(name, None) is not None:
            found = True
        if self._unreadable.pop(name, None) is not None:
            found = True
        if found:
            log.info("credential deleted", credential=name)
            self._changed()
        return found

    async def set_disabled(self, name: str, disabled: bool) -> AuthRecord | None:
        if disabled:
            changes = {"disabled": True, "disabled_reason": "disabled by an operator"}
        else:
            changes = {"disabled": None, "disabled_reason": None, "refresh_refused": None}
        return await self.edit(
            name, "credential " + ("disabled" if disabled else "enabled"), changes
        )

    async def set_proxy(self, name: str, proxy_url: str) -> AuthRecord | None:
        """The credential's own outbound proxy (checked by the caller); "" removes it."""
        return await self.edit(name, "credential proxy changed", {"proxy_url": proxy_url or None})

    async def edit(self, name: str, event: str, changes: Mapping[str, Any]) -> AuthRecord | None:
        """Change fields of a stored credential (None removes one); None if there is none."""
        await self.ensure_open(background=self.needed)
        check_name(name)
        async with self.store.lock(name):
            current = await self.store.get(name)
            if current is None:
                return None
            saved = await self.store.put(current.with_data(**changes), current.version)
        h = self._handles.get(name)
        if h is None:
            self._handles[name] = LiveAuth(self, saved)
        else:
            h.update(saved)
            h.recovered()
        log.info(event, credential=name)
        self._changed()
        return saved

    def records(self) -> Mapping[str, AuthRecord]:
        return {name: h.record for name, h in self._handles.items()}


def _retrieve(task: asyncio.Task[Token]) -> None:
    """Mark the outcome seen (the caller may have gone away; it was logged already)."""
    if not task.cancelled():
        task.exception()


def _uses_store(config: Config) -> bool:
    return any(p.kind in KIND_TYPES and p.enabled for p in config.providers.values())
