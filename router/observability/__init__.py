"""Observability: Prometheus metrics, usage records, credential states, the status document."""

from ._capture import Capture, CapturedBody
from ._capture_store import CaptureStore, show_request
from ._credentials import CredentialView, credential_views
from ._metrics import CREDENTIAL_STATES, Metrics
from ._observer import OBSERVER, Finished, Observer, client_key_id, observer_context
from ._peers import merge_views, peer_views
from ._status import StatusSource
from ._usage import UsageRecorder
from ._usage_sql import DIMENSIONS, METRICS, UsageQuery, UsageRecord, UsageRow
from ._usage_store import (
    PostgresUsageStore,
    SQLiteUsageStore,
    UsageStore,
    UsageStoreError,
    open_usage,
)

__all__ = [
    "CREDENTIAL_STATES",
    "Capture",
    "CaptureStore",
    "CapturedBody",
    "CredentialView",
    "DIMENSIONS",
    "Finished",
    "METRICS",
    "Metrics",
    "OBSERVER",
    "Observer",
    "PostgresUsageStore",
    "SQLiteUsageStore",
    "StatusSource",
    "UsageQuery",
    "UsageRecord",
    "UsageRecorder",
    "UsageRow",
    "UsageStore",
    "UsageStoreError",
    "client_key_id",
    "credential_views",
    "merge_views",
    "observer_context",
    "open_usage",
    "peer_views",
    "show_request",
]
