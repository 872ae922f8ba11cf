"""The fence: a write commits only while its engine's leadership epoch is the current one.

Engines sharing a PostgreSQL database elect a leader (store/leadership.py); each new leader
increments the cluster's epoch in ``leadership``. Every write transaction of the store starts with
:meth:`Fence.check`, which reads that row under ``FOR KEY SHARE`` and compares. The lock is held to
the commit, and a new leader bumps the epoch under ``FOR UPDATE``, which waits for it: a write
either commits before the new epoch exists, or sees it and is refused. A deposed leader that wakes
up (SIGSTOP, a network cut) therefore can never write again, whatever it believes.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from mooring.errors import Fenced

# FOR KEY SHARE does not conflict with the leader's heartbeat (an UPDATE of non-key columns), only
# with the FOR UPDATE of a takeover.
_CHECK = text("SELECT epoch FROM leadership WHERE cluster = :cluster FOR KEY SHARE")


class Fence:
    """The epoch this engine leads ``cluster`` with; None while it follows (it may not write)."""

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster
        self.epoch: int | None = None

    def check(self, session: Session) -> None:
        """Refuse the transaction unless this engine's epoch is the cluster's current one."""
        mine = self.epoch
        if mine is None:
            raise Fenced(
                f"this engine does not lead cluster {self.cluster!r}: it cannot change state",
                hint="send the request to the leader (`mooring engine status` names it)",
            )
        current = session.execute(_CHECK, {"cluster": self.cluster}).scalar()
        if current != mine:
            raise Fenced(
                f"this engine's leadership of cluster {self.cluster!r} (epoch {mine}) has ended: "
                f"epoch {current} leads now, and this engine writes nothing more",
                hint="it was paused or cut off from the database past its lease; restart it as a follower",
            )
