"""What an attempt's outcome does to its credential: the failover policy's table.

| outcome | retry elsewhere | recorded on the credential |
| --- | --- | --- |
| success | — | breaker closed, strikes and the model's strikes cleared |
| 429 / a usage limit | yes | rest of the model or the account (``_limits``) |
| 401 / 403 (a refused key) | yes | disabled for ``cooldown.auth_failure_seconds`` |
| connect error, timeout, 5xx, 529, 408, a 2xx that is not the API's | yes | a breaker failure |
| other 4xx (the client's request) | no | nothing (the upstream is alive: the run of failures ends) |

After ``breaker.failures`` failures in a row (a timeout counts as all of them: each
one made a client wait the whole deadline) the breaker opens for
``base_seconds · 2^(trips-1)`` (capped at ``max_seconds``); when that is over
one request probes the credential (half-open): success closes it, failure opens
it again for twice as long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from router.auth import Credential
from router.errors import UpstreamError, UpstreamHTTPError, UpstreamTimeout
from router.formats import ir
from suite.config import BreakerConfig, CooldownConfig

from ._limits import headroom_from_headers, limit_scope

__all__ = ["Change", "record_failure", "record_success", "stream_failure", "take_probe"]

What = Literal["rate_limited", "model_limited", "refused", "breaker_failure", "breaker_open"]


@dataclass(frozen=True, slots=True)
class Change:
    """What a failure changed, for the log line and the shared state: ``model`` is set
    when only that model of the credential rests."""

    what: What
    seconds: float = 0.0
    model: str | None = None


def stream_failure(error: ir.StreamError) -> UpstreamHTTPError:
    """An error the upstream streamed before anything reached the client: treated like
    the same error as an HTTP status, so it fails over (or not) the same way."""
    return UpstreamHTTPError(error.kind.status, f"upstream stream failed: {error.message}")


def record_success(cred: Credential, model: str, now: float, headers: object | None = None) -> bool:
    """The attempt answered: the credential is healthy. True if its state changed in a
    way other workers should learn (a breaker closed, strikes cleared)."""
    changed = bool(cred.strikes or cred.failures or cred.breaker != "closed")
    changed = changed or model in cred.model_strikes
    cred.succeeded(model)
    if headers is not None:
        room = headroom_from_headers(headers)  # type: ignore[arg-type]
        if room is not None:
            cred.headroom = room
    return changed


def record_failure(
    cred: Credential,
    kind: str,
    model: str,
    exc: UpstreamError,
    now: float,
    cooldown: CooldownConfig,
    breaker: BreakerConfig,
    probe_seconds: float,
) -> Change | None:
    """Apply the table above; the change made (None: nothing recorded)."""
    if isinstance(exc, UpstreamHTTPError):
        if exc.is_auth_failure:
            cred.auth_failed(now, f"upstream answered {exc.status}", cooldown)
            return Change("refused", cooldown.auth_failure_seconds)
        if exc.is_rate_limit:
            if limit_scope(kind, exc) == "model":
                wait = cred.model_limited(model, now, exc.retry_after, cooldown)
                return Change("model_limited", wait, model)
            return Change("rate_limited", cred.rate_limited(now, exc.retry_after, cooldown))
        if not exc.retryable:
            cred.failures = 0  # it answered: the upstream is up, the request was wrong
            return None
    return _breaker_failure(cred, exc, now, breaker, probe_seconds)


def _breaker_failure(
    cred: Credential, exc: UpstreamError, now: float, policy: BreakerConfig, probe: float
) -> Change:
    cred.failures += 1
    if isinstance(exc, UpstreamTimeout):  # each one cost a client the whole deadline
        cred.failures = max(cred.failures, policy.failures)
    cred.breaker_reason = _reason(exc)
    if cred.breaker == "half_open" or cred.failures >= policy.failures:
        cred.trips += 1
        wait = min(policy.base_seconds * float(2 ** min(cred.trips - 1, 30)), policy.max_seconds)
        cred.breaker = "open"
        cred.breaker_until = now + wait
        return Change("breaker_open", wait)
    return Change("breaker_failure")


def _reason(exc: UpstreamError) -> str:
    """Why, in a few words safe to show (no upstream text: it may quote a key)."""
    if isinstance(exc, UpstreamHTTPError):
        return f"upstream answered {exc.status}"
    name = type(exc).__name__
    return {
        "UpstreamConnectError": "connection failed",
        "UpstreamTimeout": "timed out",
        "UpstreamInvalidReply": "answer was not the API's",
        "UpstreamReplyTooLarge": "answer too large",
    }.get(name, "upstream failed")


def take_probe(cred: Credential, now: float, probe_seconds: float) -> None:
    """An open breaker's rest is over and this request probes it: half-open, and held
    (no other request takes it) until the probe ends or ``probe_seconds`` pass."""
    if cred.breaker == "open" and now >= cred.breaker_until:
        cred.breaker = "half_open"
        cred.breaker_until = now + probe_seconds
