"""The release contract (DESIGN §4) driven through the executor with in-memory ports: every final status,
pause, resume and cancel at each point, rollback and its failure, supersede, and resuming after a crash
from the journal. No process, no store: the whole file runs in well under a second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from mooring.release.fakes import Crash, FakeJournal, FakeRelease, ServiceScript
from mooring.release.model import Control, IllegalTransition, Reason, ReleaseStatus, TargetState
from mooring.release.transitions import move_release
from tests.release.executor_kit import Bench, service, snapshot

T = TypeVar("T")


def go(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(asyncio.wait_for(main(), 10))


async def until(check: Callable[[], bool], what: str) -> None:
    """Let the executor run until ``check`` holds (a deadline, never a fixed sleep)."""
    for _ in range(10_000):
        if check():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


def starts_of(bench: Bench, slot: str) -> int:
    return sum(1 for what, iid in bench.runtime.calls if what == "start" and iid.startswith(slot + "-"))


# --- final statuses ---------------------------------------------------------------------------


def test_fresh_apply_completes_every_target_dependencies_first() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(db=service(), web=service(replicas=2, depends_on=("db",))))

    assert go(lambda: bench.run(r1)) is ReleaseStatus.COMPLETED
    assert bench.states(r1) == {"db-1": "ready", "web-1": "ready", "web-2": "ready"}
    started = [iid for what, iid in bench.runtime.calls if what == "start"]
    assert started[0].startswith("db-1-")
    release = bench.release(r1)
    assert (release.targets_total, release.targets_ready, release.targets_pending) == (3, 3, 0)
    assert release.message == "apply completed" and release.finished_at is not None
    events = bench.events(r1)
    assert events[0] == "release.started" and events[-1] == "release.completed"
    assert sorted(bench.runtime.served) == sorted(bench.runtime.instances)


def test_an_unchanged_service_is_skipped_and_never_restarted() -> None:
    bench = Bench()
    snap = snapshot(web=service(replicas=2))
    go(lambda: bench.run(bench.apply(snap)))
    calls = len(bench.runtime.calls)
    r2 = bench.apply(snap)

    assert go(lambda: bench.run(r2)) is ReleaseStatus.COMPLETED
    assert bench.states(r2) == {"web-1": "skipped", "web-2": "skipped"}
    assert len(bench.runtime.calls) == calls


def test_partial_failure_within_the_budget_completes_partially_failed() -> None:
    bench = Bench()
    bench.runtime.scripts["web"] = ServiceScript(not_ready=Reason.READINESS_TIMEOUT, replicas=(2,))
    r1 = bench.apply(snapshot(web=service(replicas=2, parallelism=2, max_failure_ratio=0.5)))

    assert go(lambda: bench.run(r1)) is ReleaseStatus.PARTIALLY_FAILED
    assert bench.states(r1) == {"web-1": "ready", "web-2": "failed"}
    assert bench.reasons(r1)["web-2"] == "readiness_timeout"
    release = bench.release(r1)
    assert release.control == "active"
    assert release.message == "apply partially failed (1 failed within max_failure_ratio)"


def test_a_failing_first_batch_pauses_the_release_failed() -> None:
    bench = Bench()
    bench.runtime.scripts["web"] = ServiceScript(start_error="exec: serve: not found")
    r1 = bench.apply(snapshot(web=service(replicas=2)))

    assert go(lambda: bench.run(r1)) is ReleaseStatus.FAILED
    release = bench.release(r1)
    assert release.control == "paused"
    assert release.failure == {
        "batch": 1,
        "service": "web",
        "targets": [{"target": "web-1", "reason": "start_failed"}],
    }
    assert bench.states(r1) == {"web-1": "failed", "web-2": "pending"}
    assert bench.runtime.instances == {}  # the failed instance was stopped
    assert bench.events(r1)[-1] == "release.paused"


def test_a_failure_after_a_cut_over_pauses_partially_failed_with_the_old_version_serving() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=2)))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=2)))
    bench.runtime.scripts["web"] = ServiceScript(
        by_release={r2: ServiceScript(start_error="boom", replicas=(2,))}
    )

    assert go(lambda: bench.run(r2)) is ReleaseStatus.PARTIALLY_FAILED
    assert bench.release(r2).control == "paused"
    assert bench.versions() == {"web-1": r2, "web-2": "r1"}


def test_resume_retries_the_failed_targets_and_completes() -> None:
    bench = Bench()
    bench.runtime.scripts["web"] = ServiceScript(start_error="boom", replicas=(2,))
    r1 = bench.apply(snapshot(web=service(replicas=2)))
    assert go(lambda: bench.run(r1)) is ReleaseStatus.PARTIALLY_FAILED

    bench.runtime.scripts.clear()  # the operator fixed what failed
    bench.resume(r1)
    assert go(lambda: bench.run(r1)) is ReleaseStatus.COMPLETED
    assert bench.states(r1) == {"web-1": "ready", "web-2": "ready"}
    assert "release.resumed" in bench.events(r1)
    assert starts_of(bench, "web-1") == 1  # a ready target is never replayed


def test_rollback_puts_the_previous_version_back() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=2)))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=2, failure_action="rollback")))
    bench.runtime.scripts["web"] = ServiceScript(
        by_release={r2: ServiceScript(not_ready=Reason.READINESS_FAILED, replicas=(2,))}
    )

    assert go(lambda: bench.run(r2)) is ReleaseStatus.ROLLED_BACK
    assert bench.versions() == {"web-1": "r1", "web-2": "r1"}
    assert bench.states(r2) == {"web-1": "rolled_back", "web-2": "rolled_back"}
    assert set(bench.reasons(r2).values()) == {"rolled_back_after_failure"}
    # the message says what was put back, so it adds up with the (empty) ready and failed counts
    assert bench.release(r2).message == (
        "apply rolled back: batch 2 of web failed; rolled back 2 target(s) (web-1, web-2)"
    )
    events = bench.events(r2)
    assert events.index("release.rolling_back") < events.index("release.rolled_back")


def test_a_failed_rollback_fails_the_release_for_good() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=2)))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=2, failure_action="rollback")))
    bench.runtime.scripts["web"] = ServiceScript(
        by_release={
            r2: ServiceScript(not_ready=Reason.READINESS_FAILED, replicas=(2,)),
            "r1": ServiceScript(start_error="image gone"),  # the previous version cannot come back
        }
    )

    assert go(lambda: bench.run(r2)) is ReleaseStatus.FAILED
    release = bench.release(r2)
    assert release.failure == {"reason": "rollback_failed", "after": "batch 2 of web failed"}
    assert bench.reasons(r2)["web-1"] == "rollback_failed"
    calls = len(bench.runtime.calls)
    assert go(lambda: bench.run(r2)) is ReleaseStatus.FAILED  # final: never resumed or rolled back again
    assert len(bench.runtime.calls) == calls


def test_a_rollback_release_says_what_it_restores() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service("v1")))
    go(lambda: bench.run(r1))
    go(lambda: bench.run(bench.apply(snapshot(web=service("v2")))))
    r3 = bench.apply(snapshot(web=service("v1")), trigger="rollback", source_release_id=r1)

    assert go(lambda: bench.run(r3)) is ReleaseStatus.COMPLETED
    assert bench.release(r3).message == f"rollback to {r1} completed"


# --- cancel -----------------------------------------------------------------------------------


def test_cancel_before_the_release_starts_touches_nothing() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service(replicas=2)))
    bench.control(r1, Control.CANCEL_REQUESTED)

    assert go(lambda: bench.run(r1)) is ReleaseStatus.CANCELLED
    assert bench.runtime.calls == []
    assert set(bench.reasons(r1).values()) == {"cancelled_by_operator"}


def test_cancel_while_a_gate_waits_stops_the_new_instance() -> None:
    async def main() -> None:
        bench = Bench()
        bench.runtime.scripts["web"] = ServiceScript(hold=True)
        r1 = bench.apply(snapshot(web=service()))
        run = asyncio.create_task(bench.run(r1))
        await bench.runtime.gates_waiting.wait()
        bench.control(r1, Control.CANCEL_REQUESTED)

        assert await run is ReleaseStatus.CANCELLED
        assert bench.runtime.instances == {}
        assert bench.states(r1) == {"web-1": "pending"}
        assert bench.reasons(r1) == {"web-1": "cancelled_by_operator"}
        assert "target.interrupted" in bench.events(r1)

    go(main)


def test_cancel_after_a_cut_over_keeps_mixed_versions_under_the_pause_policy() -> None:
    async def main() -> None:
        bench = Bench()
        await bench.run(bench.apply(snapshot(web=service("v1", replicas=2))))
        r2 = bench.apply(snapshot(web=service("v2", replicas=2)))
        bench.runtime.scripts["web"] = ServiceScript(by_release={r2: ServiceScript(hold=True, replicas=(2,))})
        run = asyncio.create_task(bench.run(r2))
        await bench.runtime.gates_waiting.wait()
        bench.control(r2, Control.CANCEL_REQUESTED)

        assert await run is ReleaseStatus.CANCELLED
        assert bench.versions() == {"web-1": r2, "web-2": "r1"}
        assert "1 targets run the new version" in bench.release(r2).message

    go(main)


def test_cancel_after_a_cut_over_restores_the_previous_version_under_the_rollback_policy() -> None:
    async def main() -> None:
        bench = Bench()
        await bench.run(bench.apply(snapshot(web=service("v1", replicas=2))))
        r2 = bench.apply(snapshot(web=service("v2", replicas=2, failure_action="rollback")))
        bench.runtime.scripts["web"] = ServiceScript(by_release={r2: ServiceScript(hold=True, replicas=(2,))})
        run = asyncio.create_task(bench.run(r2))
        await bench.runtime.gates_waiting.wait()
        bench.control(r2, Control.CANCEL_REQUESTED)

        assert await run is ReleaseStatus.CANCELLED
        assert bench.versions() == {"web-1": "r1", "web-2": "r1"}
        assert bench.states(r2)["web-1"] == "rolled_back"

    go(main)


# --- pause and resume -------------------------------------------------------------------------


def test_a_release_paused_before_it_starts_waits_untouched() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service()))
    bench.control(r1, Control.PAUSED)

    assert go(lambda: bench.run(r1)) is ReleaseStatus.PENDING
    assert bench.runtime.calls == [] and bench.events(r1) == []


def test_pause_while_a_gate_waits_then_resume_completes() -> None:
    async def main() -> None:
        bench = Bench()
        bench.runtime.scripts["web"] = ServiceScript(hold=True)
        r1 = bench.apply(snapshot(web=service()))
        run = asyncio.create_task(bench.run(r1))
        await bench.runtime.gates_waiting.wait()
        bench.control(r1, Control.PAUSED)

        assert await run is ReleaseStatus.IN_PROGRESS
        assert bench.states(r1) == {"web-1": "pending"} and bench.runtime.instances == {}
        assert bench.events(r1)[-1] == "release.paused"

        bench.runtime.scripts.clear()
        bench.resume(r1)
        assert await bench.run(r1) is ReleaseStatus.COMPLETED
        assert bench.states(r1) == {"web-1": "ready"}

    go(main)


def test_pause_during_the_delay_between_batches_stops_before_the_next_batch() -> None:
    async def main() -> None:
        bench = Bench()
        r1 = bench.apply(snapshot(web=service(replicas=2, delay_between_batches="1h")))
        run = asyncio.create_task(bench.run(r1))
        await until(lambda: bench.events(r1).count("batch.completed") == 1, "the first batch ended")
        bench.control(r1, Control.PAUSED)

        assert await run is ReleaseStatus.IN_PROGRESS  # the hour-long delay was cut short
        assert bench.states(r1) == {"web-1": "ready", "web-2": "pending"}
        bench.resume(r1)
        bench.journal.update_release(r1, control="active")
        r1_status = asyncio.create_task(bench.run(r1))
        await until(lambda: bench.events(r1).count("batch.started") == 1, "nothing new started yet")
        bench.control(r1, Control.CANCEL_REQUESTED)  # the resumed run waits the delay again; cancel it
        assert await r1_status is ReleaseStatus.CANCELLED

    go(main)


# --- supersede --------------------------------------------------------------------------------


def test_a_newer_apply_supersedes_a_paused_release_which_never_runs_again() -> None:
    bench = Bench()
    bench.runtime.scripts["web"] = ServiceScript(start_error="boom")
    r1 = bench.apply(snapshot(web=service("v1")))
    assert go(lambda: bench.run(r1)) is ReleaseStatus.FAILED  # paused after its failure
    bench.runtime.scripts.clear()
    r2 = bench.apply(snapshot(web=service("v2")))

    assert bench.release(r1).status == "superseded" and bench.release(r1).superseded_by == r2
    calls = len(bench.runtime.calls)
    assert go(lambda: bench.run(r1)) is ReleaseStatus.SUPERSEDED
    assert len(bench.runtime.calls) == calls
    assert go(lambda: bench.run(r2)) is ReleaseStatus.COMPLETED


# --- crash and resume from the journal --------------------------------------------------------


@pytest.mark.parametrize(
    "crash_at",
    [("start", 2), ("wait_ready", 2), ("serve", 2), ("stop", 2)],
    ids=["at-start", "at-gate", "at-cutover", "at-old-stop"],
)
def test_an_engine_crash_resumes_in_place_from_the_journal(crash_at: tuple[str, int]) -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=3)))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=3)))
    bench.runtime.crash_on(*crash_at)

    with pytest.raises(Crash):
        go(lambda: bench.run(r2))
    assert bench.release(r2).status == "in_progress"
    assert bench.states(r2)["web-1"] == "ready"

    assert go(lambda: bench.run(r2)) is ReleaseStatus.COMPLETED  # a new engine, the same journal
    assert bench.versions() == {"web-1": r2, "web-2": r2, "web-3": r2}
    assert starts_of(bench, "web-1") == 2  # once for v1, once for v2: terminal targets are not replayed
    assert len(bench.runtime.instances) == 3  # nothing orphaned
    if crash_at[0] != "stop":  # the crash caught web-2 mid-start: requeued with its reason
        assert "target.requeued" in bench.events(r2)


# --- strategies, orders and the rest of a batch's life -----------------------------------------


def test_start_first_serves_the_new_instance_before_the_old_one_stops() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1")))))
    go(lambda: bench.run(bench.apply(snapshot(web=service("v2")))))
    whats = [what for what, _ in bench.runtime.calls[-5:]]
    assert whats == ["prepare", "start", "wait_ready", "serve", "stop"]


def test_stop_first_stops_the_old_instance_before_starting_the_new_one() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", order="stop_first")))))
    go(lambda: bench.run(bench.apply(snapshot(web=service("v2", order="stop_first")))))
    whats = [what for what, _ in bench.runtime.calls[-5:]]
    assert whats == ["prepare", "stop", "start", "wait_ready", "serve"]


def test_an_image_that_cannot_be_pulled_fails_before_the_old_instance_stops() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1")))))
    r2 = bench.apply(snapshot(web=service("v2")))
    bench.runtime.scripts["web"] = ServiceScript(prepare_error="pull access denied")

    assert go(lambda: bench.run(r2)) is ReleaseStatus.FAILED
    assert bench.reasons(r2) == {"web-1": "image_pull_failed"}
    assert bench.versions() == {"web-1": "r1"}


def test_canary_runs_one_target_first_then_batches_of_parallelism() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service(replicas=3, strategy="canary", parallelism=2)))
    assert go(lambda: bench.run(r1)) is ReleaseStatus.COMPLETED
    sizes = [
        len(e.payload["targets"])
        for e in bench.journal.events
        if e.type == "batch.started" and e.release_id == r1
    ]
    assert sizes == [1, 2]


def test_blue_green_cuts_the_whole_set_over_at_once() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=3, strategy="blue_green")))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=3, strategy="blue_green")))
    first = len(bench.runtime.calls)
    assert go(lambda: bench.run(r2)) is ReleaseStatus.COMPLETED
    calls = bench.runtime.calls[first:]
    whats = [what for what, _ in calls]
    # one switch, after every slot passed its gate, and the old set stops only after it
    assert whats.count("switch") == 1 and "serve" not in whats
    assert whats.index("switch") > max(i for i, w in enumerate(whats) if w == "wait_ready")
    assert whats.index("stop") > whats.index("switch")
    served, _, retired = calls[whats.index("switch")][1].partition(" <- ")
    assert len(served.split()) == 3 and len(retired.split()) == 3


def test_blue_green_withdraws_the_whole_set_when_one_slot_fails_whatever_the_budget() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=3, strategy="blue_green")))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=3, strategy="blue_green", max_failure_ratio=0.9)))
    bench.runtime.scripts["web"] = ServiceScript(
        by_release={r2: ServiceScript(not_ready=Reason.READINESS_FAILED, replicas=(2,))}
    )

    assert go(lambda: bench.run(r2)) is ReleaseStatus.FAILED
    assert bench.states(r2) == {"web-1": "pending", "web-2": "failed", "web-3": "pending"}
    assert bench.versions() == {"web-1": "r1", "web-2": "r1", "web-3": "r1"}
    assert "target.withdrawn" in bench.events(r2)


def test_a_failing_worker_fails_the_batch_of_the_service_that_depends_on_it() -> None:
    bench = Bench()
    bench.runtime.workers["migrate"] = "migrate exited 1"
    r1 = bench.apply(
        snapshot(workers={"migrate": {"command": ["migrate"]}}, web=service(depends_on=("migrate",)))
    )

    assert go(lambda: bench.run(r1)) is ReleaseStatus.FAILED
    assert bench.reasons(r1) == {"web-1": "start_failed"}
    assert ("run_worker", "migrate") in bench.runtime.calls
    assert not any(what == "start" for what, _ in bench.runtime.calls)


def test_a_removed_service_stops_after_the_new_set_is_ready() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1"), old=service()))))
    r2 = bench.apply(snapshot(web=service("v2")))
    old_instance = next(i for i, (svc, _) in bench.runtime.instances.items() if svc == "old")
    first = len(bench.runtime.calls)

    assert go(lambda: bench.run(r2)) is ReleaseStatus.COMPLETED
    assert bench.states(r2)["old-1"] == "removed"
    calls = bench.runtime.calls[first:]
    assert calls[-1] == ("stop", old_instance)
    assert calls.index(("stop", old_instance)) > [w for w, _ in calls].index("serve")


# --- the one transition function --------------------------------------------------------------


def test_a_move_the_model_forbids_is_refused_and_writes_nothing() -> None:
    journal = FakeJournal()
    journal.add_release(FakeRelease("r1", "shop", "{}", status="completed"), [])
    with pytest.raises(IllegalTransition, match="completed -> in_progress"):
        move_release(journal, journal.get_release("r1"), ReleaseStatus.IN_PROGRESS, "release.resumed")
    assert journal.get_release("r1").status == "completed" and journal.events == []


def test_every_final_status_is_reached_by_some_test_here() -> None:
    """Keeps this suite honest as statuses are added: each must appear in an assertion above."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for status in ReleaseStatus:
        if status is ReleaseStatus.PENDING:
            continue
        assert f"ReleaseStatus.{status.name}" in source, status
    for state in (TargetState.READY, TargetState.FAILED, TargetState.ROLLED_BACK, TargetState.SKIPPED):
        assert f'"{state.value}"' in source, state


def test_a_rollback_message_names_the_targets_that_never_started() -> None:
    bench = Bench()
    go(lambda: bench.run(bench.apply(snapshot(web=service("v1", replicas=2)))))
    r2 = bench.apply(snapshot(web=service("v2", replicas=2, failure_action="rollback")))
    bench.runtime.scripts["web"] = ServiceScript(
        by_release={r2: ServiceScript(not_ready=Reason.READINESS_FAILED, replicas=(1,))}
    )
    assert go(lambda: bench.run(r2)) is ReleaseStatus.ROLLED_BACK
    assert bench.states(r2) == {"web-1": "rolled_back", "web-2": "pending"}
    assert bench.release(r2).message == (
        "apply rolled back: batch 1 of web failed; rolled back 1 target(s) (web-1); 1 never started (web-2)"
    )
