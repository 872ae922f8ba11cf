"""Cut a plan into batches: per service, in dependency order, by that service's rollout policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mooring.manifest.durations import parse_duration
from mooring.release.plan import Action, Plan, PlannedTarget

Strategy = Literal["rolling", "canary", "blue_green"]


@dataclass(frozen=True)
class Policy:
    """A service's rollout policy with durations in seconds."""

    strategy: Strategy = "rolling"
    parallelism: int = 1
    delay_between_batches: float = 0.0
    order: Literal["start_first", "stop_first"] = "start_first"
    health_check_timeout: float = 60.0
    min_ready: float = 0.0
    failure_action: Literal["pause", "rollback"] = "pause"
    max_failure_ratio: float = 0.0
    drain_timeout: float = 10.0

    @classmethod
    def of(cls, service: Mapping[str, Any]) -> Policy:
        """The policy recorded in a service's snapshot."""
        r = service.get("rollout") or {}
        return cls(
            strategy=r.get("strategy", "rolling"),
            parallelism=int(r.get("parallelism", 1)),
            delay_between_batches=parse_duration(r.get("delay_between_batches", "0s")),
            order=r.get("order", "start_first"),
            health_check_timeout=parse_duration(r.get("health_check_timeout", "1m")),
            min_ready=parse_duration(r.get("min_ready", "0s")),
            failure_action=r.get("failure_action", "pause"),
            max_failure_ratio=float(r.get("max_failure_ratio", 0.0)),
            drain_timeout=parse_duration(r.get("drain_timeout", "10s")),
        )


@dataclass(frozen=True)
class Batch:
    """Targets of one service started together and gated together."""

    number: int  # 1-based, across the whole release
    service: str
    targets: tuple[PlannedTarget, ...]
    policy: Policy
    first_of_service: bool


def batch_sizes(strategy: Strategy, parallelism: int, count: int) -> list[int]:
    """Sizes of consecutive batches for ``count`` targets."""
    if count <= 0:
        return []
    parallelism = max(parallelism, 1)  # the manifest enforces >= 1; stored data is not re-validated
    if strategy == "blue_green":
        return [count]
    sizes: list[int] = []
    left = count
    if strategy == "canary":
        sizes.append(1)
        left -= 1
    while left > 0:
        step = min(parallelism, left)
        sizes.append(step)
        left -= step
    return sizes


def make_batches(plan: Plan, snapshot: Mapping[str, Any]) -> list[Batch]:
    """Batches of every create/replace target; unchanged targets are skipped and removals come after."""
    batches: list[Batch] = []
    services: Mapping[str, Any] = snapshot.get("service", {})
    for service in plan.service_order:
        changing: Sequence[PlannedTarget] = [
            t for t in plan.targets if t.service == service and t.action in (Action.CREATE, Action.REPLACE)
        ]
        policy = Policy.of(services.get(service, {}))
        start = 0
        for index, size in enumerate(batch_sizes(policy.strategy, policy.parallelism, len(changing))):
            batches.append(
                Batch(
                    number=len(batches) + 1,
                    service=service,
                    targets=tuple(changing[start : start + size]),
                    policy=policy,
                    first_of_service=index == 0,
                )
            )
            start += size
    return batches
