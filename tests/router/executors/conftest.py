"""The executor tests share the sign-in tests' leak check on every test's output."""

from tests.router.auth.conftest import no_secret_in_output

__all__ = ["no_secret_in_output"]
