"""What the executor needs from the world, as protocols: a journal (the store) and a runtime.

The engine implements both; unit tests may use small fakes. Keeping them here keeps the release
core free of imports from the store and the drivers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mooring.release.model import Reason


class ReleaseRecord(Protocol):
    """The fields of a stored release the executor reads."""

    @property
    def id(self) -> str: ...
    @property
    def app(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def control(self) -> str: ...
    @property
    def trigger(self) -> str: ...
    @property
    def snapshot(self) -> str: ...
    @property
    def source_release_id(self) -> str | None: ...


class TargetRecord(Protocol):
    """The fields of a stored target the executor reads."""

    @property
    def id(self) -> int: ...
    @property
    def service(self) -> str: ...
    @property
    def replica(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def batch(self) -> int: ...
    @property
    def instance_id(self) -> str | None: ...
    @property
    def previous_instance_id(self) -> str | None: ...
    @property
    def from_release_id(self) -> str | None: ...


class Journal(Protocol):
    """Durable state: every call commits before it returns (journal before effect)."""

    def get_release(self, release_id: str) -> ReleaseRecord: ...
    def list_targets(self, release_id: str) -> Sequence[TargetRecord]: ...
    def update_release(self, release_id: str, **changes: Any) -> ReleaseRecord: ...
    def update_target(self, target_id: int, **changes: Any) -> TargetRecord: ...
    def append_event(
        self, app: str, type: str, payload: Mapping[str, Any], release_id: str | None = None
    ) -> tuple[int, int | None]: ...


@dataclass(frozen=True)
class Readiness:
    """How a readiness gate ended: ready, failed with a reason, or interrupted by the operator."""

    ready: bool
    reason: Reason | None = None
    detail: str = ""
    interrupted: bool = False


@dataclass(frozen=True)
class Traffic:
    """What an instance served through the edge's HTTP routes (cumulative counters)."""

    requests: int = 0
    errors_5xx: int = 0
    response_ms: float = 0.0  # mean response time of its recent requests (HAProxy's rtime)


class Runtime(Protocol):
    """Instances, as the executor sees them."""

    def new_instance_id(self, service: str, replica: int) -> str: ...

    async def prepare(self, service: str, release_id: str) -> str | None:
        """Make what ``service`` needs available (pull its image) before anything is stopped; error text."""
        ...

    async def start(self, instance_id: str, service: str, replica: int, release_id: str) -> str | None:
        """Start an instance of ``service`` as recorded in release ``release_id``; an error text on failure."""
        ...

    async def wait_ready(
        self,
        instance_id: str,
        timeout: float,
        min_ready: float,
        interrupt: asyncio.Event,
        on_health: Callable[[str, str], None] | None = None,
    ) -> Readiness:
        """Wait for the readiness gate; ``on_health(state, detail)`` hears each health change meanwhile.
        An instance judged unhealthy (``retries`` failures after ``start_period``) fails at once."""
        ...

    async def stop(self, instance_id: str) -> int:
        """Stop and forget an instance (an instance in service is first taken out and drained);
        nothing happens for an unknown id. Returns how many connections were still open at the
        drain deadline and were cut by the stop (0: it drained, or it served none)."""
        ...

    def exists(self, instance_id: str) -> bool: ...

    def serve(self, instance_id: str) -> None:
        """Cut over to a gated instance: the proxy may now send it new connections."""
        ...

    async def switch(self, serve: Sequence[str], retire: Sequence[str]) -> None:
        """blue_green's cut-over: ``serve`` take new connections and ``retire`` stop taking them in
        one change of the proxy, so no new connection reaches the old set after one reached the new.
        The retired instances keep running (and their open connections) until ``stop``."""
        ...

    async def run_worker(self, name: str, release_id: str) -> str | None:
        """Run a worker to completion; an error text when it fails."""
        ...

    async def traffic(self, instance_ids: Sequence[str]) -> dict[str, Traffic]:
        """The edge's counters of each instance (an instance the edge does not know: zeros)."""
        ...

    async def weigh(self, release_id: str, service: str, canary: Sequence[str], percent: int | None) -> None:
        """The ``canary`` instances of ``service`` (of the release's app) take ``percent`` % of its new connections and
        requests, the others share the rest; ``percent`` None: every instance an equal share."""
        ...
