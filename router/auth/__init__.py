"""Credentials: API keys now; OAuth tokens and their stores grow here."""

from ._credential import Credential, CredentialPool, key_fingerprint

__all__ = ["Credential", "CredentialPool", "key_fingerprint"]
