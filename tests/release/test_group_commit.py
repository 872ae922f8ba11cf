"""The executor's group commit (release/group_journal.py): the transitions of one loop turn share one
commit, and every side effect still comes after the commit of the transition before it."""

from __future__ import annotations

import asyncio

from mooring.release.fakes import FakeJournal, FakeRuntime
from mooring.release.model import ReleaseStatus
from tests.release.executor_kit import Bench, service, snapshot


class CheckingRuntime(FakeRuntime):
    """Asserts, at each side effect, that what the executor journaled before it is committed."""

    def __init__(self) -> None:
        super().__init__()
        self.journal: FakeJournal | None = None
        self.checked = 0

    def _committed(self, event: str, instance_id: str) -> None:
        assert self.journal is not None
        committed = [
            e for e in self.journal.events if e.type == event and e.payload.get("instance_id") == instance_id
        ]
        assert committed, f"{event} of {instance_id} is not committed before its side effect"
        self.checked += 1

    async def start(self, instance_id: str, service: str, replica: int, release_id: str) -> str | None:
        assert self.journal is not None
        slot = next(t for t in self.journal.targets.values() if t.instance_id == instance_id)
        assert slot.state == "starting", f"{instance_id} started before its target was journaled starting"
        self._committed("target.starting", instance_id)
        return await super().start(instance_id, service, replica, release_id)

    def serve(self, instance_id: str) -> None:
        self._committed("target.gated", instance_id)
        super().serve(instance_id)


def test_a_batch_journals_in_a_few_commits_each_effect_after_its_transition() -> None:
    runtime = CheckingRuntime()
    bench = Bench(runtime)
    runtime.journal = bench.journal
    r1 = bench.apply(snapshot(web=service(replicas=20, parallelism=20)))

    assert asyncio.run(bench.run(r1)) is ReleaseStatus.COMPLETED

    assert runtime.checked == 40  # 20 starts and 20 cut-overs, each after its commit
    release = bench.release(r1)
    assert (release.targets_total, release.targets_ready, release.targets_pending) == (20, 20, 0)
    events = bench.events(r1)
    assert events.count("target.ready") == 20 and events[-1] == "release.completed"
    # 40 target transitions, 40 counter updates and 64 events: one commit each (~145) before the
    # group commit; now a handful per loop turn of the batch
    assert bench.journal.commits <= 15, bench.journal.commits


def test_rolling_one_by_one_commits_a_few_times_per_replica() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service(replicas=10)))
    assert asyncio.run(bench.run(r1)) is ReleaseStatus.COMPLETED
    r2 = bench.apply(snapshot(web=service("v2", replicas=10, parallelism=1)))
    before = bench.journal.commits

    assert asyncio.run(bench.run(r2)) is ReleaseStatus.COMPLETED

    assert bench.states(r2) == {f"web-{i}": "ready" for i in range(1, 11)}
    assert len(bench.runtime.stopped) == 10
    # per replica: batch.started+starting (before the start), gated (before the cut-over), the
    # stop's event, ready and batch.completed join the next batch's first commit
    assert bench.journal.commits - before <= 2 * 10 + 5, bench.journal.commits - before
