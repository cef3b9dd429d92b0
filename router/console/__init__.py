"""The management console: a page for a browser (``/console``) and what it needs besides
the management API: the config as it runs (origins, secrets masked), reloads with their
result, token files uploaded, the first run's key command. docs/console.md."""

from ._config_view import SET, config_entries, read_unexpanded
from ._key_command import management_key_command
from ._reloads import RELOADS, ReloadResult, Reloads, reload_state
from ._token_file import MAX_TOKEN_FILE_BYTES, TokenFileError, parse_token_file

__all__ = [
    "MAX_TOKEN_FILE_BYTES",
    "RELOADS",
    "ReloadResult",
    "Reloads",
    "SET",
    "TokenFileError",
    "config_entries",
    "management_key_command",
    "parse_token_file",
    "read_unexpanded",
    "reload_state",
]
