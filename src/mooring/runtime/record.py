"""What the engine persists about one instance, enough to show it and to adopt it after a restart."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .spec import InstanceSpec
from .states import ExitReason, ExitStatus, InstanceState


@dataclass(frozen=True, slots=True)  # one per instance, replaced on every change: no __dict__
class InstanceRecord:
    """An immutable snapshot of one instance; ``to_dict()`` is plain JSON.

    ``pid_start_ticks`` is field 22 of ``/proc/<pid>/stat`` (clock ticks since boot): together with
    the pid it names one process for good, because pids are reused but never with the same start
    time. Times (``started_at``, ``state_since``, ``restart_at``) are Unix epoch seconds.
    """

    instance_id: str
    spec: dict[str, Any]
    state: InstanceState
    state_since: float
    log_path: str
    stdout_fifo: str
    stderr_fifo: str
    pid: int | None = None
    pid_start_ticks: int | None = None
    cgroup_paths: list[str] = field(default_factory=list)
    started_at: float | None = None
    restarts: int = 0
    restart_streak: int = 0
    consecutive_failures: int = 0
    restart_at: float | None = None
    last_exit_code: int | None = None
    last_exit_signal: int | None = None
    last_exit_reason: ExitReason | None = None
    last_exit_detail: str = ""
    last_exit_message: str = ""  # ExitStatus.describe(), ready for ps/status
    last_log_lines: list[str] = field(default_factory=list)
    limits_applied: bool = True
    limits_note: str = ""
    container_id: str | None = None  # the container driver's container; the Swarm driver's service
    # The Swarm driver's instances only: the running task, its node, and where the edge reaches it.
    task_id: str | None = None
    node: str | None = None
    host: str | None = None
    host_ports: dict[str, int] = field(default_factory=dict)  # container port -> published port on the node

    @classmethod
    def new(cls, spec: InstanceSpec, log_path: str, stdout_fifo: str, stderr_fifo: str) -> InstanceRecord:
        """The record of an instance that was never started."""
        return cls(
            spec.instance_id,
            spec.shared_dict(),
            InstanceState.STOPPED,
            time.time(),
            log_path,
            stdout_fifo,
            stderr_fifo,
        )

    @property
    def instance_spec(self) -> InstanceSpec:
        """The spec this record was made from."""
        return InstanceSpec.from_dict(self.spec)

    @property
    def last_exit(self) -> ExitStatus | None:
        """The last run's end, rebuilt from the flat fields."""
        if self.last_exit_reason is None:
            return None
        return ExitStatus(
            self.last_exit_reason,
            self.last_exit_code,
            self.last_exit_signal,
            detail=self.last_exit_detail,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; the engine stores it as is."""
        data = asdict(self)
        data["state"] = self.state.value
        data["last_exit_reason"] = self.last_exit_reason.value if self.last_exit_reason else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InstanceRecord:
        """The inverse of :meth:`to_dict`; unknown keys are ignored so old engines can read new records."""
        known = {name for name in cls.__dataclass_fields__}
        values = {key: value for key, value in data.items() if key in known}
        values["state"] = InstanceState(values["state"])
        reason = values.get("last_exit_reason")
        values["last_exit_reason"] = ExitReason(reason) if reason else None
        values["cgroup_paths"] = list(values.get("cgroup_paths") or [])
        values["last_log_lines"] = list(values.get("last_log_lines") or [])
        values["spec"] = dict(values["spec"])
        values["host_ports"] = dict(values.get("host_ports") or {})
        return cls(**values)


def exit_fields(status: ExitStatus) -> dict[str, Any]:
    """The record's ``last_exit_*`` fields for ``status``."""
    return {
        "last_exit_code": status.code,
        "last_exit_signal": status.signal,
        "last_exit_reason": status.reason,
        "last_exit_detail": status.detail,
        "last_exit_message": status.describe(),
    }
