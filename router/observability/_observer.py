"""The router's observer: what every answered request leaves behind.

``finish`` runs once per request, at the end of the middleware: a few
counter increments on cached label children and one tuple appended to the
usage queue (no I/O, no lock, no allocation beyond the record). Everything
else (gauges, batch writes, scrapes) happens off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from aiohttp import web

from router.formats import Format
from router.routing import RoutingTable
from router.state import RouterState
from suite.config import Config
from suite.logging import get_logger
from suite.tasks import spawn, stop

from ._capture_store import CaptureStore
from ._credentials import CredentialView, credential_views
from ._metrics import Metrics, credential_counts
from ._peers import publish_views, withdraw_views
from ._usage import UsageRecorder
from ._usage_store import open_usage

__all__ = ["OBSERVER", "Finished", "Observer", "client_key_id", "observer_context"]

log = get_logger("router.observability")
_SAMPLE_SECONDS = 1.0  # several workers: how stale another worker's numbers may be
_MODEL_MAX = 200  # characters of a model name kept in a usage record


class Finished(Protocol):
    """What ``finish`` reads of a request (``router.api``'s RequestContext)."""

    request_id: str
    fmt: Format
    started: float
    model: str | None
    provider: str | None
    credential: str | None
    attempts: int
    status: int
    stream: bool
    ttfb_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    tokens_cached: int | None
    tokens_reasoning: int | None
    error: str | None
    client: str | None
    failures: list[tuple[str, str]] | None


@lru_cache(maxsize=256)
def client_key_id(key: str | None) -> str:
    """A ``server.api_keys`` key's id for logs and usage: ``config:`` and a hash prefix,
    never the key (``router.keys.config_label``; a managed key's id is its name).
    ``local`` when no keys are configured (loopback callers)."""
    if not key:
        return "local"
    return "config:" + hashlib.sha256(key.encode()).hexdigest()[:10]


class Observer:
    """Metrics and usage recording of one router process."""

    def __init__(self, config: Config, state: RouterState, multiproc_dir: str | None) -> None:
        self.state = state
        self.started_at = time.time()
        self.metrics = Metrics(multiproc_dir) if config.metrics.enabled else None
        # Several workers share this directory: each publishes its credential views there.
        self.peers_dir = Path(multiproc_dir) if multiproc_dir else None
        self.usage: UsageRecorder | None = None
        if config.usage.enabled:
            self.usage = UsageRecorder(
                open_usage(config),
                config.usage.path.parent,
                config.usage.retention_days,
                on_flush=self._flushed,
            )
        # logging.capture: None when off, so the request path checks one attribute.
        self.capture = CaptureStore.from_config(config)
        state.auth.on_refresh = self.refresh_done
        self._table: RoutingTable | None = None
        self._models: frozenset[str] = frozenset()
        self._sampler: asyncio.Task[None] | None = None

    # -- hot path ---------------------------------------------------------------

    def model_label(self, model: str | None) -> str:
        """The name itself when the routing table lists it; else ``other`` (or ``none``)."""
        if model is None:
            return "none"
        table = self.state.current.table
        if table is not self._table:
            self._models = frozenset(name for name, _ in table.listed_models())
            self._table = table
        return model if model in self._models else "other"

    def finish(self, ctx: Finished) -> None:
        seconds = time.perf_counter() - ctx.started
        metrics = self.metrics
        if metrics is not None:
            tally = metrics.tally
            label = self.model_label(ctx.model)
            provider = ctx.provider or "none"
            ttfb = ctx.ttfb_ms / 1000 if ctx.ttfb_ms is not None else None
            tally.request(ctx.fmt.value, label, provider, ctx.status, seconds, ttfb)
            failed = 0
            if ctx.failures:
                failed = len(ctx.failures)
                for prov, outcome in ctx.failures:
                    tally.attempt(prov, outcome)
            if ctx.attempts > failed:
                tally.attempt(provider, "ok")
            if ctx.attempts > 1:
                tally.failover(label, ctx.attempts - 1)
            if ctx.tokens_in is not None:
                tally.tokens_used(
                    provider,
                    label,
                    ctx.tokens_in,
                    ctx.tokens_out or 0,
                    ctx.tokens_cached or 0,
                    ctx.tokens_reasoning or 0,
                )
        usage = self.usage
        if usage is not None and ctx.model is not None:
            usage.add(
                (  # a UsageRow (UsageRecord names the fields)
                    time.time(),
                    ctx.request_id,
                    ctx.client or "local",
                    ctx.fmt.value,
                    ctx.model[:_MODEL_MAX],
                    ctx.provider or "",
                    ctx.credential or "",
                    ctx.status,
                    ctx.stream,
                    ctx.attempts,
                    ctx.tokens_in or 0,
                    ctx.tokens_out or 0,
                    ctx.tokens_cached or 0,
                    ctx.tokens_reasoning or 0,
                    round(seconds * 1000, 2),
                    ctx.ttfb_ms,
                    ctx.error[:500] if ctx.error else None,
                )
            )

    def stream_opened(self) -> None:
        if self.metrics is not None:
            self.metrics.streams_open += 1

    def stream_closed(self) -> None:
        if self.metrics is not None:
            self.metrics.streams_open -= 1

    # -- hooks for other parts of the router --------------------------------------

    def refresh_done(self, provider: str, ok: bool) -> None:
        """A stored credential's refresh finished (``ok`` or not)."""
        if self.metrics is not None:
            self.metrics.refresh_done(provider, ok)

    # -- gauges -----------------------------------------------------------------

    def sample(self, views: Sequence[CredentialView] | None = None) -> None:
        """Set the gauges of things that are states, not events (credentials, relay)."""
        metrics = self.metrics
        if metrics is None:
            return
        if views is None:
            views = credential_views(self.state)
        providers = [n for n, p in self.state.current.config.providers.items() if p.enabled]
        metrics.set_credentials(
            credential_counts(providers, ((v.provider, v.state) for v in views))
        )
        metrics.set_quotas((v.provider, v.id, v.quota) for v in views if v.quota)
        metrics.set_headroom(
            (v.provider, v.id, v.headroom) for v in views if v.headroom is not None
        )
        peers = [p for p in self.state.relay.peers.values() if not p.closed]
        now = time.monotonic()
        metrics.set_relay(len(peers), sum(max(0, p.free()) for p in peers if p.usable(now)))
        if self.usage is not None:
            metrics.set_usage(self.usage.pending)

    async def render_metrics(self) -> bytes:
        assert self.metrics is not None
        self.sample()
        if self.metrics.multiproc_dir:
            return await asyncio.to_thread(self.metrics.render)
        return self.metrics.render()

    def _flushed(self, written: int, dropped: int, pending: int) -> None:
        if self.metrics is not None:
            if written:
                self.metrics.usage_written.inc(written)
            if dropped:
                self.metrics.usage_dropped.inc(dropped)
            self.metrics.set_usage(pending)

    async def _sample_forever(self, peers_dir: Path) -> None:
        while True:
            await asyncio.sleep(_SAMPLE_SECONDS)
            await self._tick(peers_dir)

    async def _tick(self, peers_dir: Path) -> None:
        """Several workers, once a second: this worker's gauges into the shared metric
        files, and its credential states for the other workers' status pages."""
        views = credential_views(self.state)
        self.sample(views)
        if self.metrics is not None:
            self.metrics.fold()
        try:
            await asyncio.to_thread(publish_views, peers_dir, views, time.time())
        except OSError as exc:  # the status page then shows only each worker's own
            log.warning("could not publish credential states", error=str(exc))

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
        if self.usage is not None:
            await self.usage.start()
        if self.capture is not None:
            await self.capture.start()
        if self.peers_dir is not None:  # several workers
            await self._tick(self.peers_dir)
            self._sampler = spawn(self._sample_forever(self.peers_dir), name="metrics-sampler")

    async def close(self) -> None:
        await stop(self._sampler)
        self._sampler = None
        if self.usage is not None:
            await self.usage.close()
        if self.capture is not None:
            await self.capture.close()
        if self.metrics is not None:
            self.metrics.process_exited()
        if self.peers_dir is not None:
            with contextlib.suppress(OSError):
                withdraw_views(self.peers_dir)


OBSERVER: web.AppKey[Observer] = web.AppKey("cliproxy_observer", Observer)


async def observer_context(app: web.Application) -> AsyncIterator[None]:
    """``app.cleanup_ctx``: start the usage writer; on stop, write every queued record."""
    obs = app[OBSERVER]
    await obs.start()
    yield
    await obs.close()
