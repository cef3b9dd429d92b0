"""The router: client APIs, model routing and upstream executors."""

__version__ = "0.1.0"
