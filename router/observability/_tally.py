"""What requests add to the metrics, kept in plain Python containers until a scrape.

prometheus-client takes a lock for every increment: a counter and two
histogram observations cost about 3 µs a request. Here a request adds a few
numbers to lists under one dict lookup (no lock: the event loop is the only
writer), and ``Metrics.fold`` moves the sums into prometheus-client once per
scrape (and once a second with several workers): the same values, a fraction
of the cost.
"""

from __future__ import annotations

from bisect import bisect_left

__all__ = ["LATENCY_BUCKETS", "TTFB_BUCKETS", "Tally"]

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RequestKey = tuple[str, str, str, int]  # format, model label, provider, status


class RequestSums:
    """One label set's requests since the last fold: count, and both histograms' buckets
    (index ``len(bounds)`` is ``+Inf``) and sums."""

    __slots__ = ("count", "seconds", "buckets", "ttfb", "ttfb_buckets")

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.ttfb = 0.0
        self.ttfb_buckets = [0] * (len(TTFB_BUCKETS) + 1)


class Tally:
    """Sums since the last fold. Label sets are bounded (see ``Metrics``)."""

    __slots__ = ("requests", "tokens", "attempts", "failovers")

    def __init__(self) -> None:
        self.requests: dict[RequestKey, RequestSums] = {}
        self.tokens: dict[tuple[str, str], list[int]] = {}  # in, out, cached, reasoning
        self.attempts: dict[tuple[str, str], int] = {}
        self.failovers: dict[str, int] = {}

    def request(
        self,
        fmt: str,
        model: str,
        provider: str,
        status: int,
        seconds: float,
        ttfb: float | None,
    ) -> None:
        key = (fmt, model, provider, status)
        sums = self.requests.get(key)
        if sums is None:
            sums = self.requests[key] = RequestSums()
        sums.count += 1
        sums.seconds += seconds
        sums.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        if ttfb is not None:
            sums.ttfb += ttfb
            sums.ttfb_buckets[bisect_left(TTFB_BUCKETS, ttfb)] += 1

    def tokens_used(
        self, provider: str, model: str, tin: int, tout: int, cached: int, reasoning: int
    ) -> None:
        key = (provider, model)
        sums = self.tokens.get(key)
        if sums is None:
            sums = self.tokens[key] = [0, 0, 0, 0]
        sums[0] += tin
        sums[1] += tout
        sums[2] += cached
        sums[3] += reasoning

    def attempt(self, provider: str, outcome: str) -> None:
        key = (provider, outcome)
        self.attempts[key] = self.attempts.get(key, 0) + 1

    def failover(self, model: str, count: int) -> None:
        self.failovers[model] = self.failovers.get(model, 0) + count
