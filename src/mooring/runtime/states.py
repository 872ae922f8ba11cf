"""The lifecycle of a supervised instance: its states, every legal move, and why a run ended.

stopped  --start-------------------------------> starting
starting --exec confirmed-----------------------> running
starting --start failed, will retry--------------> backoff
starting --start failed, no retry / given up-----> failed
starting --gone when the engine came back--------> exited
running  --stop requested-----------------------> stopping
running  --ended, policy restarts it-------------> backoff
running  --ended, policy keeps it down-----------> exited
running  --ended, max_restarts used up-----------> failed
backoff  --delay elapsed------------------------> starting
backoff  --stop requested (restart cancelled)----> stopped
stopping --process and descendants gone----------> stopped
exited / failed --start------------------------> starting
exited / failed --stop--------------------------> stopped
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class InstanceState(StrEnum):
    """Where one instance is in its lifecycle."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"
    FAILED = "failed"


S = InstanceState
LEGAL_TRANSITIONS: frozenset[tuple[InstanceState, InstanceState]] = frozenset(
    {
        (S.STOPPED, S.STARTING),
        (S.STARTING, S.RUNNING),
        (S.STARTING, S.BACKOFF),
        (S.STARTING, S.FAILED),
        (S.STARTING, S.EXITED),
        (S.RUNNING, S.STOPPING),
        (S.RUNNING, S.BACKOFF),
        (S.RUNNING, S.EXITED),
        (S.RUNNING, S.FAILED),
        (S.BACKOFF, S.STARTING),
        (S.BACKOFF, S.STOPPED),
        (S.STOPPING, S.STOPPED),
        (S.EXITED, S.STARTING),
        (S.EXITED, S.STOPPED),
        (S.FAILED, S.STARTING),
        (S.FAILED, S.STOPPED),
    }
)

# States in which no process of the instance exists and nothing is scheduled.
RESTING_STATES = frozenset({S.STOPPED, S.EXITED, S.FAILED})


def is_legal(current: InstanceState, new: InstanceState) -> bool:
    """Whether the lifecycle allows moving from ``current`` to ``new``."""
    return (current, new) in LEGAL_TRANSITIONS


class ExitReason(StrEnum):
    """Why a run of an instance ended (a fixed vocabulary the engine maps to target reasons)."""

    CLEAN_EXIT = "clean_exit"  # exit code 0
    CRASHED = "crashed"  # non-zero exit code
    KILLED = "killed"  # a signal mooring did not send
    OOM_KILLED = "oom_killed"  # SIGKILL and the cgroup's OOM-kill counter went up
    START_FAILED = "start_failed"  # never ran: exec failed, working dir missing, ...
    STOPPED = "stopped"  # mooring stopped it on request
    DIED_WHILE_AWAY = "died_while_away"  # gone (or replaced) when the engine came back
    EXIT_UNKNOWN = "exit_unknown"  # an adopted process ended; not our child, so no exit status


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15; the number itself when it is not a known signal."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True)
class ExitStatus:
    """How and why one run ended."""

    reason: ExitReason
    code: int | None = None
    signal: int | None = None
    detail: str = ""

    @property
    def is_failure(self) -> bool:
        """Whether this counts as a failure for ``restart = "on-failure"`` and the give-up limit."""
        return self.reason not in (ExitReason.CLEAN_EXIT, ExitReason.STOPPED)

    def describe(self) -> str:
        """One line for ``ps``/``status``: what happened, in an operator's words."""
        if self.reason is ExitReason.START_FAILED:
            return f"failed to start: {self.detail}"
        if self.reason is ExitReason.DIED_WHILE_AWAY:
            return f"was gone when the engine came back ({self.detail})"
        if self.reason is ExitReason.EXIT_UNKNOWN:
            return (
                "exited; exit code unknown (adopted after an engine restart, so mooring is not its"
                " parent and cannot read its exit status)"
            )
        if self.signal is not None:
            head = f"killed by {signal_name(self.signal)}"
        elif self.code is not None:
            head = f"exited with code {self.code}"
        else:
            head = "ended"
        if self.reason is ExitReason.STOPPED:
            how = f" ({self.detail})" if self.detail else ""
            return f"stopped by mooring{how}: {head}"
        if self.reason is ExitReason.OOM_KILLED:
            head += " (out of memory: the kernel's OOM killer ended it at the memory limit)"
        return f"{head}: {self.detail}" if self.detail else head

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "reason": self.reason.value,
            "code": self.code,
            "signal": self.signal,
            "detail": self.detail,
            "message": self.describe(),
        }
