"""The management console: a page for a browser (``/console``) and what it needs besides
the management API: config reloads with their result, the first run's key command."""

from ._key_command import management_key_command
from ._reloads import RELOADS, ReloadResult, Reloads, reload_state

__all__ = ["RELOADS", "ReloadResult", "Reloads", "management_key_command", "reload_state"]
