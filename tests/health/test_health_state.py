"""The per-instance health state machine, fed hand-made results (no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mooring.health import HealthState, InstanceHealth, ProbeResult, Transition

STARTING, HEALTHY, UNHEALTHY = HealthState.STARTING, HealthState.HEALTHY, HealthState.UNHEALTHY
T0 = 1000.0  # registration time


def result(ok: bool, at: float = 0.0) -> ProbeResult:
    return ProbeResult(ok=ok, detail="HTTP 200" if ok else "HTTP 503", latency_ms=1.0, at=at)


def feed(
    health: InstanceHealth, events: list[tuple[bool, float]]
) -> tuple[list[HealthState], list[Transition]]:
    """Observe every (ok, seconds after registration) event; the states after each and the transitions."""
    states, transitions = [], []
    for ok, offset in events:
        transition = health.observe(result(ok, T0 + offset), T0 + offset)
        if transition is not None:
            transitions.append(transition)
        states.append(health.state)
    return states, transitions


def events_from(pattern: str) -> list[tuple[bool, float]]:
    """``"sff"`` -> success at 0 s, failures at 1 s and 2 s."""
    return [(char == "s", float(i)) for i, char in enumerate(pattern)]


S, H, U = STARTING, HEALTHY, UNHEALTHY

TABLE = [
    # name, retries, start_period, pattern, states after each probe
    ("first success makes it healthy", 3, 0, "s", [H]),
    ("failures below retries keep it starting", 3, 0, "ff", [S, S]),
    ("retries failures while starting make it unhealthy", 3, 0, "fff", [S, S, U]),
    ("retries consecutive failures make a healthy one unhealthy", 3, 0, "sfff", [H, H, H, U]),
    ("a success resets the failure count", 3, 0, "sffsff", [H] * 6),
    ("one success recovers an unhealthy one", 3, 0, "sfffs", [H, H, H, U, H]),
    ("further failures keep it unhealthy", 3, 0, "sfffff", [H, H, H, U, U, U]),
    ("retries=1 fails on the first counted failure", 1, 0, "sfsf", [H, U, H, U]),
    ("failures inside the start period do not count", 1, 3, "ffff", [S, S, S, U]),
    ("a failure exactly at the end of the start period counts", 2, 2, "ffff", [S, S, S, U]),
    ("the first success ends the start period early", 2, 100, "sff", [H, H, U]),
    ("flapping never reaches retries", 2, 0, "fsfsfsf", [S, H, H, H, H, H, H]),
]


@pytest.mark.parametrize(
    ("name", "retries", "start_period", "pattern", "expected"), TABLE, ids=[r[0] for r in TABLE]
)
def test_transition_table(
    name: str, retries: int, start_period: float, pattern: str, expected: list[HealthState]
) -> None:
    health = InstanceHealth(retries=retries, start_period=start_period, registered_at=T0)
    states, transitions = feed(health, events_from(pattern))
    assert states == expected
    # Exactly one transition per change of state, each naming where it came from and went.
    changes = [(a, b) for a, b in zip([STARTING, *states], states, strict=False) if a != b]
    assert [(t.previous, t.current) for t in transitions] == changes


def test_a_new_instance_is_starting_since_registration() -> None:
    status = InstanceHealth(retries=3, start_period=0, registered_at=T0).status()
    assert (status.state, status.since, status.probes_run) == (STARTING, T0, 0)
    assert status.last_result is None and status.last_failure is None


def test_status_keeps_last_result_last_failure_and_counters() -> None:
    health = InstanceHealth(retries=3, start_period=0, registered_at=T0)
    feed(health, events_from("sffs"))
    status = health.status()
    assert status.state is HEALTHY and status.since == T0  # never left healthy after the first probe
    assert status.last_result is not None and status.last_result.ok and status.last_result.at == T0 + 3
    assert status.last_failure is not None and status.last_failure.at == T0 + 2
    assert (status.consecutive_failures, status.consecutive_successes, status.probes_run) == (0, 1, 4)


def test_uncounted_failures_are_remembered_but_not_counted() -> None:
    health = InstanceHealth(retries=2, start_period=10, registered_at=T0)
    feed(health, [(False, 1.0), (False, 2.0)])
    status = health.status()
    assert status.state is STARTING and status.consecutive_failures == 0
    assert status.last_failure is not None and status.last_failure.at == T0 + 2


def test_transitions_say_why() -> None:
    health = InstanceHealth(retries=2, start_period=0, registered_at=T0)
    _, transitions = feed(health, events_from("sffs"))
    assert [t.reason for t in transitions] == [
        "passed: HTTP 200",
        "2 consecutive failures, last: HTTP 503",
        "recovered: HTTP 200",
    ]
    assert transitions[1].at == T0 + 2 and transitions[1].result.detail == "HTTP 503"
    assert transitions[1].to_dict()["current"] == "unhealthy"
    assert health.status().since == T0 + 3


# --- properties -------------------------------------------------------------------------------


def expected_state(events: list[tuple[bool, float]], retries: int, start_period: float) -> HealthState:
    """An independent statement of the rules, over the whole sequence at once."""
    ever_ok, counted_run = False, 0
    for ok, offset in events:
        if ok:
            ever_ok, counted_run = True, 0
        elif ever_ok or offset >= start_period:
            counted_run += 1
    if counted_run >= retries:
        return UNHEALTHY
    return HEALTHY if ever_ok else STARTING


def trailing_counted_failures(events: list[tuple[bool, float]], start_period: float) -> int:
    ever_ok, run = False, 0
    for ok, offset in events:
        if ok:
            ever_ok, run = True, 0
        elif ever_ok or offset >= start_period:
            run += 1
    return run


sequences = st.lists(
    st.tuples(st.booleans(), st.floats(min_value=0, max_value=3, allow_nan=False)), max_size=40
).map(lambda steps: [(ok, sum(dt for _, dt in steps[: i + 1])) for i, (ok, _) in enumerate(steps)])


@settings(max_examples=300, deadline=None)
@given(
    retries=st.integers(min_value=1, max_value=5),
    start_period=st.sampled_from([0.0, 0.5, 2.0, 10.0]),
    events=sequences,
)
def test_state_is_a_pure_function_of_the_result_sequence(
    retries: int, start_period: float, events: list[tuple[bool, float]]
) -> None:
    health = InstanceHealth(retries=retries, start_period=start_period, registered_at=T0)
    previous, since = STARTING, T0
    for i, (ok, offset) in enumerate(events):
        transition = health.observe(result(ok, T0 + offset), T0 + offset)
        prefix = events[: i + 1]
        # The state after each probe is exactly what the rules say for the sequence so far.
        assert health.state is expected_state(prefix, retries, start_period)
        # A transition is reported iff the state changed, and it describes that change.
        if health.state is previous:
            assert transition is None
        else:
            assert transition is not None
            assert (transition.previous, transition.current, transition.at) == (
                previous,
                health.state,
                T0 + offset,
            )
            since = T0 + offset
        # Unhealthy is entered exactly when the run of counted failures reaches `retries`.
        entered_unhealthy = previous is not UNHEALTHY and health.state is UNHEALTHY
        assert entered_unhealthy == (not ok and trailing_counted_failures(prefix, start_period) == retries)
        status = health.status()
        assert status.since == since and status.probes_run == i + 1
        assert status.consecutive_failures == trailing_counted_failures(prefix, start_period)
        previous = health.state

    # Replaying the same sequence into a fresh machine gives the same snapshot.
    replay = InstanceHealth(retries=retries, start_period=start_period, registered_at=T0)
    feed(replay, events)
    assert replay.status() == health.status()


@settings(max_examples=200, deadline=None)
@given(events=sequences, retries=st.integers(min_value=1, max_value=4))
def test_healthy_iff_some_success_and_fewer_than_retries_failures_since_the_last(
    events: list[tuple[bool, float]], retries: int
) -> None:
    health = InstanceHealth(retries=retries, start_period=0, registered_at=T0)
    feed(health, events)
    any_success = any(ok for ok, _ in events)
    failures_since_success = len(events) - max((i + 1 for i, (ok, _) in enumerate(events) if ok), default=0)
    assert health.status().consecutive_failures == failures_since_success
    assert (health.state is HEALTHY) == (any_success and failures_since_success < retries)
    assert (health.state is UNHEALTHY) == (failures_since_success >= retries)
