"""The aistudio service: a browser pool signed in to Google AI Studio, serving Gemini
requests relayed by the router over ``/v1/ws``. Run it with ``python -m aistudio``."""

from ._engines import ChromiumEngine, Engine, EngineMissing, choose_engine
from ._gemini import Job, RequestError, build_job, parse_target
from ._login import LoginFailed, login
from ._profiles import ProfileStore
from ._service import NO_PROFILE, Service
from ._settings import BrowserSettings, PageSettings, Selectors, Settings, settings_from_config

__all__ = [
    "BrowserSettings",
    "ChromiumEngine",
    "Engine",
    "EngineMissing",
    "Job",
    "LoginFailed",
    "NO_PROFILE",
    "PageSettings",
    "ProfileStore",
    "RequestError",
    "Selectors",
    "Service",
    "Settings",
    "build_job",
    "choose_engine",
    "login",
    "parse_target",
    "settings_from_config",
]

__version__ = "0.1.0"
