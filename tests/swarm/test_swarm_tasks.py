"""Which Swarm tasks the task reaper is about to delete (pure: no cluster)."""

from __future__ import annotations

import pytest

from mooring.runtime.swarm.tasks import TaskView, awaits_reaper


def task(state: str, desired: str) -> TaskView:
    return TaskView.of({"ID": "t1", "DesiredState": desired, "Status": {"State": state}})


@pytest.mark.parametrize(
    ("state", "desired", "reaped"),
    [
        ("shutdown", "remove", True),  # scaled down and stopped: deleted any moment now
        ("complete", "remove", True),
        ("pending", "remove", True),  # never placed
        ("running", "remove", False),  # still stopping: it becomes a candidate later
        ("shutdown", "shutdown", False),  # history of an update, kept by the retention limit
        ("running", "running", False),
    ],
)
def test_a_task_awaits_the_reaper_only_when_removed_and_not_running(
    state: str, desired: str, reaped: bool
) -> None:
    assert awaits_reaper(task(state, desired)) is reaped
