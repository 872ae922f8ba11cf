"""Pure parts of the runtime: spec validation, the state table, restart decisions, exit reading."""

from __future__ import annotations

import json
import operator
import signal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runtime_testkit import make_spec

from mooring.runtime import (
    BackoffPolicy,
    ExitReason,
    ExitStatus,
    InstanceRecord,
    InstanceState,
    InvalidSpec,
    Resources,
)
from mooring.runtime.exits import classify_exit
from mooring.runtime.policy import AfterRun, decide_after_run, wants_restart
from mooring.runtime.process import ProcessEnd
from mooring.runtime.spec import InstanceSpec, RestartPolicy
from mooring.runtime.states import LEGAL_TRANSITIONS, RESTING_STATES

S = InstanceState
R = ExitReason
CRASH = ExitStatus(R.CRASHED, 1)
CLEAN = ExitStatus(R.CLEAN_EXIT, 0)
START_FAILED = ExitStatus(R.START_FAILED, detail="command not found: x")


def decide(
    policy: RestartPolicy,
    status: ExitStatus,
    *,
    failures: int = 0,
    streak: int = 0,
    ran_for: float | None = 1.0,
) -> AfterRun:
    return decide_after_run(
        policy=policy,
        max_restarts=3,
        exit_status=status,
        ran_for=ran_for,
        restart_streak=streak,
        consecutive_failures=failures,
        backoff=BackoffPolicy(base=1, cap=30, reset_after=10),
    )


def test_spec_round_trips_through_json(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path, ["web", "--port", "8080"], resources=Resources(cpu=0.5, memory=64 << 20, pids=10)
    )
    again = InstanceSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec


