"""The release model (DESIGN §4): derived rollout state, legal transitions, counters, messages."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mooring.release.model import (
    RELEASE_TRANSITIONS,
    TARGET_TRANSITIONS,
    Control,
    Counters,
    IllegalTransition,
    ReleaseStatus,
    RolloutState,
    TargetState,
    Trigger,
    check_release_transition,
    check_target_transition,
    default_message,
    derive_rollout_state,
)

S = ReleaseStatus
C = Control
R = RolloutState
T = TargetState

# --- derived rollout state -------------------------------------------------------------------

# Representative counters, one per column of the table below.
COUNTER_CASES: dict[str, Counters] = {
    # nothing acted on yet: every target still pending
    "none_acted": Counters(total=3, pending=3),
    # mid-rollout: some ready, one starting, one pending
    "some_ready": Counters(total=4, ready=2, starting=1, pending=1),
    # every target acted on (left == 0); one unchanged
    "all_acted": Counters(total=4, ready=3, unchanged=1),
    # a failure with targets left
    "failed_left": Counters(total=4, ready=1, failed=1, pending=2),
    # the release only removed instances (scale down), all done
    "only_removals": Counters(total=3, unchanged=1, removed=2),
}
COLUMNS = tuple(COUNTER_CASES)

# fmt: off
# The spec, row by row. Columns in COLUMNS order:
#                                     none_acted  some_ready  all_acted   failed_left  only_removals
EXPECTED: dict[tuple[ReleaseStatus, Control], tuple[RolloutState, ...]] = {
    (S.PENDING, C.ACTIVE):              (R.PENDING,  R.PENDING,  R.PENDING,   R.PENDING,   R.PENDING),
    (S.PENDING, C.PAUSED):              (R.BLOCKED,  R.BLOCKED,  R.BLOCKED,   R.BLOCKED,   R.BLOCKED),
    (S.PENDING, C.CANCEL_REQUESTED):    (R.PENDING,  R.PENDING,  R.PENDING,   R.PENDING,   R.PENDING),
    (S.IN_PROGRESS, C.ACTIVE):          (R.STARTING, R.ROLLING,  R.VERIFYING, R.ROLLING,   R.VERIFYING),
    (S.IN_PROGRESS, C.PAUSED):          (R.BLOCKED,  R.BLOCKED,  R.BLOCKED,   R.BLOCKED,   R.BLOCKED),
    (S.IN_PROGRESS, C.CANCEL_REQUESTED): (R.STARTING, R.ROLLING, R.VERIFYING, R.ROLLING,   R.VERIFYING),
    (S.COMPLETED, C.ACTIVE):            (R.STABLE,   R.STABLE,   R.STABLE,    R.STABLE,    R.STABLE),
    (S.COMPLETED, C.PAUSED):            (R.STABLE,   R.STABLE,   R.STABLE,    R.STABLE,    R.STABLE),
    (S.COMPLETED, C.CANCEL_REQUESTED):  (R.STABLE,   R.STABLE,   R.STABLE,    R.STABLE,    R.STABLE),
    (S.PARTIALLY_FAILED, C.ACTIVE):     (R.DEGRADED, R.DEGRADED, R.DEGRADED,  R.DEGRADED,  R.DEGRADED),
    (S.PARTIALLY_FAILED, C.PAUSED):     (R.BLOCKED,  R.BLOCKED,  R.BLOCKED,   R.BLOCKED,   R.BLOCKED),
    (S.PARTIALLY_FAILED, C.CANCEL_REQUESTED): (R.DEGRADED, R.DEGRADED, R.DEGRADED, R.DEGRADED, R.DEGRADED),
    (S.FAILED, C.ACTIVE):               (R.FAILED,   R.FAILED,   R.FAILED,    R.FAILED,    R.FAILED),
    (S.FAILED, C.PAUSED):               (R.BLOCKED,  R.BLOCKED,  R.BLOCKED,   R.BLOCKED,   R.BLOCKED),
    (S.FAILED, C.CANCEL_REQUESTED):     (R.FAILED,   R.FAILED,   R.FAILED,    R.FAILED,    R.FAILED),
    (S.ROLLED_BACK, C.ACTIVE):          (R.ROLLED_BACK,) * 5,
    (S.ROLLED_BACK, C.PAUSED):          (R.ROLLED_BACK,) * 5,
    (S.ROLLED_BACK, C.CANCEL_REQUESTED): (R.ROLLED_BACK,) * 5,
    (S.CANCELLED, C.ACTIVE):            (R.CANCELLED,) * 5,
    (S.CANCELLED, C.PAUSED):            (R.CANCELLED,) * 5,
    (S.CANCELLED, C.CANCEL_REQUESTED):  (R.CANCELLED,) * 5,
    (S.SUPERSEDED, C.ACTIVE):           (R.SUPERSEDED,) * 5,
    (S.SUPERSEDED, C.PAUSED):           (R.SUPERSEDED,) * 5,
    (S.SUPERSEDED, C.CANCEL_REQUESTED): (R.SUPERSEDED,) * 5,
}
# fmt: on

# Statuses no executor ever moves again (DESIGN §4; failed/partially_failed can be resumed).
FINISHED = (S.COMPLETED, S.ROLLED_BACK, S.CANCELLED, S.SUPERSEDED)


def test_expected_table_covers_every_status_and_control() -> None:
    assert set(EXPECTED) == set(itertools.product(ReleaseStatus, Control))
    assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())


def test_counter_cases_are_what_their_names_say() -> None:
    c = COUNTER_CASES
    assert c["none_acted"].ready + c["none_acted"].failed + c["none_acted"].removed == 0
    assert c["some_ready"].ready > 0 and c["some_ready"].left > 0
    assert c["all_acted"].left == 0
    assert c["failed_left"].failed > 0 and c["failed_left"].left > 0
    assert c["only_removals"].removed > 0 and c["only_removals"].ready == c["only_removals"].left == 0


@pytest.mark.parametrize(
    ("status", "control", "case", "expected"),
    [
        (status, control, case, expected)
        for (status, control), row in EXPECTED.items()
        for case, expected in zip(COLUMNS, row, strict=True)
    ],
    ids=lambda v: v.value if hasattr(v, "value") else None,
)
def test_derived_rollout_state(status: S, control: C, case: str, expected: R) -> None:
    assert derive_rollout_state(status, control, COUNTER_CASES[case]) is expected


def test_in_progress_with_a_rolled_back_target_counts_it_as_acted_on() -> None:
    counters = Counters(total=2, rolled_back=1, pending=1)
    assert derive_rollout_state(S.IN_PROGRESS, C.ACTIVE, counters) is R.ROLLING


def test_in_progress_with_only_failures_and_nothing_left_is_verifying() -> None:
    counters = Counters(total=2, failed=2)
    assert derive_rollout_state(S.IN_PROGRESS, C.ACTIVE, counters) is R.VERIFYING


counters_st = st.builds(
    Counters,
    total=st.integers(min_value=0, max_value=10_000),
    pending=st.integers(min_value=0, max_value=10_000),
    starting=st.integers(min_value=0, max_value=10_000),
    ready=st.integers(min_value=0, max_value=10_000),
    failed=st.integers(min_value=0, max_value=10_000),
    rolled_back=st.integers(min_value=0, max_value=10_000),
    unchanged=st.integers(min_value=0, max_value=10_000),
    removed=st.integers(min_value=0, max_value=10_000),
)


@given(st.sampled_from(ReleaseStatus), st.sampled_from(Control), counters_st)
def test_derivation_is_total_and_finished_releases_never_look_busy(
    status: S, control: C, counters: Counters
) -> None:
    state = derive_rollout_state(status, control, counters)
    assert isinstance(state, RolloutState)
    if status in FINISHED or status.terminal:
        assert state not in (R.ROLLING, R.STARTING, R.VERIFYING)
    if status is not S.IN_PROGRESS:
        # only an in-progress release looks at its counters
        assert state is derive_rollout_state(status, control, Counters())


# --- release transitions ---------------------------------------------------------------------

LEGAL_RELEASE: dict[ReleaseStatus, set[ReleaseStatus]] = {
    S.PENDING: {S.IN_PROGRESS, S.SUPERSEDED, S.CANCELLED, S.FAILED},
    S.IN_PROGRESS: {S.COMPLETED, S.PARTIALLY_FAILED, S.FAILED, S.ROLLED_BACK, S.CANCELLED, S.SUPERSEDED},
    S.PARTIALLY_FAILED: {S.IN_PROGRESS, S.SUPERSEDED, S.CANCELLED},
    S.FAILED: {S.IN_PROGRESS, S.SUPERSEDED, S.CANCELLED},
    S.COMPLETED: set(),
    S.ROLLED_BACK: set(),
    S.CANCELLED: set(),
    S.SUPERSEDED: set(),
}


def test_release_transition_table_is_the_spec() -> None:
    assert set(LEGAL_RELEASE) == set(ReleaseStatus)
    assert {(old, new) for old, news in LEGAL_RELEASE.items() for new in news} == RELEASE_TRANSITIONS


@pytest.mark.parametrize(("old", "new"), list(itertools.product(ReleaseStatus, ReleaseStatus)))
def test_every_release_status_pair(old: S, new: S) -> None:
    if old == new or new in LEGAL_RELEASE[old]:
        check_release_transition(old, new)
    else:
        with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
            check_release_transition(old, new)


def test_illegal_transition_is_a_value_error() -> None:
    assert issubclass(IllegalTransition, ValueError)


@pytest.mark.parametrize("status", list(ReleaseStatus))
def test_same_release_status_is_allowed(status: S) -> None:
    check_release_transition(status, status)


@pytest.mark.parametrize("status", FINISHED)
def test_finished_release_has_no_way_out(status: S) -> None:
    assert not [pair for pair in RELEASE_TRANSITIONS if pair[0] is status]
    for new in ReleaseStatus:
        if new is not status:
            with pytest.raises(IllegalTransition):
                check_release_transition(status, new)


@pytest.mark.parametrize("status", [S.FAILED, S.PARTIALLY_FAILED])
def test_failed_release_resumes_back_in_progress(status: S) -> None:
    check_release_transition(status, S.IN_PROGRESS)
    check_release_transition(status, S.SUPERSEDED)
    check_release_transition(status, S.CANCELLED)
    with pytest.raises(IllegalTransition):
        check_release_transition(status, S.COMPLETED)


def test_nothing_returns_to_pending() -> None:
    assert not [pair for pair in RELEASE_TRANSITIONS if pair[1] is S.PENDING]


def test_rolled_back_only_from_in_progress() -> None:
    assert {old for old, new in RELEASE_TRANSITIONS if new is S.ROLLED_BACK} == {S.IN_PROGRESS}


def test_every_status_is_reachable_from_pending() -> None:
    seen = {S.PENDING}
    frontier = [S.PENDING]
    while frontier:
        old = frontier.pop()
        for a, b in RELEASE_TRANSITIONS:
            if a is old and b not in seen:
                seen.add(b)
                frontier.append(b)
    assert seen == set(ReleaseStatus)


def test_finished_statuses_are_terminal() -> None:
    assert all(status.terminal for status in FINISHED)
    assert not S.PENDING.terminal
    assert not S.IN_PROGRESS.terminal
    assert not S.PARTIALLY_FAILED.terminal


def test_terminal_means_no_outgoing_transition() -> None:
    for status in ReleaseStatus:
        has_exit = any(old is status for old, _ in RELEASE_TRANSITIONS)
        assert status.terminal is not has_exit, status


# --- target transitions ----------------------------------------------------------------------

LEGAL_TARGET: dict[TargetState, set[TargetState]] = {
    T.PENDING: {T.STARTING, T.SKIPPED, T.REMOVED, T.FAILED},
    T.STARTING: {T.READY, T.FAILED, T.PENDING},
    T.READY: {T.ROLLED_BACK, T.FAILED},  # only while rolling back
    T.FAILED: {T.PENDING, T.STARTING, T.ROLLED_BACK},
    T.ROLLED_BACK: set(),
    T.SKIPPED: set(),
    T.REMOVED: set(),
}


def test_target_transition_table_is_the_spec() -> None:
    assert set(LEGAL_TARGET) == set(TargetState)
    assert {(old, new) for old, news in LEGAL_TARGET.items() for new in news} == TARGET_TRANSITIONS


@pytest.mark.parametrize(("old", "new"), list(itertools.product(TargetState, TargetState)))
def test_every_target_state_pair(old: T, new: T) -> None:
    if old == new or new in LEGAL_TARGET[old]:
        check_target_transition(old, new)
    else:
        with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
            check_target_transition(old, new)


def test_terminal_targets() -> None:
    assert {s for s in TargetState if s.terminal} == {T.READY, T.SKIPPED, T.REMOVED, T.ROLLED_BACK}


@pytest.mark.parametrize("state", [s for s in TargetState if s.terminal])
def test_terminal_target_is_never_replayed(state: T) -> None:
    """A terminal target never goes back to the queue or starts again (recovery skips it)."""
    for new in (T.PENDING, T.STARTING):
        with pytest.raises(IllegalTransition):
            check_target_transition(state, new)


@pytest.mark.parametrize("state", [T.ROLLED_BACK, T.SKIPPED, T.REMOVED])
def test_rolled_back_skipped_and_removed_targets_are_final(state: T) -> None:
    assert not [pair for pair in TARGET_TRANSITIONS if pair[0] is state]


def test_failed_target_is_retried_on_resume() -> None:
    check_target_transition(T.FAILED, T.PENDING)
    check_target_transition(T.FAILED, T.STARTING)


def test_interrupted_start_goes_back_to_the_queue() -> None:
    check_target_transition(T.STARTING, T.PENDING)


# --- counters --------------------------------------------------------------------------------


def test_counters_of_nothing() -> None:
    assert Counters.of([]) == Counters()
    assert Counters().left == 0


def test_counters_of_states() -> None:
    states = [T.PENDING, T.PENDING, T.STARTING, T.READY, T.READY, T.READY, T.FAILED]
    states += [T.ROLLED_BACK, T.SKIPPED, T.SKIPPED, T.REMOVED]
    assert Counters.of(states) == Counters(
        total=11, pending=2, starting=1, ready=3, failed=1, rolled_back=1, unchanged=2, removed=1
    )


def test_counters_of_accepts_any_iterable() -> None:
    assert Counters.of(s for s in [T.READY, T.PENDING]) == Counters(total=2, ready=1, pending=1)


def test_left_is_pending_plus_starting() -> None:
    assert Counters(pending=2, starting=3, ready=7, failed=1).left == 5
    assert Counters.of([T.READY, T.FAILED, T.SKIPPED, T.REMOVED, T.ROLLED_BACK]).left == 0


@given(st.lists(st.sampled_from(TargetState), max_size=60))
def test_counters_add_up_to_total(states: list[T]) -> None:
    c = Counters.of(states)
    assert c.total == len(states)
    assert c.pending + c.starting + c.ready + c.failed + c.rolled_back + c.unchanged + c.removed == c.total
    assert c.left == sum(1 for s in states if s in (T.PENDING, T.STARTING))


# --- default messages ------------------------------------------------------------------------

APPLY_MESSAGES = {
    S.PENDING: "apply pending",
    S.IN_PROGRESS: "apply in progress",
    S.COMPLETED: "apply completed",
    S.PARTIALLY_FAILED: "apply partially failed",
    S.FAILED: "apply failed",
    S.ROLLED_BACK: "apply rolled back",
    S.CANCELLED: "apply cancelled",
    S.SUPERSEDED: "apply superseded",
}


def test_apply_messages_cover_every_status() -> None:
    assert set(APPLY_MESSAGES) == set(ReleaseStatus)


@pytest.mark.parametrize(("status", "message"), APPLY_MESSAGES.items())
def test_apply_message(status: S, message: str) -> None:
    assert default_message(status, Trigger.APPLY) == message


def test_apply_message_ignores_a_source_release() -> None:
    assert default_message(S.COMPLETED, Trigger.APPLY, "abc123") == "apply completed"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (S.PENDING, "rollback to abc123 pending"),
        (S.IN_PROGRESS, "rollback to abc123 in progress"),
        (S.COMPLETED, "rollback to abc123 completed"),
        (S.PARTIALLY_FAILED, "rollback to abc123 partially failed"),
        (S.FAILED, "rollback to abc123 failed"),
        (S.ROLLED_BACK, "rollback to abc123 rolled back"),
        (S.CANCELLED, "rollback to abc123 cancelled"),
        (S.SUPERSEDED, "rollback to abc123 superseded"),
    ],
)
def test_rollback_message_names_the_source(status: S, message: str) -> None:
    assert default_message(status, Trigger.ROLLBACK, "abc123") == message


@pytest.mark.parametrize("source", [None, ""])
def test_rollback_message_without_a_source(source: str | None) -> None:
    assert default_message(S.COMPLETED, Trigger.ROLLBACK, source) == "rollback completed"
    assert default_message(S.IN_PROGRESS, Trigger.ROLLBACK, source) == "rollback in progress"
