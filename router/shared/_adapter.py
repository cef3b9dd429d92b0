"""Between ``router.auth.Credential`` and the shared records.

What a scheduler calls: after an outcome changed a credential's state,
``publish_credential`` shares it; ``credential_listener`` returns the
listener that folds the other workers' views back into this worker's
credentials (rests by the longest, plan usage by the newest, a reset by
clearing). Records of one model of a credential (``model`` set) are left to
the scheduler that keeps per-model cooldowns; it reads them with
``SharedState.record(credential_id, model)``.

The dependency goes this way only: ``router.auth`` never imports this package.
"""

from __future__ import annotations

from collections.abc import Callable

from router.auth import Credential, quota_from_json

from ._records import StateChange, StateRecord
from ._state import Listener, SharedState

__all__ = [
    "apply_record",
    "credential_listener",
    "credential_record",
    "publish_credential",
    "reset_credential",
]


def credential_record(cred: Credential) -> StateRecord:
    """This worker's view of a credential as a record (``origin``/``updated_at`` are
    filled in by ``SharedState.publish``)."""
    return StateRecord(
        cooling_until=cred.cooling_until,
        strikes=cred.strikes,
        disabled_until=cred.disabled_until,
        disabled_reason=cred.disabled_reason,
        headroom=cred.quota.to_json() if cred.quota is not None else None,
    )


def publish_credential(shared: SharedState, cred: Credential) -> StateRecord:
    """Share ``cred``'s state with the other workers (returns at once)."""
    return shared.publish(cred.id, None, credential_record(cred))


def reset_credential(cred: Credential) -> None:
    """Back to ready: no rest, no strikes, no disablement (plan usage is kept: it is
    what the upstream said, not something a reset can undo)."""
    cred.cooling_until = 0.0
    cred.strikes = 0
    cred.disabled_until = 0.0
    cred.disabled_reason = None


def apply_record(cred: Credential, record: StateRecord) -> None:
    """Fold the merged view of every worker into ``cred``: a rest lasts as long as the
    longest, the plan usage is the newest seen anywhere."""
    cred.cooling_until = max(cred.cooling_until, record.cooling_until)
    cred.strikes = max(cred.strikes, record.strikes)
    if record.disabled_until > cred.disabled_until:
        cred.disabled_until = record.disabled_until
        cred.disabled_reason = record.disabled_reason
    if record.headroom is not None:
        quota = quota_from_json(dict(record.headroom))
        if quota is not None and (cred.quota is None or quota.seen_at > cred.quota.seen_at):
            cred.quota = quota


def credential_listener(find: Callable[[str], Credential | None]) -> Listener:
    """A listener for ``SharedState.listen`` that keeps credentials (looked up by id with
    ``find``, e.g. over ``CredentialPool.all()``) in step with the other workers."""

    def on_change(change: StateChange) -> None:
        if change.model is not None:
            return
        cred = find(change.credential_id)
        if cred is None:
            return
        if change.cleared:
            reset_credential(cred)
        if change.record is not None:
            apply_record(cred, change.record)

    return on_change
