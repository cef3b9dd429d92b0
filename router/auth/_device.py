"""The device id a Claude subscription's requests claim, one per stored sign-in.

Claude Code sends ``metadata.user_id.device_id``: 64 hex, fixed per
installation. Ours must be fixed per credential (the same in every worker
and after restarts) and must not be computable by anyone else from what
they know of the account (its email or uuid): a public formula would mark
every user of this router. So it is a keyed hash with the credential's own
refresh token as the key, and stored in the credential (``device_id``) the
first time the sign-in is written (login or refresh); from then on the
stored value is used, whatever the refresh token becomes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

__all__ = ["device_id_for"]


def device_id_for(data: Mapping[str, Any]) -> str:
    """The stored ``device_id``, else one derived from the refresh token (random without)."""
    stored = data.get("device_id")
    if isinstance(stored, str) and len(stored) == 64:
        return stored
    refresh = data.get("refresh_token")
    if isinstance(refresh, str) and refresh:
        return hmac.new(refresh.encode(), b"claude-code device id", hashlib.sha256).hexdigest()
    return secrets.token_hex(32)
