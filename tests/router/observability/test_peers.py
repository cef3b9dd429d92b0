"""Several workers: each publishes its credential views; a status page merges them."""

from __future__ import annotations

import os
from pathlib import Path

from router.observability import CredentialView
from router.observability._peers import (
    STALE_SECONDS,
    merge_views,
    peer_views,
    publish_views,
    withdraw_views,
)

NOW = 1_800_000_000.0


def view(cid: str, state: str = "ready", wait: float = 0.0, **more: str) -> CredentialView:
    return CredentialView("p", cid, state, wait, **more)  # type: ignore[arg-type]


def as_peer(directory: Path, views: list[CredentialView], at: float, pid: int) -> None:
    """What another worker (``pid``) would have published at ``at``."""
    publish_views(directory, views, at)
    mine = directory / f"credentials-{os.getpid()}.json"
    mine.rename(directory / f"credentials-{pid}.json")


def test_a_peers_cooldown_is_read_back_with_the_time_left(tmp_path: Path) -> None:
    as_peer(tmp_path, [view("p/a", "cooling", 60.0), view("p/b", account="me@x")], NOW, 11)
    got = {v.id: v for v in peer_views(tmp_path, NOW + 4)}
    assert got["p/a"] == view("p/a", "cooling", 56.0)
    assert got["p/b"] == view("p/b", account="me@x")


def test_own_file_stale_files_and_broken_files_are_not_peers(tmp_path: Path) -> None:
    publish_views(tmp_path, [view("p/a", "cooling", 60.0)], NOW)  # this worker's own
    as_peer(tmp_path, [view("p/a", "disabled", 600.0)], NOW - STALE_SECONDS - 1, 12)  # gone
    (tmp_path / "credentials-13.json").write_bytes(b'{"at": 1, "views": [')  # half written
    (tmp_path / "credentials-14.json").write_bytes(b'{"at": "soon", "views": []}')
    assert peer_views(tmp_path, NOW) == []
    withdraw_views(tmp_path)
    assert not (tmp_path / f"credentials-{os.getpid()}.json").exists()
    withdraw_views(tmp_path)  # twice is fine


def test_merge_keeps_the_most_restrictive_state_of_each_own_credential() -> None:
    own = [view("p/a"), view("p/b", "cooling", 30.0), view("p/c", "cooling", 10.0)]
    peers = [
        view("p/a", "cooling", 5.0),  # a peer saw a 429 on a: cooling wins over ready
        view("p/a", "refreshing"),
        view("p/b", "cooling", 20.0),  # b: this worker's longer wait stands
        view("p/c", "disabled", 300.0, reason="401 from upstream"),
        view("p/z", "disabled", 300.0),  # not in this worker's table (an older config)
    ]
    merged = merge_views(own, peers)
    assert [(v.id, v.state, v.wait_s) for v in merged] == [
        ("p/a", "cooling", 5.0),
        ("p/b", "cooling", 30.0),
        ("p/c", "disabled", 300.0),
    ]
    assert merged[2].reason == "401 from upstream"
    assert merge_views(own, []) == own
