"""Restart decisions after a run ends: pure functions of the policy, the exit and two counters."""

from __future__ import annotations

from dataclasses import dataclass

from .spec import RestartPolicy
from .states import ExitReason, ExitStatus, InstanceState


@dataclass(frozen=True)
class BackoffPolicy:
    """Delay before restart number ``n`` of a streak: ``base * 2**(n-1)``, at most ``cap`` seconds.

    A run that lasted ``reset_after`` seconds ends the streak: the next restart waits ``base`` again
    and the give-up count starts over.
    """

    base: float = 1.0
    cap: float = 30.0
    reset_after: float = 10.0

    def __post_init__(self) -> None:
        assert 0 < self.base <= self.cap, (self.base, self.cap)
        assert self.reset_after >= 0, self.reset_after

    def delay(self, streak: int) -> float:
        """Seconds to wait before the ``streak``-th consecutive restart (1-based)."""
        assert streak >= 1, streak
        return float(min(self.cap, self.base * 2 ** min(streak - 1, 62)))


@dataclass(frozen=True)
class AfterRun:
    """What to do once a run has ended, and the counters to carry on with."""

    next_state: InstanceState  # BACKOFF, EXITED or FAILED
    delay: float | None  # seconds before the restart, when next_state is BACKOFF
    restart_streak: int  # restarts since the last run that lasted reset_after
    consecutive_failures: int  # failed runs since then; above max_restarts we give up


def wants_restart(policy: RestartPolicy, exit_status: ExitStatus) -> bool:
    """Whether the restart policy asks for another run after this exit."""
    if exit_status.reason is ExitReason.STOPPED:
        return False
    if policy == "always":
        return True
    return policy == "on-failure" and exit_status.is_failure


def decide_after_run(
    *,
    policy: RestartPolicy,
    max_restarts: int,
    exit_status: ExitStatus,
    ran_for: float | None,
    restart_streak: int,
    consecutive_failures: int,
    backoff: BackoffPolicy,
) -> AfterRun:
    """Restart after a delay, stay exited, or give up into ``failed``.

    ``ran_for`` is how long the run lasted (``None`` when unknown, e.g. it died while no engine
    watched). A start failure with ``restart = "no"`` is ``failed``: the instance never ran.
    """
    if ran_for is not None and ran_for >= backoff.reset_after:
        restart_streak, consecutive_failures = 0, 0
    if exit_status.is_failure:
        consecutive_failures += 1
    if not wants_restart(policy, exit_status):
        final = (
            InstanceState.FAILED if exit_status.reason is ExitReason.START_FAILED else InstanceState.EXITED
        )
        return AfterRun(final, None, restart_streak, consecutive_failures)
    if consecutive_failures > max_restarts:
        return AfterRun(InstanceState.FAILED, None, restart_streak, consecutive_failures)
    restart_streak += 1
    return AfterRun(
        InstanceState.BACKOFF, backoff.delay(restart_streak), restart_streak, consecutive_failures
    )
