"""The cookie file: which cookies win, what is accepted, how it is written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from webai import CookieStore, Secrets, SessionCookies

A1 = SessionCookies("g.a000account-a-000001", "sidts-a-first-000001")
A2 = SessionCookies("g.a000account-a-000001", "sidts-a-rotated-00002")
B1 = SessionCookies("g.a000account-b-000001", "sidts-b-first-000001")


def _store(path: Path, configured: SessionCookies | None) -> CookieStore:
    return CookieStore(path, configured, Secrets())


def test_config_seeds_the_file_then_rotations_win(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "webai-default.json"
    store = _store(path, A1)
    assert store.load() == A1
    assert json.loads(path.read_text())["cookies"]["__Secure-1PSIDTS"] == A1.psidts
    assert store.save(A2) is True and store.save(A2) is False  # unchanged: not rewritten
    # A restart with config.yaml still holding the first cookie: the rotated one wins.
    assert _store(path, A1).load() == A2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_changed_config_wins_once(tmp_path: Path) -> None:
    path = tmp_path / "webai-default.json"
    _store(path, A1).load()
    _store(path, A1).save(A2)
    assert _store(path, B1).load() == B1  # someone put another account in config.yaml
    assert _store(path, B1).load() == B1
    renewed = SessionCookies(A1.psid, "sidts-a-pasted-again-3")
    assert _store(path, renewed).load() == renewed  # fresh cookies pasted for the same account


def test_hand_edited_file_is_not_overwritten_by_an_untouched_config(tmp_path: Path) -> None:
    path = tmp_path / "webai-default.json"
    _store(path, A1).load()
    path.write_text(json.dumps({"__Secure-1PSID": B1.psid, "__Secure-1PSIDTS": B1.psidts}))
    assert _store(path, A1).load() == B1


def test_accepted_shapes_and_no_cookies(tmp_path: Path) -> None:
    path = tmp_path / "webai-default.json"
    assert _store(path, None).load() is None
    path.write_text(
        json.dumps(
            [
                {"name": "__Secure-1PSID", "value": A1.psid, "domain": ".google.com"},
                {"name": "__Secure-1PSIDTS", "value": A1.psidts, "domain": ".google.com"},
                {"name": "NID", "value": "x"},
            ]
        )
    )
    assert _store(path, None).load() == A1
    path.write_text("not json")
    assert _store(path, None).load() is None


def test_secrets_are_scrubbed_from_text() -> None:
    secrets = Secrets()
    secrets.add("plain-secret-value")
    text = (
        "saved /x/.cached_cookies_g.a000account-a-000001.json; "
        "Cookie: __Secure-1PSIDTS=abc123; plain-secret-value; Bearer sk-abcdefgh12345678"
    )
    out = secrets.scrub(text)
    for leaked in ("g.a000account", "abc123", "plain-secret-value", "sk-abcdefgh"):
        assert leaked not in out
