"""Client keys with a policy: name, expiry, allowed models, and limits.

See docs/client-keys.md. Managed keys live in the credential store (a 0600 file
in ``auth.dir``, or a PostgreSQL table), hashed; ``server.api_keys`` stay
unlimited keys. ``ClientKeys`` (``app[CLIENT_KEYS]``) keeps each worker's view
current and builds the ``Ring`` the middleware looks keys up in; ``admit`` and
``settle`` enforce a key's policy on the shared counters (``router.shared``).
"""

from ._cli import keys_command
from ._errors import KeyExists, KeyStoreError
from ._files import FileKeyStore
from ._key import (
    KEY_PREFIX,
    LIMIT_FIELDS,
    ClientKey,
    InvalidKeyField,
    compile_models,
    find_key,
    generate_key,
    hash_key,
    parse_expiry,
)
from ._limits import (
    REQUEST_KEY,
    KeyLimited,
    ModelNotAllowed,
    admit,
    admit_request,
    key_usage,
    settle,
    settle_request,
)
from ._postgres import PostgresKeyStore
from ._ring import LOCAL, ActiveKey, Ring, config_label, config_view
from ._service import CLIENT_KEYS, ClientKeys, client_keys_context
from ._store import KeyStore, open_key_store

__all__ = [
    "ActiveKey",
    "CLIENT_KEYS",
    "ClientKey",
    "ClientKeys",
    "FileKeyStore",
    "InvalidKeyField",
    "KEY_PREFIX",
    "KeyExists",
    "KeyLimited",
    "KeyStore",
    "KeyStoreError",
    "LIMIT_FIELDS",
    "LOCAL",
    "ModelNotAllowed",
    "PostgresKeyStore",
    "REQUEST_KEY",
    "Ring",
    "admit",
    "admit_request",
    "client_keys_context",
    "compile_models",
    "config_label",
    "config_view",
    "find_key",
    "generate_key",
    "hash_key",
    "key_usage",
    "keys_command",
    "open_key_store",
    "parse_expiry",
    "settle",
    "settle_request",
]