def test_spec_env_is_a_private_read_only_copy(tmp_path: Path) -> None:
    env = {"A": "1"}
    spec = make_spec(tmp_path, ["true"], env=env)
    env["A"] = "2"
    assert spec.env["A"] == "1"
    with pytest.raises(TypeError):
        operator.setitem(spec.env, "B", "3")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instance_id": "../etc"}, "cannot be used as a file or cgroup name"),
        ({"app": ".hidden"}, "cannot be used as a file or cgroup name"),
        ({"command": ("",)}, "command is empty"),
        ({"restart": "sometimes"}, "restart must be one of no, always, on-failure"),
        ({"max_restarts": -1}, "max_restarts must be >= 0"),
        ({"stop_signal": 999}, "stop_signal 999 is not a signal number"),
        ({"stop_timeout": -1.0}, "stop_timeout must be >= 0"),
    ],
)
def test_invalid_specs_are_refused_with_a_reason(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSpec, match=message):
        make_spec(tmp_path, overrides.pop("command", ["true"]), **overrides)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"cpu": 0}, "positive number of cores"),
        ({"memory": 1000}, "at least 1 MiB"),
        ({"pids": 0}, "at least 1"),
    ],
)
def test_invalid_resources_are_refused(resources: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        Resources(**resources)


def test_every_state_can_be_left_and_resting_states_are_reachable() -> None:
    sources = {a for a, _ in LEGAL_TRANSITIONS}
    targets = {b for _, b in LEGAL_TRANSITIONS}
    assert sources == set(S) and targets == set(S)
    for resting in RESTING_STATES:
        assert (resting, S.STARTING) in LEGAL_TRANSITIONS
    assert (S.STOPPED, S.RUNNING) not in LEGAL_TRANSITIONS  # a start always goes through `starting`
    assert (S.BACKOFF, S.STOPPED) in LEGAL_TRANSITIONS  # stop during backoff cancels the restart


def test_backoff_doubles_from_base_up_to_the_cap() -> None:
    policy = BackoffPolicy(base=1, cap=30, reset_after=10)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30


@given(st.floats(0.001, 10), st.floats(1, 100), st.integers(1, 200))
def test_backoff_never_exceeds_the_cap_and_never_shrinks(base: float, cap: float, streak: int) -> None:
    policy = BackoffPolicy(base=min(base, cap), cap=cap)
    assert policy.delay(streak) <= cap
    assert policy.delay(streak) <= policy.delay(streak + 1)


@pytest.mark.parametrize(
    ("policy", "status", "restart"),
    [
        ("no", CRASH, False),
        ("no", CLEAN, False),
        ("always", CLEAN, True),
        ("always", CRASH, True),
        ("on-failure", CLEAN, False),
        ("on-failure", CRASH, True),
        ("on-failure", ExitStatus(R.KILLED, signal=signal.SIGTERM), True),
        ("on-failure", ExitStatus(R.OOM_KILLED, signal=signal.SIGKILL), True),
        ("on-failure", ExitStatus(R.EXIT_UNKNOWN), True),
        ("always", ExitStatus(R.STOPPED, signal=signal.SIGTERM), False),
    ],
)
def test_restart_policy(policy: RestartPolicy, status: ExitStatus, restart: bool) -> None:
    assert wants_restart(policy, status) is restart


def test_consecutive_failures_past_max_restarts_give_up() -> None:
    assert decide("on-failure", CRASH, failures=2).next_state is S.BACKOFF
    gave_up = decide("on-failure", CRASH, failures=3)
    assert gave_up.next_state is S.FAILED and gave_up.consecutive_failures == 4


def test_a_long_run_resets_the_streak_and_the_failure_count() -> None:
    after_long_run = decide("on-failure", CRASH, failures=3, streak=5, ran_for=60)
    assert after_long_run.next_state is S.BACKOFF
    assert after_long_run.delay == 1 and after_long_run.consecutive_failures == 1


def test_clean_exits_under_always_back_off_but_never_give_up() -> None:
    decision = decide("always", CLEAN, failures=0, streak=6)
    assert decision.next_state is S.BACKOFF and decision.delay == 30 and decision.consecutive_failures == 0


def test_start_failure_without_restart_is_failed_but_a_crash_is_exited() -> None:
    assert decide("no", START_FAILED, ran_for=None).next_state is S.FAILED
    assert decide("no", CRASH).next_state is S.EXITED


def test_exit_classification() -> None:
    def read(end: ProcessEnd | None, *, stopping: bool = False, oom: bool = False) -> ExitStatus:
        return classify_exit(
            end, stopping=stopping, how="SIGTERM", oom_fired=oom, executable="/bin/x", memory_limit=50
        )

    assert read(ProcessEnd(0)).reason is R.CLEAN_EXIT
    assert read(ProcessEnd(2)) == ExitStatus(R.CRASHED, 2)
    assert read(ProcessEnd(-signal.SIGSEGV)).reason is R.KILLED
    assert read(ProcessEnd(-signal.SIGKILL), oom=True).reason is R.OOM_KILLED
    assert read(ProcessEnd(-signal.SIGKILL)).reason is R.KILLED
    assert read(ProcessEnd(1), oom=True).detail == "the cgroup's OOM killer fired during this run"
    assert read(ProcessEnd(-signal.SIGTERM), stopping=True) == ExitStatus(
        R.STOPPED, None, signal.SIGTERM, "SIGTERM"
    )
    assert read(ProcessEnd(127, exec_failed=True)).reason is R.START_FAILED
    assert read(ProcessEnd(None)).reason is R.EXIT_UNKNOWN


def test_exit_messages_read_well() -> None:
    assert ExitStatus(R.CRASHED, 3).describe() == "exited with code 3"
    assert ExitStatus(R.KILLED, signal=signal.SIGSEGV).describe() == "killed by SIGSEGV"
    assert "OOM killer" in ExitStatus(R.OOM_KILLED, signal=9, detail="memory limit 50 bytes").describe()
    assert (
        ExitStatus(R.STOPPED, signal=15, detail="SIGTERM").describe()
        == "stopped by mooring (SIGTERM): killed by SIGTERM"
    )
    assert (
        ExitStatus(R.START_FAILED, detail="command not found: x").describe()
        == "failed to start: command not found: x"
    )
    assert "exit code unknown" in ExitStatus(R.EXIT_UNKNOWN).describe()


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, ["true"])
    record = InstanceRecord.new(spec, "/l/web-1.log", "/l/web-1.stdout.fifo", "/l/web-1.stderr.fifo")
    record = InstanceRecord.from_dict(
        {**record.to_dict(), "last_exit_reason": "crashed", "cgroup_paths": ["/x"]}
    )
    data = json.loads(json.dumps(record.to_dict()))
    assert InstanceRecord.from_dict({**data, "added_by_a_newer_engine": 1}) == record
    assert record.instance_spec == spec
    assert record.last_exit is not None and record.last_exit.reason is R.CRASHED
