"""The release model (DESIGN §4): statuses, control, target states and reasons, counters, the derived
rollout state, legal transitions and default messages. Pure: plain data in, plain data out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# The vocabulary lives in mooring.vocabulary (the store's CHECK constraints and the API's literals
# are derived from it too); the release model is where the rest of mooring imports it from.
from mooring.vocabulary import (
    TERMINAL_STATUSES,
    Control,
    Reason,
    ReleaseStatus,
    RolloutState,
    TargetState,
    Trigger,
)

__all__ = [
    "RELEASE_TRANSITIONS",
    "TARGET_TRANSITIONS",
    "TERMINAL_STATUSES",
    "Control",
    "Counters",
    "IllegalTransition",
    "Reason",
    "ReleaseStatus",
    "RolloutState",
    "TargetState",
    "Trigger",
    "check_release_transition",
    "check_target_transition",
    "default_message",
    "derive_rollout_state",
]


RELEASE_TRANSITIONS: frozenset[tuple[ReleaseStatus, ReleaseStatus]] = frozenset(
    {
        (ReleaseStatus.PENDING, ReleaseStatus.IN_PROGRESS),
        (ReleaseStatus.PENDING, ReleaseStatus.SUPERSEDED),
        (ReleaseStatus.PENDING, ReleaseStatus.CANCELLED),
        (ReleaseStatus.PENDING, ReleaseStatus.FAILED),
        (ReleaseStatus.IN_PROGRESS, ReleaseStatus.COMPLETED),
        (ReleaseStatus.IN_PROGRESS, ReleaseStatus.PARTIALLY_FAILED),
        (ReleaseStatus.IN_PROGRESS, ReleaseStatus.FAILED),
        (ReleaseStatus.IN_PROGRESS, ReleaseStatus.ROLLED_BACK),
        (ReleaseStatus.IN_PROGRESS, ReleaseStatus.CANCELLED),
        (ReleaseStatus.IN_PROGRESS, ReleaseStatus.SUPERSEDED),
        # a paused failure is resumable: resume puts it back in progress
        (ReleaseStatus.PARTIALLY_FAILED, ReleaseStatus.IN_PROGRESS),
        (ReleaseStatus.PARTIALLY_FAILED, ReleaseStatus.SUPERSEDED),
        (ReleaseStatus.PARTIALLY_FAILED, ReleaseStatus.CANCELLED),
        (ReleaseStatus.FAILED, ReleaseStatus.IN_PROGRESS),
        (ReleaseStatus.FAILED, ReleaseStatus.SUPERSEDED),
        (ReleaseStatus.FAILED, ReleaseStatus.CANCELLED),
    }
)

TARGET_TRANSITIONS: frozenset[tuple[TargetState, TargetState]] = frozenset(
    {
        (TargetState.PENDING, TargetState.STARTING),
        (TargetState.PENDING, TargetState.SKIPPED),
        (TargetState.PENDING, TargetState.REMOVED),
        (TargetState.PENDING, TargetState.FAILED),
        (TargetState.STARTING, TargetState.READY),
        (TargetState.STARTING, TargetState.FAILED),
        (TargetState.STARTING, TargetState.PENDING),  # cancelled or paused mid-start: back to the queue
        (TargetState.READY, TargetState.ROLLED_BACK),
        (TargetState.READY, TargetState.FAILED),  # rollback of this target failed
        (TargetState.FAILED, TargetState.PENDING),  # resume retries it
        (TargetState.FAILED, TargetState.ROLLED_BACK),
        (TargetState.FAILED, TargetState.STARTING),
    }
)


class IllegalTransition(ValueError):
    """A bug: the executor tried a move the model forbids."""


def check_release_transition(old: ReleaseStatus, new: ReleaseStatus) -> None:
    if old != new and (old, new) not in RELEASE_TRANSITIONS:
        raise IllegalTransition(f"release status {old} -> {new} is not a legal transition")


def check_target_transition(old: TargetState, new: TargetState) -> None:
    if old != new and (old, new) not in TARGET_TRANSITIONS:
        raise IllegalTransition(f"target state {old} -> {new} is not a legal transition")


@dataclass(frozen=True)
class Counters:
    """How many targets are where; ``left`` are those still to act on."""

    total: int = 0
    pending: int = 0
    starting: int = 0
    ready: int = 0
    failed: int = 0
    rolled_back: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def left(self) -> int:
        return self.pending + self.starting

    @classmethod
    def of(cls, states: Iterable[TargetState]) -> Counters:
        values = list(states)
        return cls(
            total=len(values),
            pending=values.count(TargetState.PENDING),
            starting=values.count(TargetState.STARTING),
            ready=values.count(TargetState.READY),
            failed=values.count(TargetState.FAILED),
            rolled_back=values.count(TargetState.ROLLED_BACK),
            unchanged=values.count(TargetState.SKIPPED),
            removed=values.count(TargetState.REMOVED),
        )


def derive_rollout_state(status: ReleaseStatus, control: Control, counters: Counters) -> RolloutState:
    """The rollout state an operator sees, from what is persisted."""
    if status is ReleaseStatus.SUPERSEDED:
        return RolloutState.SUPERSEDED
    if status is ReleaseStatus.CANCELLED:
        return RolloutState.CANCELLED
    if status is ReleaseStatus.ROLLED_BACK:
        return RolloutState.ROLLED_BACK
    if status is ReleaseStatus.COMPLETED:
        return RolloutState.STABLE
    if status in (ReleaseStatus.FAILED, ReleaseStatus.PARTIALLY_FAILED):
        if control is Control.PAUSED:
            return RolloutState.BLOCKED  # stopped with targets left; resume retries
        return RolloutState.DEGRADED if status is ReleaseStatus.PARTIALLY_FAILED else RolloutState.FAILED
    if control is Control.PAUSED:
        return RolloutState.BLOCKED
    if status is ReleaseStatus.PENDING:
        return RolloutState.PENDING
    acted = counters.ready + counters.failed + counters.removed + counters.rolled_back
    if acted == 0:
        return RolloutState.STARTING
    if counters.left == 0:
        return RolloutState.VERIFYING
    return RolloutState.ROLLING


def default_message(status: ReleaseStatus, trigger: Trigger, source_release_id: str | None = None) -> str:
    """``apply partially failed``, ``rollback to 3f2a… completed``: what history shows with no message."""
    words = status.value.replace("_", " ")
    if trigger is Trigger.ROLLBACK:
        target = f" to {source_release_id}" if source_release_id else ""
        return f"rollback{target} {words}"
    return f"{trigger.value} {words}"
