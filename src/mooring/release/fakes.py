"""In-memory fakes of the executor's ports (release/ports.py), for unit tests of the release core.

``FakeJournal`` keeps releases, targets and events in dicts, with the store's semantics that matter
to the executor (every call is committed when it returns). ``FakeRuntime`` runs no process: each
service's behaviour is scripted (start error, readiness outcome, held gates), and what the executor
did is recorded (started, served, stopped) so a test reads it back. ``crash_on`` makes a call raise
``Crash`` to stand for the engine dying there; a new executor on the same journal then resumes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mooring.release.model import Reason
from mooring.release.ports import Journal, Readiness, Runtime, Traffic


@dataclass(frozen=True)
class FakeRelease:
    id: str
    app: str
    snapshot: str
    status: str = "pending"
    control: str = "active"
    trigger: str = "apply"
    source_release_id: str | None = None
    message: str = ""
    failure: Mapping[str, Any] | None = None
    superseded_by: str | None = None
    resumed_count: int = 0
    started_at: Any = None
    finished_at: Any = None
    targets_total: int = 0
    targets_ready: int = 0
    targets_failed: int = 0
    targets_unchanged: int = 0
    targets_removed: int = 0
    targets_pending: int = 0


@dataclass(frozen=True)
class FakeTarget:
    id: int
    release_id: str
    service: str
    replica: int
    action: str
    batch: int
    state: str = "pending"
    reason: str | None = None
    detail: str = ""
    instance_id: str | None = None
    previous_instance_id: str | None = None
    from_release_id: str | None = None


@dataclass(frozen=True)
class FakeEvent:
    app: str
    type: str
    payload: Mapping[str, Any]
    release_id: str | None
    seq: int


class FakeJournal:
    """The store as the executor sees it, in memory."""

    def __init__(self) -> None:
        self.releases: dict[str, FakeRelease] = {}
        self.targets: dict[int, FakeTarget] = {}
        self.events: list[FakeEvent] = []

    def add_release(self, release: FakeRelease, targets: Sequence[FakeTarget]) -> None:
        self.releases[release.id] = release
        for target in targets:
            self.targets[target.id] = target

    def get_release(self, release_id: str) -> FakeRelease:
        return self.releases[release_id]

    def list_targets(self, release_id: str) -> list[FakeTarget]:
        """The release's targets in the store's order: by batch, service, replica."""
        mine = [t for t in self.targets.values() if t.release_id == release_id]
        return sorted(mine, key=lambda t: (t.batch, t.service, t.replica))

    def update_release(self, release_id: str, **changes: Any) -> FakeRelease:
        changes = {k: v.value if hasattr(v, "value") else v for k, v in changes.items()}
        self.releases[release_id] = dataclasses.replace(self.releases[release_id], **changes)
        return self.releases[release_id]

    def update_target(self, target_id: int, **changes: Any) -> FakeTarget:
        changes = {k: v.value if hasattr(v, "value") else v for k, v in changes.items()}
        self.targets[target_id] = dataclasses.replace(self.targets[target_id], **changes)
        return self.targets[target_id]

    def append_event(
        self, app: str, type: str, payload: Mapping[str, Any], release_id: str | None = None
    ) -> tuple[int, int | None]:
        seq = len(self.events) + 1
        self.events.append(FakeEvent(app, type, dict(payload), release_id, seq))
        return seq, seq

    def event_types(self, release_id: str | None = None) -> list[str]:
        return [e.type for e in self.events if release_id is None or e.release_id == release_id]


class Crash(BaseException):
    """The engine died here (a BaseException, so no ``except Exception`` of the executor catches it)."""


@dataclass
class ServiceScript:
    """How a service's instances behave in the fake runtime."""

    prepare_error: str | None = None
    start_error: str | None = None
    not_ready: Reason | None = None  # the gate fails with this reason
    hold: bool = False  # the gate waits until released (or interrupted by the operator)
    replicas: tuple[int, ...] = ()  # when given, the script applies to these replicas only
    # per release: a rollback restores the previous release's instances, which may behave differently
    by_release: dict[str, ServiceScript] = field(default_factory=dict)


