"""Prometheus metrics of the router (prometheus-client, text format).

One router process: the metrics live in a private ``CollectorRegistry``.
Several (``server.workers`` > 1): supervisord's render sets
``PROMETHEUS_MULTIPROC_DIR`` (``<run dir>/prometheus``, wiped at each start)
and prometheus-client's multiprocess mode sums counters and histograms of
every worker, so any worker answers a scrape for all of them. Gauges of
shared things (streams, relay services) are summed over live workers; the
credential gauge keeps a ``pid`` label, because each worker has its own view
of cooldowns.

Label sets stay bounded: ``model`` is a name the routing table lists (or
``other``), ``status`` an HTTP status, ``outcome`` one too, ``provider`` a
configured provider (or ``none``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

__all__ = ["CREDENTIAL_STATES", "Metrics", "credential_counts"]

CREDENTIAL_STATES = ("ready", "cooling", "refreshing", "disabled", "login_required")
_LATENCY = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_TTFB = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_CHILD_LIMIT = 20_000  # a safety net: the label sets are bounded well below this

_ReqKids = tuple[Counter, Histogram, Histogram]
_TokenKids = tuple[Counter, Counter, Counter, Counter]


class Metrics:
    """Every metric of one router process, with the label children of the hot path cached."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: half the lines, nothing lost
        self.multiproc_dir = multiproc_dir
        self.registry = CollectorRegistry(auto_describe=True)
        reg = None if multiproc_dir else self.registry
        self.requests = Counter(
            "cliproxy_requests",
            "Client requests answered, by client format, model, provider and HTTP status.",
            ("format", "model", "provider", "status"),
            registry=reg,
        )
        self.duration = Histogram(
            "cliproxy_request_duration_seconds",
            "Time from request to the last byte of the answer.",
            ("format", "provider"),
            buckets=_LATENCY,
            registry=reg,
        )
        self.ttfb = Histogram(
            "cliproxy_time_to_first_byte_seconds",
            "Time from request to the first byte of the answer sent to the client.",
            ("format", "provider"),
            buckets=_TTFB,
            registry=reg,
        )
        self.attempts = Counter(
            "cliproxy_upstream_attempts",
            "Upstream attempts, by provider and outcome (ok, or the failed attempt's status).",
            ("provider", "outcome"),
            registry=reg,
        )
        self.failovers = Counter(
            "cliproxy_failovers",
            "Moves to the next candidate after a failed attempt.",
            ("model",),
            registry=reg,
        )
        self.tokens = Counter(
            "cliproxy_tokens",
            "Tokens reported by upstreams (type: input, output, cached, reasoning).",
            ("provider", "model", "type"),
            registry=reg,
        )
        self.refreshes = Counter(
            "cliproxy_credential_refreshes",
            "Credential refreshes (OAuth tokens, cookies), by provider type and result.",
            ("provider", "result"),
            registry=reg,
        )
        self.credentials = Gauge(
            "cliproxy_credentials",
            "Credentials by provider and state.",
            ("provider", "state"),
            registry=reg,
            multiprocess_mode="liveall",
        )
        self.relay_connected = Gauge(
            "cliproxy_relay_services_connected",
            "Relay services (aistudio) connected to /v1/ws.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.relay_free = Gauge(
            "cliproxy_relay_free_capacity",
            "Requests the connected relay services can start now.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.streams = Gauge(
            "cliproxy_streams_in_flight",
            "Streamed answers being relayed now.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.usage_pending = Gauge(
            "cliproxy_usage_records_pending",
            "Usage records waiting for the next batch write.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.usage_written = Counter(
            "cliproxy_usage_records_written", "Usage records written to the store.", registry=reg
        )
        self.usage_dropped = Counter(
            "cliproxy_usage_records_dropped",
            "Usage records dropped because the store stayed unreachable and memory was full.",
            registry=reg,
        )
        self._req: dict[tuple[str, str, str, int], _ReqKids] = {}
        self._tok: dict[tuple[str, str], _TokenKids] = {}
        self._att: dict[tuple[str, str], Counter] = {}
        self._fail: dict[str, Counter] = {}
        self._cred_labels: set[tuple[str, str]] = set()
        self._streams = self.streams  # unlabelled: inc/dec directly

    # -- hot path -----------------------------------------------------------------

    def request_done(
        self,
        fmt: str,
        model: str,
        provider: str,
        status: int,
        seconds: float,
        ttfb: float | None,
    ) -> None:
        key = (fmt, model, provider, status)
        kids = self._req.get(key)
        if kids is None:
            kids = self._request_children(key)
        kids[0].inc()
        kids[1].observe(seconds)
        if ttfb is not None:
            kids[2].observe(ttfb)

    def tokens_done(
        self, provider: str, model: str, tin: int, tout: int, cached: int, reasoning: int
    ) -> None:
        key = (provider, model)
        kids = self._tok.get(key)
        if kids is None:
            kids = self._token_children(key)
        if tin:
            kids[0].inc(tin)
        if tout:
            kids[1].inc(tout)
        if cached:
            kids[2].inc(cached)
        if reasoning:
            kids[3].inc(reasoning)

    def attempt(self, provider: str, outcome: str) -> None:
        key = (provider, outcome)
        kid = self._att.get(key)
        if kid is None:
            if len(self._att) >= _CHILD_LIMIT:
                self._att.clear()
            kid = self._att[key] = self.attempts.labels(provider, outcome)
        kid.inc()

    def failover(self, model: str, count: int) -> None:
        kid = self._fail.get(model)
        if kid is None:
            if len(self._fail) >= _CHILD_LIMIT:
                self._fail.clear()
            kid = self._fail[model] = self.failovers.labels(model)
        kid.inc(count)

    def stream_opened(self) -> None:
        self._streams.inc()

    def stream_closed(self) -> None:
        self._streams.dec()

    def _request_children(self, key: tuple[str, str, str, int]) -> _ReqKids:
        if len(self._req) >= _CHILD_LIMIT:
            self._req.clear()
        fmt, model, provider, status = key
        kids = (
            self.requests.labels(fmt, model, provider, str(status)),
            self.duration.labels(fmt, provider),
            self.ttfb.labels(fmt, provider),
        )
        self._req[key] = kids
        return kids

    def _token_children(self, key: tuple[str, str]) -> _TokenKids:
        if len(self._tok) >= _CHILD_LIMIT:
            self._tok.clear()
        provider, model = key
        t = self.tokens
        kids = (
            t.labels(provider, model, "input"),
            t.labels(provider, model, "output"),
            t.labels(provider, model, "cached"),
            t.labels(provider, model, "reasoning"),
        )
        self._tok[key] = kids
        return kids

    # -- hooks and samples (not per request) --------------------------------------

    def refresh_done(self, provider: str, ok: bool) -> None:
        """A credential refresh finished (called by the credential code)."""
        self.refreshes.labels(provider, "ok" if ok else "failed").inc()

    def set_credentials(self, counts: dict[tuple[str, str], int]) -> None:
        """Credentials per ``(provider, state)``; label sets no longer present go to 0."""
        for key in self._cred_labels - counts.keys():
            self.credentials.labels(*key).set(0)
        for key, value in counts.items():
            self.credentials.labels(*key).set(value)
        self._cred_labels |= counts.keys()

    def set_relay(self, connected: int, free: int) -> None:
        self.relay_connected.set(connected)
        self.relay_free.set(free)

    def set_usage(self, pending: int) -> None:
        self.usage_pending.set(pending)

    def render(self) -> bytes:
        """The text exposition of every worker's metrics (blocking: reads files in
        multiprocess mode)."""
        if not self.multiproc_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Clean exit of a worker: its live gauges stop counting (multiprocess mode)."""
        if self.multiproc_dir:
            _multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)  # type: ignore[no-untyped-call]


def credential_counts(
    providers: Iterable[str], states: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Counts per ``(provider, state)``, with a zero for every state of every provider."""
    counts = {(p, s): 0 for p in providers for s in CREDENTIAL_STATES}
    for key in states:
        counts[key] = counts.get(key, 0) + 1
    return counts
