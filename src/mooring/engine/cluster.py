"""Several engines on one PostgreSQL: the cluster's name and lease, and this engine's campaign.

Configured by ``MOORING_CLUSTER`` (or ``[cluster] name`` in engine.toml) and ``MOORING_CLUSTER_LEASE``
(or ``[cluster] lease``, seconds). Without a name the engine is the only one: it leads always and
writes unfenced, as before. The election itself is the store's (store/leadership.py); this module
turns it into engine behaviour: a follower serves reads, the winner recovers and leads, and a
deposed leader stops at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import socket
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mooring import __version__
from mooring.errors import StoreError, UsageError
from mooring.store import Store
from mooring.store.fence import Fence
from mooring.store.leadership import (
    DEFAULT_LEASE,
    Leadership,
    Member,
    bound_idle_transactions,
    new_engine_id,
    read_cluster,
)

log = logging.getLogger("mooring.engine")

CLUSTER_ENV = "MOORING_CLUSTER"
LEASE_ENV = "MOORING_CLUSTER_LEASE"
ENGINE_CONFIG = "engine.toml"
# A deposed leader exits with this code (EX_TEMPFAIL): its supervisor starts it again, as a follower.
DEPOSED_EXIT_CODE = 75


@dataclass(frozen=True)
class ClusterConfig:
    name: str
    lease: float


def cluster_config(home: Path) -> ClusterConfig | None:
    """The cluster this engine belongs to, or None when it runs alone."""
    path = home / ENGINE_CONFIG
    section: dict[str, Any] = {}
    try:
        section = tomllib.loads(path.read_text()).get("cluster", {})
    except FileNotFoundError:
        pass
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None
    name: object = os.environ.get(CLUSTER_ENV) or section.get("name")
    if name is None:
        return None
    where = CLUSTER_ENV if os.environ.get(CLUSTER_ENV) else f"{path}: cluster.name"
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise UsageError(f'{where}: must be a non-empty name of at most 200 characters, e.g. "prod"')
    raw_lease: object = os.environ.get(LEASE_ENV) or section.get("lease", DEFAULT_LEASE)
    lease_where = LEASE_ENV if os.environ.get(LEASE_ENV) else f"{path}: cluster.lease"
    try:
        lease = float(raw_lease)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        lease = -1.0
    if not 1.0 <= lease <= 60.0:
        raise UsageError(
            f"{lease_where}: {raw_lease!r} is not a lease in seconds from 1 to 60",
            hint=f"the default is {DEFAULT_LEASE:g}: a dead leader is replaced within about that time",
        )
    return ClusterConfig(name.strip(), lease)


class Campaign:
    """This engine's part in its cluster: follow, win, lead, and stop hard when deposed."""

    def __init__(self, store: Store, config: ClusterConfig, home: Path, address: str | None) -> None:
        if store.dialect != "postgresql":
            raise StoreError(
                f"cluster {config.name!r}: engines share leadership through PostgreSQL, and this engine's "
                f"state is in {store.dialect}",
                hint=f"set MOORING_DATABASE_URL to the cluster's PostgreSQL, or unset {CLUSTER_ENV} "
                "(and [cluster] name) to run one engine alone",
            )
        self.config = config
        self.store = store
        self.fence = Fence(config.name)
        store.fence = self.fence  # from now on every write checks the epoch (a follower's are refused)
        bound_idle_transactions(store.engine, config.lease * 2)
        self.me = Member(
            id=new_engine_id(),
            host=socket.gethostname(),
            pid=os.getpid(),
            home=str(home),
            address=address,
            version=__version__,
        )
        self.won = asyncio.Event()
        self.leadership: Leadership | None = None

    @property
    def leading(self) -> bool:
        return self.fence.epoch is not None

    def start(self) -> None:
        loop = asyncio.get_running_loop()

        def won(_epoch: int) -> None:  # called from the election thread
            loop.call_soon_threadsafe(self.won.set)

        self.leadership = Leadership(
            self.store.engine,
            self.fence,
            self.me,
            lease=self.config.lease,
            on_won=won,
            on_lost=self._deposed,
        )
        self.leadership.start()

    def stop(self) -> None:
        if self.leadership is not None:
            self.leadership.stop()

    def _deposed(self, reason: str) -> None:
        """The epoch is over: the fence already refuses this engine's writes, and it must not touch
        a workload either (another engine drives them now). Exit at once, without cleanup."""
        log.critical(
            "engine %s no longer leads cluster %r: %s; exiting", self.me.id, self.config.name, reason
        )
        logging.shutdown()
        os._exit(DEPOSED_EXIT_CODE)

    def void_old_leases(self) -> None:
        """App leases of the previous leader: its epoch is fenced out, so they hold nothing back."""
        for app in self.store.list_apps():
            lease = self.store.current_lease(app.name)
            if lease is not None and self.store.break_lease(app.name, lease.holder):
                log.warning("took over the lease of app %s from %s (previous leader)", app.name, lease.holder)

    def leader_address(self) -> str | None:
        reign, _ = read_cluster(self.store.engine, self.config.name, self.config.lease)
        if reign is None or reign.leader == self.me.id:
            return None
        return reign.address

    def status(self) -> dict[str, Any]:
        """The cluster as ``mooring engine status`` shows it."""
        reign, members = read_cluster(self.store.engine, self.config.name, self.config.lease)
        now = max((m.seen_at for m in members if m.seen_at), default=None)
        rows = []
        for m in members:
            alive = bool(m.seen_at and now and (now - m.seen_at).total_seconds() <= self.config.lease * 2)
            rows.append(
                {
                    "id": m.id,
                    "host": m.host,
                    "pid": m.pid,
                    "home": m.home,
                    "address": m.address,
                    "version": m.version,
                    "started_at": m.started_at.isoformat() if m.started_at else None,
                    "seen_at": m.seen_at.isoformat() if m.seen_at else None,
                    "leader": reign is not None and reign.leader == m.id,
                    "alive": alive,
                    "this": m.id == self.me.id,
                }
            )
        return {
            "cluster": self.config.name,
            "lease": self.config.lease,
            "epoch": reign.epoch if reign else None,
            "leader": reign.leader if reign else None,
            "leader_address": reign.address if reign else None,
            "leader_since": reign.since.isoformat() if reign else None,
            "engines": rows,
        }


