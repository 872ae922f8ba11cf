"""Batches: sizes per strategy, and a plan cut per service in dependency order by its own policy."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from mooring.manifest.diff import spec_hash
from mooring.manifest.snapshot import build_snapshot
from mooring.release.batches import Batch, Policy, Strategy, batch_sizes, make_batches
from mooring.release.plan import Action, RunningInstance, make_plan
from tests.manifest.helpers import load

# --- batch_sizes -----------------------------------------------------------------------------

# (strategy, parallelism, count) -> sizes
SIZES: dict[tuple[Strategy, int, int], list[int]] = {
    ("rolling", 1, 0): [],
    ("rolling", 1, 1): [1],
    ("rolling", 1, 4): [1, 1, 1, 1],
    ("rolling", 1, 5): [1, 1, 1, 1, 1],
    ("rolling", 1, 7): [1, 1, 1, 1, 1, 1, 1],
    ("rolling", 2, 0): [],
    ("rolling", 2, 1): [1],
    ("rolling", 2, 4): [2, 2],
    ("rolling", 2, 5): [2, 2, 1],
    ("rolling", 2, 7): [2, 2, 2, 1],
    ("rolling", 5, 0): [],
    ("rolling", 5, 1): [1],
    ("rolling", 5, 4): [4],
    ("rolling", 5, 5): [5],
    ("rolling", 5, 7): [5, 2],
    # canary: one instance first, then batches of parallelism
    ("canary", 1, 0): [],
    ("canary", 1, 1): [1],
    ("canary", 1, 4): [1, 1, 1, 1],
    ("canary", 2, 1): [1],
    ("canary", 2, 4): [1, 2, 1],
    ("canary", 2, 5): [1, 2, 2],
    ("canary", 2, 7): [1, 2, 2, 2],
    ("canary", 5, 5): [1, 4],
    ("canary", 5, 7): [1, 5, 1],
    # blue_green: the whole new set in one batch, whatever the parallelism
    ("blue_green", 1, 0): [],
    ("blue_green", 1, 1): [1],
    ("blue_green", 1, 5): [5],
    ("blue_green", 2, 7): [7],
    # parallelism larger than the count
    ("rolling", 10, 3): [3],
    ("canary", 10, 3): [1, 2],
    ("blue_green", 10, 3): [3],
}


@pytest.mark.parametrize(("strategy", "parallelism", "count", "sizes"), [(*k, v) for k, v in SIZES.items()])
def test_batch_sizes(strategy: Strategy, parallelism: int, count: int, sizes: list[int]) -> None:
    assert batch_sizes(strategy, parallelism, count) == sizes


def test_negative_count_is_no_batches() -> None:
    assert batch_sizes("rolling", 2, -1) == []


@given(
    st.sampled_from(["rolling", "canary", "blue_green"]),
    st.integers(min_value=1, max_value=50),
    st.integers(min_value=0, max_value=500),
)
def test_batch_sizes_property(strategy: Strategy, parallelism: int, count: int) -> None:
    sizes = batch_sizes(strategy, parallelism, count)
    assert sum(sizes) == count
    assert all(size > 0 for size in sizes)
    if count == 0:
        assert sizes == []
        return
    if strategy == "blue_green":
        assert sizes == [count]
        return
    assert all(size <= max(parallelism, 1) for size in sizes)
    if strategy == "canary":
        assert sizes[0] == 1
        rest = sizes[1:]
    else:
        rest = sizes
    # as few batches as the parallelism allows: every batch but the last is full
    assert all(size == parallelism for size in rest[:-1])


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise TimeoutError in this thread after ``seconds``; keeps any outer alarm (pytest-timeout)."""

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds}s")

    began = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = max(previous_delay - (time.monotonic() - began), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, previous_interval)


@pytest.mark.parametrize("strategy", ["rolling", "canary"])
@pytest.mark.parametrize("parallelism", [0, -1])
def test_batch_sizes_never_hangs_on_a_bad_parallelism(strategy: Strategy, parallelism: int) -> None:
    """The manifest rejects parallelism < 1, but a snapshot read back from a store is plain data."""
    with deadline(0.05):
        try:
            sizes = batch_sizes(strategy, parallelism, 3)
        except ValueError:
            return  # refusing is as good as clamping
    assert sizes == [1, 1, 1]


