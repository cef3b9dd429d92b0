"""Credentials: API keys, and the stored OAuth / cto.new sign-ins with their refresh."""

from ._accounts import accounts_command
from ._backends import open_store
from ._cli import login_command
from ._credential import Credential, CredentialPool, TokenSource, key_fingerprint
from ._files import FileStore
from ._login import LoginFlow, Logins, parse_pasted_code
from ._manager import AuthManager, LiveAuth
from ._oauth import LoginError, RefreshFailed
from ._quota import Quota, QuotaWindow, quota_from_headers, quota_from_json, quota_from_usage
from ._record import KIND_TYPES, AuthRecord, InvalidName, Token, check_name, record_name
from ._store import Conflict, Store, StoreError

__all__ = [
    "AuthManager",
    "AuthRecord",
    "Conflict",
    "Credential",
    "CredentialPool",
    "FileStore",
    "InvalidName",
    "KIND_TYPES",
    "LiveAuth",
    "LoginError",
    "LoginFlow",
    "Logins",
    "Quota",
    "QuotaWindow",
    "RefreshFailed",
    "Store",
    "StoreError",
    "Token",
    "TokenSource",
    "accounts_command",
    "check_name",
    "key_fingerprint",
    "login_command",
    "open_store",
    "parse_pasted_code",
    "quota_from_headers",
    "quota_from_json",
    "quota_from_usage",
    "record_name",
]
