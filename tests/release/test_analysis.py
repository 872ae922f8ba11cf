"""rollout.analysis, the gate on live traffic: the pure judgement, and the executor acting on it
(with the fake runtime's traffic: each instance serves its release's rate between two readings)."""

from __future__ import annotations

import asyncio

from mooring.manifest.models import Analysis
from mooring.release.decide import judge_traffic, pooled, traffic_between
from mooring.release.model import ReleaseStatus
from mooring.release.ports import Traffic
from tests.release.executor_kit import Bench, service, snapshot

GATE = {"window": "100ms", "min_requests": 20, "max_5xx_ratio": 0.05}


def test_the_judgement_compares_the_5xx_ratio_and_response_time_to_the_limits() -> None:
    analysis = Analysis.model_validate({**GATE, "max_response_time": "200ms"})
    verdict, figures = judge_traffic(Traffic(100, 20, 30.0), Traffic(200, 0, 25.0), analysis)
    assert verdict == "failed" and figures["ratio_5xx"] == 0.2 and figures["old_ratio_5xx"] == 0.0
    assert figures["failures"] == ["5xx ratio 20.0% > 5.0%"]
    assert judge_traffic(Traffic(100, 5, 30.0), Traffic(), analysis)[0] == "passed"
    assert judge_traffic(Traffic(100, 0, 450.0), Traffic(), analysis)[1]["failures"] == [
        "mean response 450 ms > 200 ms"
    ]
    assert judge_traffic(Traffic(19, 19, 1.0), Traffic(), analysis)[0] == "inconclusive"


def test_window_traffic_survives_a_counter_reset_and_pools_by_requests() -> None:
    assert traffic_between(Traffic(50, 5, 1.0), Traffic(80, 6, 2.0)) == Traffic(30, 1, 2.0)
    assert traffic_between(Traffic(50, 5, 1.0), Traffic(10, 0, 2.0)) == Traffic(10, 0, 2.0)  # a reload
    assert pooled([Traffic(10, 1, 10.0), Traffic(30, 0, 30.0)]) == Traffic(40, 1, 25.0)


def run(bench: Bench, release_id: str) -> ReleaseStatus:
    async def main() -> ReleaseStatus:
        return await asyncio.wait_for(bench.executor(release_id).run(), 20)

    return asyncio.run(main())


def rolled_out(rate: Traffic, **rollout: object) -> tuple[Bench, str]:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service("v1", replicas=3)))
    assert run(bench, r1) is ReleaseStatus.COMPLETED
    bench.runtime.traffic_rate = {r1: Traffic(100, 0, 20.0), "r2": rate}
    r2 = bench.apply(snapshot(web=service("v2", replicas=3, analysis=GATE, **rollout)))
    return bench, r2


def test_a_v2_failing_the_gate_is_rolled_back_before_its_second_batch() -> None:
    bench, r2 = rolled_out(Traffic(100, 20, 20.0), failure_action="rollback")
    assert run(bench, r2) is ReleaseStatus.ROLLED_BACK
    assert bench.states(r2) == {"web-1": "rolled_back", "web-2": "pending", "web-3": "pending"}
    release = bench.release(r2)
    assert release.failure is not None and release.failure["reason"] == "analysis_failed"
    assert release.failure["figures"]["ratio_5xx"] == 0.2
    assert "analysis_failed at batch 1 of web: 5xx ratio 20.0% > 5.0%" in (release.message or "")
    events = bench.journal.events
    failed = next(e for e in events if e.type == "analysis.failed")
    assert failed.payload["requests"] == 100 and failed.payload["old_requests"] == 200
    assert all(v == "r1" for v in bench.versions().values())


def test_a_healthy_v2_passes_the_gate_after_every_batch() -> None:
    bench, r2 = rolled_out(Traffic(100, 1, 20.0))
    assert run(bench, r2) is ReleaseStatus.COMPLETED
    assert bench.events(r2).count("analysis.passed") == 3


def test_without_traffic_the_gate_is_inconclusive_and_passes() -> None:
    bench, r2 = rolled_out(Traffic())
    assert run(bench, r2) is ReleaseStatus.COMPLETED
    assert bench.events(r2).count("analysis.inconclusive") == 3


def test_pause_keeps_the_batch_serving_and_says_why() -> None:
    bench, r2 = rolled_out(Traffic(100, 20, 20.0))
    assert run(bench, r2) is ReleaseStatus.PARTIALLY_FAILED
    release = bench.release(r2)
    assert release.control == "paused" and release.failure["reason"] == "analysis_failed"
    assert "resume goes on, rollback restores" in (release.message or "")
