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
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from ._tally import LATENCY_BUCKETS, TTFB_BUCKETS, Tally

__all__ = ["CREDENTIAL_STATES", "Metrics", "credential_counts"]

CREDENTIAL_STATES = ("ready", "cooling", "broken", "refreshing", "disabled", "login_required")
_TOKEN_TYPES = ("input", "output", "cached", "reasoning")


class Metrics:
    """Every metric of one router process. Requests add to ``tally`` (plain numbers);
    ``fold`` moves them into the prometheus-client metrics."""

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
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.ttfb = Histogram(
            "cliproxy_time_to_first_byte_seconds",
            "Time from request to the first byte of the answer sent to the client.",
            ("format", "provider"),
            buckets=TTFB_BUCKETS,
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
        self.quota_used = Gauge(
            "cliproxy_quota_used_percent",
            "A subscription's use of its plan window (five_hour, weekly), as last reported.",
            ("provider", "credential", "window"),
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.quota_resets = Gauge(
            "cliproxy_quota_resets_at_seconds",
            "When a subscription's plan window resets (Unix time), as last reported.",
            ("provider", "credential", "window"),
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.headroom = Gauge(
            "cliproxy_credential_headroom_ratio",
            "The fraction (0..1) left of a credential's tightest rate limit, from the standard "
            "headers (x-ratelimit-remaining-*, anthropic-ratelimit-*-remaining), as last reported.",
            ("provider", "credential"),
            registry=reg,
            multiprocess_mode="livemostrecent",
        )
        self.tally = Tally()  # the hot path adds here; fold() moves it into the above
        self.streams_open = 0
        self._cred_labels: set[tuple[str, str]] = set()

    # -- folding the tally into prometheus-client ------------------------------------

    def fold(self) -> None:
        """Move what requests added since the last fold into the metrics (before a scrape;
        with several workers also once a second, so the others see it)."""
        tally, self.tally = self.tally, Tally()
        for (fmt, model, provider, status), sums in tally.requests.items():
            self.requests.labels(fmt, model, provider, str(status)).inc(sums.count)
            _add(self.duration.labels(fmt, provider), sums.buckets, sums.seconds)
            if any(sums.ttfb_buckets):
                _add(self.ttfb.labels(fmt, provider), sums.ttfb_buckets, sums.ttfb)
        for (provider, model), counts in tally.tokens.items():
            for kind, n in zip(_TOKEN_TYPES, counts, strict=True):
                if n:
                    self.tokens.labels(provider, model, kind).inc(n)
        for (provider, outcome), n in tally.attempts.items():
            self.attempts.labels(provider, outcome).inc(n)
        for model, n in tally.failovers.items():
            self.failovers.labels(model).inc(n)
        self.streams.set(self.streams_open)

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

    def set_quotas(self, quotas: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        """Plan windows per ``(provider, credential, quota document)``."""
        for provider, credential, quota in quotas:
            for window in ("five_hour", "weekly"):
                w = quota.get(window)
                if isinstance(w, dict) and isinstance(w.get("used_percent"), int | float):
                    self.quota_used.labels(provider, credential, window).set(w["used_percent"])
                    if isinstance(w.get("resets_at"), int | float):
                        self.quota_resets.labels(provider, credential, window).set(w["resets_at"])

    def set_headroom(self, rooms: Iterable[tuple[str, str, float]]) -> None:
        """The standard limits' headroom per ``(provider, credential, fraction left)``."""
        for provider, credential, left in rooms:
            self.headroom.labels(provider, credential).set(left)

    def set_relay(self, connected: int, free: int) -> None:
        self.relay_connected.set(connected)
        self.relay_free.set(free)

    def set_usage(self, pending: int) -> None:
        self.usage_pending.set(pending)

    def render(self) -> bytes:
        """The text exposition of every worker's metrics (blocking: reads files in
        multiprocess mode)."""
        self.fold()
        if not self.multiproc_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def process_exited(self) -> None:
        """Clean exit of a worker: its counts are kept, its live gauges stop counting
        (multiprocess mode)."""
        self.fold()
        if self.multiproc_dir:
            _multiprocess.mark_process_dead(os.getpid(), self.multiproc_dir)  # type: ignore[no-untyped-call]


def _add(histogram: Histogram, buckets: list[int], total: float) -> None:
    """Add many observations at once: per-bucket counts (not cumulative) and their sum.

    prometheus-client has no public call for this; its histogram keeps one value per
    bucket (``_buckets``, same order as the bounds, ``+Inf`` last) and ``_sum``.
    tests/router/observability/test_metrics.py checks the result against ``observe``."""
    hist: Any = histogram
    hist._sum.inc(total)
    for value, n in zip(hist._buckets, buckets, strict=True):
        if n:
            value.inc(n)


def credential_counts(
    providers: Iterable[str], states: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Counts per ``(provider, state)``, with a zero for every state of every provider."""
    counts = {(p, s): 0 for p in providers for s in CREDENTIAL_STATES}
    for key in states:
        counts[key] = counts.get(key, 0) + 1
    return counts