class FakeRuntime:
    """Instances without processes: scripted per service, recorded per call."""

    def __init__(self, scripts: Mapping[str, ServiceScript] | None = None) -> None:
        self.scripts: dict[str, ServiceScript] = dict(scripts or {})
        self.workers: dict[str, str | None] = {}  # worker name -> error text
        self.instances: dict[str, tuple[str, str]] = {}  # instance id -> (service, release id)
        self.replicas: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []  # (what, instance id or name), in order
        self.served: list[str] = []
        self.weights: dict[str, tuple[list[str], int | None]] = {}  # service -> its canary's share
        self.stopped: list[str] = []
        # per release: what each of its instances serves between two traffic() calls
        self.traffic_rate: dict[str, Traffic] = {}
        self._served: dict[str, Traffic] = {}
        self.gates_waiting: asyncio.Event = asyncio.Event()  # set while a held gate waits
        self.release_gates: asyncio.Event = asyncio.Event()
        self.crash_at: tuple[str, int] | None = None  # set by crash_on
        self._counts: dict[str, int] = {}
        self._ids = itertools.count(1)

    def _script(self, service: str, release_id: str, replica: int | None) -> ServiceScript:
        script = self.scripts.get(service, ServiceScript())
        script = script.by_release.get(release_id, script)
        mine = replica is None or not script.replicas or replica in script.replicas
        return script if mine else ServiceScript()

    def _call(self, what: str, subject: str) -> None:
        self.calls.append((what, subject))
        self._counts[what] = self._counts.get(what, 0) + 1
        if self.crash_at == (what, self._counts[what]):
            self.crash_at = None
            raise Crash(f"engine died at {what} #{self._counts[what]} ({subject})")

    def crash_on(self, what: str, n: int = 1) -> None:
        """The ``n``-th ``what`` call from now raises :class:`Crash`."""
        self.crash_at = (what, n)
        self._counts = {}

    def new_instance_id(self, service: str, replica: int) -> str:
        return f"{service}-{replica}-{next(self._ids)}"

    async def prepare(self, service: str, release_id: str) -> str | None:
        self._call("prepare", service)
        return self._script(service, release_id, None).prepare_error

    async def start(self, instance_id: str, service: str, replica: int, release_id: str) -> str | None:
        self._call("start", instance_id)
        self.instances[instance_id] = (service, release_id)
        self.replicas[instance_id] = replica
        return self._script(service, release_id, replica).start_error

    async def wait_ready(
        self,
        instance_id: str,
        timeout: float,
        min_ready: float,
        interrupt: asyncio.Event,
        on_health: Callable[[str, str], None] | None = None,
    ) -> Readiness:
        self._call("wait_ready", instance_id)
        service, release_id = self.instances[instance_id]
        script = self._script(service, release_id, self.replicas[instance_id])
        if script.hold:
            self.gates_waiting.set()
            released = asyncio.ensure_future(self.release_gates.wait())
            interrupted = asyncio.ensure_future(interrupt.wait())
            try:
                await asyncio.wait({released, interrupted}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                released.cancel()
                interrupted.cancel()
            if interrupt.is_set():
                return Readiness(False, interrupted=True)
        if script.not_ready is not None:
            if on_health is not None:
                on_health("unhealthy", script.not_ready.value)
            return Readiness(False, script.not_ready, f"{instance_id}: {script.not_ready.value}")
        return Readiness(True)

    async def stop(self, instance_id: str) -> int:
        self._call("stop", instance_id)
        if self.instances.pop(instance_id, None) is not None:
            self.stopped.append(instance_id)
            if instance_id in self.served:
                self.served.remove(instance_id)
        return 0

    def exists(self, instance_id: str) -> bool:
        return instance_id in self.instances

    def serve(self, instance_id: str) -> None:
        self._call("serve", instance_id)
        self.served.append(instance_id)

    async def switch(self, serve: Sequence[str], retire: Sequence[str]) -> None:
        self._call("switch", " ".join([*serve, "<-", *retire]))
        self.served.extend(serve)
        for instance_id in retire:
            if instance_id in self.served:
                self.served.remove(instance_id)

    async def run_worker(self, name: str, release_id: str) -> str | None:
        self._call("run_worker", name)
        return self.workers.get(name)

    async def weigh(self, release_id: str, service: str, canary: Sequence[str], percent: int | None) -> None:
        self._call("weigh", f"{service} {' '.join(canary)} {percent}")
        self.weights[service] = (list(canary), percent)

    async def traffic(self, instance_ids: Sequence[str]) -> dict[str, Traffic]:
        self._call("traffic", " ".join(instance_ids))
        for i in instance_ids:
            rate = self.traffic_rate.get(self.instances[i][1] if i in self.instances else "", Traffic())
            seen = self._served.get(i, Traffic())
            self._served[i] = Traffic(
                seen.requests + rate.requests, seen.errors_5xx + rate.errors_5xx, rate.response_ms
            )
        return {i: self._served.get(i, Traffic()) for i in instance_ids}

    def running(self, service: str | None = None) -> list[str]:
        return sorted(i for i, (s, _) in self.instances.items() if service in (None, s))


def _implements_ports(journal: FakeJournal, runtime: FakeRuntime) -> tuple[Journal, Runtime]:
    """Never called: mypy checks here that the fakes still implement the ports."""
    return journal, runtime
