"""The leadership fence in the store's write path: PostgreSQL's advisory lock elects, the epoch fences."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mooring.errors import Fenced
from mooring.store import Store, open_store
from mooring.store.fence import Fence
from mooring.store.leadership import Leadership, Member, read_cluster
from tests.kit import wait_until
from tests.store.conftest import PostgresServer


class Candidate:
    """One engine's store and campaign, in-process."""

    def __init__(self, url: str, key: Path, name: str) -> None:
        self.store: Store = open_store(url, key_file=key)
        self.fence = Fence("c1")
        self.store.fence = self.fence
        self.won = threading.Event()
        self.lost: list[str] = []
        self.leadership = Leadership(
            self.store.engine,
            self.fence,
            Member(name, "host", 1, f"/home/{name}", f"http://{name}:1", "test"),
            lease=1.0,
            on_won=lambda _epoch: self.won.set(),
            on_lost=self.lost.append,
        )

    def close(self) -> None:
        self.leadership.stop()
        self.store.close()


@pytest.fixture
def two(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[tuple[Candidate, Candidate]]:
    url = postgres_server.create_database(f"mooring_fence_{tmp_path.name[-20:]}".replace("-", "_"))
    a, b = Candidate(url, tmp_path / "k", "a"), Candidate(url, tmp_path / "k", "b")
    yield a, b
    a.close()
    b.close()


def test_a_follower_cannot_write(two: tuple[Candidate, Candidate]) -> None:
    a, _ = two
    with pytest.raises(Fenced, match="does not lead cluster 'c1'"):
        a.store.append_event("shop", "x", {})


def test_one_leader_then_the_other_and_the_old_epoch_is_fenced(two: tuple[Candidate, Candidate]) -> None:
    a, b = two
    a.leadership.start()
    wait_until(a.won.is_set, timeout=10, what="a to lead")
    b.leadership.start()
    a.store.append_event("shop", "by.a", {})
    assert not b.won.wait(1.5), "two leaders at once"
    assert (a.fence.epoch, b.fence.epoch) == (1, None)
    reign, members = read_cluster(a.store.engine, "c1")
    assert reign is not None and reign.leader == "a" and reign.address == "http://a:1"
    assert sorted(m.id for m in members) == ["a", "b"]

    # a's session goes (as when its process dies); a itself still believes it leads
    a.leadership._stop.set()
    a.leadership._close()
    wait_until(b.won.is_set, timeout=10, what="b to take over")
    assert b.fence.epoch == 2
    with pytest.raises(Fenced, match=r"epoch 1\) has ended: epoch 2 leads now"):
        a.store.append_event("shop", "by.a.late", {})
    b.store.append_event("shop", "by.b", {})
    events = b.store.events_since("shop")
    assert [e.type for e in events] == ["by.a", "by.b"]
    with b.store.engine.connect() as conn:
        epochs = [r[0] for r in conn.exec_driver_sql("SELECT epoch FROM events ORDER BY app_seq")]
    assert epochs == [1, 2]


def test_a_lone_engine_on_sqlite_writes_unfenced(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'state.db'}", key_file=tmp_path / "k") as store:
        assert store.fence is None and store.epoch is None
        store.append_event("shop", "x", {})
        with pytest.raises(ValueError, match="PostgreSQL"):
            Leadership(
                store.engine,
                Fence("c1"),
                Member("a", "h", 1, "/", None, "t"),
                on_won=lambda _e: None,
                on_lost=lambda _r: None,
            )
