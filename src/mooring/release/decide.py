"""The executor's decisions as pure functions: which batch next, whether to stop for the operator, what
a batch's results mean (go on, retry it, pause, roll back), and the outcome a release ends with.

The executor (release/executor.py) performs what these decide; they take plain data and are tested
without a journal or a runtime (tests/release/test_decide.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Literal

from mooring.manifest.models import Analysis
from mooring.release.model import Control, ReleaseStatus, TargetState
from mooring.release.ports import Traffic

TargetResult = Literal["ready", "failed", "interrupted", "gated"]
CHANGING = ("create", "replace")


class Step(StrEnum):
    """What the executor does before its next batch."""

    RUN = "run"
    CANCEL = "cancel"
    PAUSE = "pause"


class AfterBatch(StrEnum):
    """What a batch's results lead to."""

    NEXT = "next"  # on to the next batch
    RETRY = "retry"  # the operator interrupted it: re-check control, then the same batch again
    PAUSE = "pause"  # failed past the budget, failure_action = "pause"
    ROLLBACK = "rollback"  # failed past the budget, failure_action = "rollback"


def step_for(control: Control) -> Step:
    """The operator's word is checked before every batch: cancel wins, then pause."""
    if control is Control.CANCEL_REQUESTED:
        return Step.CANCEL
    if control is Control.PAUSED:
        return Step.PAUSE
    return Step.RUN


def next_batch(batches: Iterable[tuple[int, TargetState]]) -> int | None:
    """The lowest batch number (> 0) that still has a pending target; None when every batch is done.

    ``batches`` holds each target's (batch, state). Batch 0 holds the targets no batch acts on
    (unchanged, removed).
    """
    pending = [batch for batch, state in batches if batch > 0 and state is TargetState.PENDING]
    return min(pending, default=None)


def first_batch_of(service: str, batches: Iterable[tuple[str, int]]) -> int | None:
    """The first batch of ``service`` among (service, batch) pairs: the one that runs its workers first
    and waits no ``delay_between_batches``."""
    return min((b for s, b in batches if s == service and b > 0), default=None)


def over_failure_budget(states: Sequence[TargetState], max_failure_ratio: float) -> bool:
    """More of the service's changing targets failed than its ``max_failure_ratio`` allows."""
    failed = sum(1 for s in states if s is TargetState.FAILED)
    return bool(states) and failed / len(states) > max_failure_ratio


def after_batch(
    results: Sequence[TargetResult], over_budget: bool, failure_action: Literal["pause", "rollback"]
) -> AfterBatch:
    """What to do once a batch's targets all ended.

    ``gated`` left in the results means a blue_green set was withdrawn whole because part of it
    failed: that always stops the release, whatever the budget.
    """
    if "interrupted" in results:
        return AfterBatch.RETRY
    withdrawn = "gated" in results
    if "failed" in results and (withdrawn or over_budget):
        return AfterBatch.ROLLBACK if failure_action == "rollback" else AfterBatch.PAUSE
    return AfterBatch.NEXT


def cuts_over_together(strategy: str, order: str) -> bool:
    """blue_green with start_first switches the whole new set at once, once all of it passed its gate."""
    return strategy == "blue_green" and order == "start_first"


def together_outcome(results: Sequence[TargetResult]) -> Literal["cut_over", "withdraw"]:
    """A blue_green set cuts over only when every slot passed its gate; otherwise it is dropped whole."""
    return "cut_over" if results and all(r == "gated" for r in results) else "withdraw"


def withdrawn_results(results: Sequence[TargetResult]) -> list[TargetResult]:
    """The results of a withdrawn set: gated slots count as interrupted when the operator interrupted."""
    return ["interrupted" if r == "gated" and "interrupted" in results else r for r in results]


def cut_over_count(targets: Iterable[tuple[str, TargetState]]) -> int:
    """How many changing targets (action, state) run the new version."""
    return sum(1 for action, state in targets if action in CHANGING and state is TargetState.READY)


def finished_status(states: Iterable[TargetState]) -> ReleaseStatus:
    """The outcome of a release that worked every batch: failures within the budget make it partial."""
    return (
        ReleaseStatus.PARTIALLY_FAILED
        if any(s is TargetState.FAILED for s in states)
        else ReleaseStatus.COMPLETED
    )


def paused_status(cut_over: int) -> ReleaseStatus:
    """A release stopped by a failure: partially failed when some targets cut over, else failed."""
    return ReleaseStatus.PARTIALLY_FAILED if cut_over else ReleaseStatus.FAILED


def restore_on_cancel(failure_actions: Iterable[str]) -> bool:
    """A cancel puts the previous version back when a cut-over service rolls back on failure."""
    return any(action == "rollback" for action in failure_actions)


def traffic_between(before: Traffic, after: Traffic) -> Traffic:
    """What was served in a window (a HAProxy reload restarts the counters: then all of ``after``)."""
    if after.requests < before.requests or after.errors_5xx < before.errors_5xx:
        return after
    return Traffic(after.requests - before.requests, after.errors_5xx - before.errors_5xx, after.response_ms)


def pooled(parts: Iterable[Traffic]) -> Traffic:
    """Several instances' window traffic as one (response time weighted by requests)."""
    items = list(parts)
    requests = sum(t.requests for t in items)
    mean = sum(t.response_ms * t.requests for t in items) / requests if requests else 0.0
    return Traffic(requests, sum(t.errors_5xx for t in items), round(mean, 1))


def judge_traffic(new: Traffic, old: Traffic, analysis: Analysis) -> tuple[str, dict[str, object]]:
    """The analysis gate: ("passed" | "failed" | "inconclusive", the measured figures).

    Inconclusive (fewer than ``min_requests`` reached the new instances) passes: no traffic is no
    evidence against them, and the figures in the event say so.
    """
    ratio = new.errors_5xx / new.requests if new.requests else 0.0
    old_ratio = old.errors_5xx / old.requests if old.requests else None
    figures: dict[str, object] = {
        "requests": new.requests,
        "errors_5xx": new.errors_5xx,
        "ratio_5xx": round(ratio, 4),
        "response_ms": new.response_ms,
        "old_requests": old.requests,
        "old_ratio_5xx": round(old_ratio, 4) if old_ratio is not None else None,
        "old_response_ms": old.response_ms if old.requests else None,
        "max_5xx_ratio": analysis.max_5xx_ratio,
        "max_response_ms": analysis.max_response_time * 1000 if analysis.max_response_time else None,
    }
    if new.requests < analysis.min_requests:
        return "inconclusive", figures
    failures = []
    if ratio > analysis.max_5xx_ratio:
        failures.append(f"5xx ratio {ratio:.1%} > {analysis.max_5xx_ratio:.1%}")
    if analysis.max_response_time and new.response_ms > analysis.max_response_time * 1000:
        failures.append(f"mean response {new.response_ms:g} ms > {analysis.max_response_time * 1000:g} ms")
    figures["failures"] = failures
    return ("failed" if failures else "passed"), figures