# --- engine-to-engine requests ---------------------------------------------------------------
# A follower forwards what an operator asked over its unix socket (trusted by its 0600 mode, no
# token) to the leader's TCP listener, which wants a credential: the follower signs the request
# with a key kept in the shared database, which only engines read.

PEER_HEADER = "x-mooring-peer"
PEER_KEY_SETTING = "cluster_peer_key"
PEER_SKEW = 30.0  # seconds a signature stays valid (clocks of the engines' hosts may differ a little)


def _peer_key(store: Store) -> bytes:
    return store.get_or_create_setting(PEER_KEY_SETTING, lambda: secrets.token_urlsafe(32)).encode()


def _peer_digest(key: bytes, engine_id: str, stamp: str, method: str, target: str) -> str:
    message = f"{engine_id}\n{stamp}\n{method}\n{target}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_peer(store: Store, engine_id: str, method: str, target: str) -> str:
    """The value of ``x-mooring-peer`` for a request (``target``: path and query) this engine forwards."""
    stamp = f"{time.time():.3f}"
    return f"{engine_id}:{stamp}:{_peer_digest(_peer_key(store), engine_id, stamp, method, target)}"


def verify_peer(store: Store, value: str, method: str, target: str) -> str | None:
    """The forwarding engine's id when ``value`` signs this request and is fresh; None otherwise."""
    engine_id, _, rest = value.partition(":")
    stamp, _, digest = rest.partition(":")
    try:
        age = abs(time.time() - float(stamp))
    except ValueError:
        return None
    if age > PEER_SKEW:
        return None
    expected = _peer_digest(_peer_key(store), engine_id, stamp, method, target)
    return engine_id if hmac.compare_digest(expected, digest) else None
