"""The executor's decisions, as the pure functions of release/decide.py."""

from __future__ import annotations

import pytest

from mooring.release.decide import (
    AfterBatch,
    Step,
    after_batch,
    cut_over_count,
    finished_status,
    first_batch_of,
    next_batch,
    over_failure_budget,
    paused_status,
    step_for,
    together_outcome,
    withdrawn_results,
)
from mooring.release.model import Control, ReleaseStatus, TargetState

P, R, F, S = TargetState.PENDING, TargetState.READY, TargetState.FAILED, TargetState.SKIPPED


def test_cancel_wins_over_pause_and_active_runs() -> None:
    assert step_for(Control.CANCEL_REQUESTED) is Step.CANCEL
    assert step_for(Control.PAUSED) is Step.PAUSE
    assert step_for(Control.ACTIVE) is Step.RUN


def test_next_batch_is_the_lowest_with_a_pending_target_and_ignores_batch_zero() -> None:
    assert next_batch([(0, P), (1, R), (2, F), (3, P), (4, P)]) == 3
    assert next_batch([(0, P), (1, R), (2, S)]) is None
    assert next_batch([]) is None


def test_first_batch_of_a_service() -> None:
    placed = [("db", 1), ("web", 2), ("web", 3), ("web", 0)]
    assert first_batch_of("web", placed) == 2
    assert first_batch_of("cache", placed) is None


@pytest.mark.parametrize(
    ("states", "ratio", "over"),
    [([R, F], 0.5, False), ([R, F], 0.49, True), ([F], 0.0, True), ([R, R], 0.0, False), ([], 0.0, False)],
)
def test_failure_budget(states: list[TargetState], ratio: float, over: bool) -> None:
    assert over_failure_budget(states, ratio) is over


@pytest.mark.parametrize(
    ("results", "over", "action", "decision"),
    [
        (["ready", "ready"], False, "pause", AfterBatch.NEXT),
        (["ready", "failed"], False, "pause", AfterBatch.NEXT),  # within the budget
        (["ready", "failed"], True, "pause", AfterBatch.PAUSE),
        (["ready", "failed"], True, "rollback", AfterBatch.ROLLBACK),
        (["failed", "interrupted"], True, "rollback", AfterBatch.RETRY),  # the operator comes first
        (["gated", "failed"], False, "pause", AfterBatch.PAUSE),  # a withdrawn blue_green set
        (["gated", "failed"], False, "rollback", AfterBatch.ROLLBACK),
    ],
)
def test_after_batch(results: list, over: bool, action: str, decision: AfterBatch) -> None:  # type: ignore[type-arg]
    assert after_batch(results, over, action) is decision  # type: ignore[arg-type]


def test_blue_green_cuts_over_only_a_fully_gated_set() -> None:
    assert together_outcome(["gated", "gated"]) == "cut_over"
    assert together_outcome(["gated", "failed"]) == "withdraw"
    assert together_outcome([]) == "withdraw"
    assert withdrawn_results(["gated", "interrupted"]) == ["interrupted", "interrupted"]
    assert withdrawn_results(["gated", "failed"]) == ["gated", "failed"]


def test_outcomes() -> None:
    assert finished_status([R, S, R]) is ReleaseStatus.COMPLETED
    assert finished_status([R, F]) is ReleaseStatus.PARTIALLY_FAILED
    assert paused_status(cut_over=0) is ReleaseStatus.FAILED
    assert paused_status(cut_over=2) is ReleaseStatus.PARTIALLY_FAILED
    assert (
        cut_over_count([("create", R), ("replace", R), ("remove", TargetState.REMOVED), ("replace", F)]) == 2
    )
