"""Fixtures of the auth tests. The private PostgreSQL (``postgres_server``,
``postgres_dsn``) they use is shared by every test: ``tests/fakes/postgres.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.oauth import ISSUED

from ._support import CLIENT_KEY, MANAGEMENT_KEY


@pytest.fixture(autouse=True)
def no_secret_in_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Whatever a test printed or logged holds no key, code, token or cookie it used."""
    yield
    out, err = capfd.readouterr()
    print(out, end="")  # hand it back to pytest's report
    secrets = {CLIENT_KEY, MANAGEMENT_KEY, *ISSUED}
    leaked = [s for s in secrets if s in out or s in err]
    assert not leaked, f"{len(leaked)} secret(s) appeared in the test's output or logs"
