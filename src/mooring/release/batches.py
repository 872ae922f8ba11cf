"""Cut a plan into batches: per service, in dependency order, by that service's rollout policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from mooring.manifest.models import Analysis, Rollout
from mooring.release.plan import Action, Plan, PlannedTarget

Strategy = Literal["rolling", "canary", "blue_green"]


_DEFAULT = Rollout()  # the defaults are the manifest model's: written once, in manifest/models.py


@dataclass(frozen=True)
class Policy:
    """A service's rollout policy with durations in seconds (the manifest's ``Rollout``, as plain data)."""

    strategy: Strategy = _DEFAULT.strategy
    parallelism: int = _DEFAULT.parallelism
    delay_between_batches: float = _DEFAULT.delay_between_batches
    order: Literal["start_first", "stop_first"] = _DEFAULT.order
    health_check_timeout: float = _DEFAULT.health_check_timeout
    min_ready: float = _DEFAULT.min_ready
    failure_action: Literal["pause", "rollback"] = _DEFAULT.failure_action
    max_failure_ratio: float = _DEFAULT.max_failure_ratio
    drain_timeout: float = _DEFAULT.drain_timeout
    analysis: Analysis | None = None
    canary_weight: int | None = None

    @classmethod
    def from_rollout(cls, rollout: Rollout) -> Policy:
        return cls(**{f.name: getattr(rollout, f.name) for f in fields(cls)})

    @classmethod
    def of(cls, service: Mapping[str, Any]) -> Policy:
        """The policy recorded in a service's snapshot section."""
        return cls.from_rollout(Rollout.model_validate(service.get("rollout") or {}))


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
