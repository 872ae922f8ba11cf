"""mooring's persisted vocabulary: release statuses, controls, rollout states, triggers, target states
and actions, and the reasons of a target's state.

One copy, shared by every layer (like ``mooring.errors``): the release model re-exports it, the
store derives its CHECK constraints from it (migrations keep frozen copies), and the API's literals
are checked against it (tests/api/test_vocabulary.py). Adding a persisted value needs a migration.
"""

from __future__ import annotations

from enum import StrEnum


class ReleaseStatus(StrEnum):
    """Persisted status of a release."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def terminal(self) -> bool:
        """No way out: a failed or partially failed release can still be resumed, superseded or cancelled."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {
        ReleaseStatus.COMPLETED,
        ReleaseStatus.ROLLED_BACK,
        ReleaseStatus.CANCELLED,
        ReleaseStatus.SUPERSEDED,
    }
)


class Control(StrEnum):
    """What the operator asked for; the executor also pauses a release when a failure pauses it."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCEL_REQUESTED = "cancel_requested"


class RolloutState(StrEnum):
    """Derived on read from status, control and counters."""

    PENDING = "pending"
    STARTING = "starting"
    ROLLING = "rolling"
    VERIFYING = "verifying"
    STABLE = "stable"
    BLOCKED = "blocked"
    DEGRADED = "degraded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


class Trigger(StrEnum):
    APPLY = "apply"
    ROLLBACK = "rollback"
    RESTART = "restart"  # mooring restart: the serving spec, instances replaced
    DOWN = "down"  # mooring down, recorded: the app's instances stopped


class TargetState(StrEnum):
    """Where one replica slot of a release is."""

    PENDING = "pending"
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"
    REMOVED = "removed"

    @property
    def terminal(self) -> bool:
        return self in (TargetState.READY, TargetState.SKIPPED, TargetState.REMOVED, TargetState.ROLLED_BACK)


class Reason(StrEnum):
    """Why a target is where it is: a fixed vocabulary an operator can search for."""

    START_FAILED = "start_failed"
    PROCESS_EXITED = "process_exited"
    READINESS_TIMEOUT = "readiness_timeout"
    READINESS_FAILED = "readiness_failed"
    UNSTABLE = "unstable"  # crashed or turned unhealthy inside min_ready
    IMAGE_PULL_FAILED = "image_pull_failed"
    CANCELLED_BY_OPERATOR = "cancelled_by_operator"
    ROLLBACK_FAILED = "rollback_failed"
    ROLLED_BACK_AFTER_FAILURE = "rolled_back_after_failure"
    UNCHANGED = "unchanged"
    SUPERSEDED = "superseded"
    ENGINE_RESTARTED = "engine_restarted"
    ANALYSIS_FAILED = "analysis_failed"  # the new instances' live traffic failed rollout.analysis


class Action(StrEnum):
    """What a release does to one replica slot."""

    CREATE = "create"
    REPLACE = "replace"
    UNCHANGED = "unchanged"
    REMOVE = "remove"


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The persisted strings of a vocabulary, in declaration order."""
    return tuple(member.value for member in vocabulary)
