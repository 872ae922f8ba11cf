"""What a Swarm service's tasks say about the one instance it runs: pure, so it is unit-tested.

mooring runs each replica slot as its own Swarm service of one replica (see docs/cluster.md), so a
slot's instance is whatever task of that service Swarm wants running now. Swarm restarts a task
that ends and reschedules the task of a node that is gone; this module reads the task list and says
where the instance is: starting, running (where, on which ports), or ended, and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Swarm task states before a container runs; "running" is reached only after a healthcheck passes.
PENDING_STATES = frozenset(
    {"new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting"}
)
ENDED_STATES = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})


@dataclass(frozen=True)
class TaskView:
    """One task, reduced to what the driver uses."""

    task_id: str
    state: str
    desired: str
    node_id: str
    slot_created: str  # Swarm's CreatedAt: orders the tasks of one service
    message: str
    error: str
    exit_code: int | None
    container_id: str | None
    ports: dict[int, int] = field(default_factory=dict)  # container port -> published port on the node

    @classmethod
    def of(cls, task: Mapping[str, Any]) -> TaskView:
        status = task.get("Status") or {}
        container = status.get("ContainerStatus") or {}
        ports = {
            int(p["TargetPort"]): int(p["PublishedPort"])
            for p in (status.get("PortStatus") or {}).get("Ports") or []
            if p.get("PublishedPort")
        }
        code = container.get("ExitCode")
        return cls(
            task_id=str(task.get("ID", "")),
            state=str(status.get("State", "")),
            desired=str(task.get("DesiredState", "")),
            node_id=str(task.get("NodeID", "")),
            slot_created=str(task.get("CreatedAt", "")),
            message=str(status.get("Message", "")),
            error=str(status.get("Err", "")),
            exit_code=int(code) if code is not None else None,
            container_id=container.get("ContainerID") or None,
            ports=ports,
        )


@dataclass(frozen=True)
class SlotState:
    """Where the instance of one slot is, as its tasks tell it.

    ``phase`` is ``running`` (``current`` is the running task), ``starting`` (a task is on its way:
    scheduled, pulling, waiting for its healthcheck), ``ended`` (no task is wanted or coming: the last
    one's end is in ``last``), or ``gone`` (Swarm lists no task at all).
    """

    phase: str
    current: TaskView | None = None
    last: TaskView | None = None  # the newest task that ended
    ended_tasks: int = 0  # tasks that ran and ended: Swarm's restarts and reschedules so far

    @property
    def why(self) -> str:
        """The tasks' own words on what is wrong (scheduling, image, health, exit): the current task's
        error, else the error that ended the previous one (a retry says only "preparing")."""
        for text in (
            self.current.error if self.current else "",
            self.last.error if self.last else "",
            self.current.message if self.current else "",
            self.last.message if self.last else "",
        ):
            if text:
                return text
        return "no task"


def slot_state(tasks: Iterable[Mapping[str, Any]]) -> SlotState:
    views = sorted((TaskView.of(t) for t in tasks), key=lambda v: v.slot_created)
    if not views:
        return SlotState("gone")
    ended = sum(1 for v in views if v.state in ENDED_STATES and v.state != "rejected")
    ended_views = [v for v in views if v.state in ENDED_STATES]
    last = ended_views[-1] if ended_views else None
    running = [v for v in views if v.state == "running" and v.desired == "running"]
    if running:
        return SlotState("running", current=running[-1], last=last, ended_tasks=ended)
    # "ready": Swarm's desired state of a task it has made and will start (a restart in its delay)
    coming = [v for v in views if v.desired in ("running", "ready") and v.state in PENDING_STATES]
    if coming:
        return SlotState("starting", current=coming[-1], last=last, ended_tasks=ended)
    return SlotState("ended", last=last or views[-1], ended_tasks=ended)


def is_image_failure(text: str) -> bool:
    lowered = text.lower()
    return "no such image" in lowered or "pull access denied" in lowered or "manifest unknown" in lowered


def is_unschedulable(text: str) -> bool:
    """Swarm says so in the pending task's message: no node satisfies the constraints or resources."""
    lowered = text.lower()
    return "no suitable node" in lowered or "insufficient resources" in lowered


# Swarm's task states before a node takes the task, and after it has ended (swarmkit's TaskState order).
_UNASSIGNED = frozenset({"new", "pending", "allocated"})
_ENDED = frozenset({"complete", "shutdown", "failed", "rejected", "remove", "orphaned"})


def awaits_reaper(task: TaskView) -> bool:
    """Whether Swarm's task reaper is about to delete this task (desired ``remove``, never ran or ended)."""
    return task.desired == "remove" and (task.state in _UNASSIGNED or task.state in _ENDED)
