"""The health state machine of one instance: pure, fed one probe result at a time.

    starting --first success--------------------> healthy
    starting --`retries` counted failures-------> unhealthy
    healthy  --`retries` consecutive failures---> unhealthy
    unhealthy --one success---------------------> healthy

A failure is *counted* unless the instance is still ``starting`` inside its ``start_period``
(measured from registration). As in Docker, the first success ends the start period early: an
instance that has served once is judged on every later failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .result import ProbeResult


class HealthState(StrEnum):
    """Where an instance stands, as the prober sees it."""

    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


_LEGAL_TRANSITIONS = frozenset(
    {
        (HealthState.STARTING, HealthState.HEALTHY),
        (HealthState.STARTING, HealthState.UNHEALTHY),
        (HealthState.HEALTHY, HealthState.UNHEALTHY),
        (HealthState.UNHEALTHY, HealthState.HEALTHY),
    }
)


@dataclass(frozen=True)
class Transition:
    """One change of state, with the probe result that caused it and why in words."""

    previous: HealthState
    current: HealthState
    at: float
    reason: str
    result: ProbeResult

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "previous": self.previous.value,
            "current": self.current.value,
            "at": self.at,
            "reason": self.reason,
            "result": self.result.to_dict(),
        }


@dataclass(frozen=True)
class HealthStatus:
    """A snapshot of one instance's health, for ``status`` and ``status --explain``."""

    state: HealthState
    since: float
    last_result: ProbeResult | None
    last_failure: ProbeResult | None
    consecutive_failures: int
    consecutive_successes: int
    probes_run: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "state": self.state.value,
            "since": self.since,
            "last_result": self.last_result.to_dict() if self.last_result else None,
            "last_failure": self.last_failure.to_dict() if self.last_failure else None,
            "consecutive_failures": self.consecutive_failures,
            "consecutive_successes": self.consecutive_successes,
            "probes_run": self.probes_run,
        }


class InstanceHealth:
    """The health state of one instance; ``observe`` is the only way it changes.

    ``registered_at``, ``now`` and ``since`` share one clock, chosen by the caller.
    """

    def __init__(self, *, retries: int, start_period: float, registered_at: float) -> None:
        assert retries >= 1 and start_period >= 0, (retries, start_period)
        self.retries = retries
        self.start_period = start_period
        self.registered_at = registered_at
        self.state = HealthState.STARTING
        self.since = registered_at
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.probes_run = 0
        self.last_result: ProbeResult | None = None
        self.last_failure: ProbeResult | None = None

    def observe(self, result: ProbeResult, now: float) -> Transition | None:
        """Take in one probe result; return the transition it caused, if any."""
        self.probes_run += 1
        self.last_result = result
        if result.ok:
            self.consecutive_failures = 0
            self.consecutive_successes += 1
            if self.state is HealthState.HEALTHY:
                return None
            recovered = self.state is HealthState.UNHEALTHY
            reason = f"{'recovered' if recovered else 'passed'}: {result.detail}"
            return self._change(HealthState.HEALTHY, now, reason, result)

        self.last_failure = result
        self.consecutive_successes = 0
        if not self.counts_failure_at(now):
            return None
        self.consecutive_failures += 1
        if self.consecutive_failures < self.retries or self.state is HealthState.UNHEALTHY:
            return None
        failures = "1 failure" if self.retries == 1 else f"{self.retries} consecutive failures"
        return self._change(HealthState.UNHEALTHY, now, f"{failures}, last: {result.detail}", result)

    def counts_failure_at(self, now: float) -> bool:
        """Whether a failure at ``now`` counts toward ``retries`` (not while starting in the grace)."""
        in_start_period = now - self.registered_at < self.start_period
        return not (self.state is HealthState.STARTING and in_start_period)

    def status(self) -> HealthStatus:
        """An immutable snapshot of the current state."""
        return HealthStatus(
            state=self.state,
            since=self.since,
            last_result=self.last_result,
            last_failure=self.last_failure,
            consecutive_failures=self.consecutive_failures,
            consecutive_successes=self.consecutive_successes,
            probes_run=self.probes_run,
        )

    def _change(self, new: HealthState, now: float, reason: str, result: ProbeResult) -> Transition:
        """Move to ``new``: the single place the state changes."""
        assert (self.state, new) in _LEGAL_TRANSITIONS, (self.state, new)
        transition = Transition(previous=self.state, current=new, at=now, reason=reason, result=result)
        self.state = new
        self.since = now
        return transition
