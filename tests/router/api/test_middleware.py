"""Who may call: configured keys, or loopback only when none are configured."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from router.api._middleware import check_client, is_loopback
from router.errors import Unauthorized
from router.keys import Ring

NO_KEYS = Ring.build((), ())


def _request(peer: str, headers: dict[str, str] | None = None, path: str = "/v1/models"):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (
        (peer, 1234) if name == "peername" else default
    )
    return make_mocked_request("GET", path, headers=headers or {}, transport=transport)


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_is_served_without_keys(peer: str) -> None:
    check_client(_request(peer), NO_KEYS)


@pytest.mark.parametrize("peer", ["10.1.2.3", "192.168.1.5", "2001:db8::1"])
def test_remote_is_refused_without_keys(peer: str) -> None:
    with pytest.raises(Unauthorized, match="only local clients"):
        check_client(_request(peer), NO_KEYS)


def test_remote_with_the_right_key_is_served() -> None:
    check_client(
        _request("10.0.0.1", {"Authorization": "Bearer s3cret"}),
        Ring.build((b"other", b"s3cret"), ()),
    )
    with pytest.raises(Unauthorized, match="invalid"):
        check_client(
            _request("10.0.0.1", {"Authorization": "Bearer s3cre"}), Ring.build((b"s3cret",), ())
        )
    with pytest.raises(Unauthorized, match="missing"):
        check_client(_request("127.0.0.1"), Ring.build((b"s3cret",), ()))


def test_is_loopback_rejects_garbage() -> None:
    assert not is_loopback(None) and not is_loopback("localhost-ish") and is_loopback("127.0.0.1")