# --- make_batches on real snapshots ----------------------------------------------------------


def snap(doc: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = build_snapshot(load(tomli_w.dumps(doc)).manifest).data
    return data


def running_from(snapshot: dict[str, Any]) -> list[RunningInstance]:
    return [
        RunningInstance(f"{name}-{replica}-x", name, replica, spec_hash(svc))
        for name, svc in snapshot["service"].items()
        for replica in range(1, svc["replicas"] + 1)
    ]


def shape(batches: list[Batch]) -> list[tuple[int, str, list[str], bool]]:
    return [(b.number, b.service, [t.name for t in b.targets], b.first_of_service) for b in batches]


APP: dict[str, Any] = {
    "service": {
        # declared out of order on purpose: batches follow depends_on, not the file
        "web": {"command": "web v1", "depends_on": ["api"]},
        "api": {
            "command": "api v1",
            "depends_on": ["db"],
            "replicas": 3,
            "rollout": {"parallelism": 2},
        },
        "db": {"command": "db v1"},
    }
}


def with_service(doc: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    services = dict(doc["service"])
    services[name] = {**services[name], **changes}
    return {"service": services}


def test_fresh_apply_batches_every_service_in_dependency_order() -> None:
    s = snap(APP)
    batches = make_batches(make_plan(s, []), s)
    assert shape(batches) == [
        (1, "db", ["db-1"], True),
        (2, "api", ["api-1", "api-2"], True),
        (3, "api", ["api-3"], False),
        (4, "web", ["web-1"], True),
    ]
    assert all(t.action is Action.CREATE for b in batches for t in b.targets)


def test_unchanged_targets_are_not_batched() -> None:
    old = snap(APP)
    new = snap(with_service(APP, "api", command="api v2"))
    batches = make_batches(make_plan(new, running_from(old)), new)
    assert shape(batches) == [
        (1, "api", ["api-1", "api-2"], True),
        (2, "api", ["api-3"], False),
    ]
    assert all(t.action is Action.REPLACE for b in batches for t in b.targets)


def test_reapply_of_the_same_snapshot_has_no_batches() -> None:
    s = snap(APP)
    assert make_batches(make_plan(s, running_from(s)), s) == []


def test_removals_are_not_batched() -> None:
    old = snap(APP)
    down = snap(with_service(APP, "api", replicas=1))
    plan = make_plan(down, running_from(old))
    assert plan.count(Action.REMOVE) == 2
    assert make_batches(plan, down) == []


def test_removed_service_is_not_batched_but_a_new_one_is() -> None:
    old = snap(APP)
    services = {k: v for k, v in APP["service"].items() if k != "web"}
    services["worker"] = {"command": "w v1", "depends_on": ["db"]}
    new = snap({"service": services})
    plan = make_plan(new, running_from(old))
    assert [t.name for t in plan.targets if t.action is Action.REMOVE] == ["web-1"]
    assert shape(make_batches(plan, new)) == [(1, "worker", ["worker-1"], True)]


def test_scale_up_batches_only_the_new_replicas() -> None:
    old = snap(APP)
    up = snap(with_service(APP, "api", replicas=6))
    batches = make_batches(make_plan(up, running_from(old)), up)
    assert shape(batches) == [
        (1, "api", ["api-4", "api-5"], True),
        (2, "api", ["api-6"], False),
    ]


def test_batch_numbers_run_across_services() -> None:
    old = snap(APP)
    changed = with_service(with_service(APP, "db", command="db v2"), "web", command="web v2", replicas=2)
    new = snap(changed)
    batches = make_batches(make_plan(new, running_from(old)), new)
    assert shape(batches) == [
        (1, "db", ["db-1"], True),
        (2, "web", ["web-1"], True),
        (3, "web", ["web-2"], False),
    ]
    assert [t.action for t in batches[2].targets] == [Action.CREATE]


def test_selected_services_batch_with_their_dependencies_only() -> None:
    s = snap(APP)
    batches = make_batches(make_plan(s, [], selected=["api"]), s)
    assert [b.service for b in batches] == ["db", "api", "api"]


def test_canary_and_blue_green_on_a_snapshot() -> None:
    doc = {
        "service": {
            "api": {"command": "a", "replicas": 5, "rollout": {"strategy": "canary", "parallelism": 2}},
            "web": {"command": "w", "replicas": 5, "rollout": {"strategy": "blue_green", "parallelism": 2}},
        }
    }
    s = snap(doc)
    assert shape(make_batches(make_plan(s, []), s)) == [
        (1, "api", ["api-1"], True),
        (2, "api", ["api-2", "api-3"], False),
        (3, "api", ["api-4", "api-5"], False),
        (4, "web", ["web-1", "web-2", "web-3", "web-4", "web-5"], True),
    ]


# --- policies --------------------------------------------------------------------------------


def test_policy_durations_are_seconds() -> None:
    rollout = {
        "delay_between_batches": "1m30s",
        "health_check_timeout": "30s",
        "min_ready": "500ms",
        "drain_timeout": "2s",
        "order": "stop_first",
        "failure_action": "rollback",
        "max_failure_ratio": 0.25,
    }
    s = snap(with_service(APP, "api", rollout=rollout))
    policy = Policy.of(s["service"]["api"])
    assert policy == Policy(
        strategy="rolling",
        parallelism=1,
        delay_between_batches=90.0,
        order="stop_first",
        health_check_timeout=30.0,
        min_ready=0.5,
        failure_action="rollback",
        max_failure_ratio=0.25,
        drain_timeout=2.0,
    )


def test_zero_health_check_timeout_is_zero_seconds() -> None:
    s = snap(with_service(APP, "db", rollout={"health_check_timeout": "0s"}))
    assert Policy.of(s["service"]["db"]).health_check_timeout == 0.0


def test_snapshot_defaults_are_the_policy_defaults() -> None:
    s = snap(APP)
    assert Policy.of(s["service"]["db"]) == Policy()
    assert Policy.of({}) == Policy()
    assert Policy() == Policy(
        strategy="rolling",
        parallelism=1,
        delay_between_batches=0.0,
        order="start_first",
        health_check_timeout=60.0,
        min_ready=0.0,
        failure_action="pause",
        max_failure_ratio=0.0,
        drain_timeout=10.0,
    )


def test_each_batch_carries_its_own_services_policy() -> None:
    api_rollout = {
        "strategy": "canary",
        "parallelism": 2,
        "delay_between_batches": "5s",
        "failure_action": "rollback",
        "max_failure_ratio": 0.5,
    }
    s = snap(with_service(APP, "api", rollout=api_rollout))
    batches = make_batches(make_plan(s, []), s)
    by_service = {b.service: b.policy for b in batches}
    assert by_service["db"] == Policy()
    assert by_service["web"] == Policy()
    assert by_service["api"] == Policy(
        strategy="canary",
        parallelism=2,
        delay_between_batches=5.0,
        failure_action="rollback",
        max_failure_ratio=0.5,
    )
    assert [len(b.targets) for b in batches if b.service == "api"] == [1, 2]


@given(
    replicas=st.integers(min_value=1, max_value=9),
    parallelism=st.integers(min_value=1, max_value=4),
    strategy=st.sampled_from(["rolling", "canary", "blue_green"]),
    running=st.integers(min_value=0, max_value=9),
)
def test_batches_cover_exactly_the_changing_targets_in_plan_order(
    replicas: int, parallelism: int, strategy: str, running: int
) -> None:
    rollout = {"strategy": strategy, "parallelism": parallelism}
    old = snap(with_service(APP, "api", replicas=running or 1))
    new = snap(with_service(APP, "api", command="api v2", replicas=replicas, rollout=rollout))
    plan = make_plan(new, running_from(old) if running else [])
    batches = make_batches(plan, new)
    changing = [t for t in plan.targets if t.action in (Action.CREATE, Action.REPLACE)]
    assert [t for b in batches for t in b.targets] == changing
    assert [b.number for b in batches] == list(range(1, len(batches) + 1))
    assert all(b.targets for b in batches)
    for service in {b.service for b in batches}:
        mine = [b for b in batches if b.service == service]
        assert [b.first_of_service for b in mine] == [True] + [False] * (len(mine) - 1)
