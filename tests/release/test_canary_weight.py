"""rollout.canary_weight in the executor: the canary batch is weighted once it is cut over, for as
long as it is gated (analysis, delay, pause), and every instance gets an equal share again when the
canary is promoted (the next batch), when the release ends, and before a rollback restores."""

from __future__ import annotations

from mooring.manifest.snapshot import build_snapshot
from mooring.release.model import ReleaseStatus
from mooring.release.ports import Traffic
from tests.manifest.helpers import errors_of, load
from tests.release.executor_kit import Bench, service, snapshot
from tests.release.test_analysis import GATE, run


def weighed(bench: Bench) -> list[tuple[str, str]]:
    return [(what, s) for what, s in bench.runtime.calls if what in ("weigh", "start", "traffic")]


def test_the_canary_is_weighted_while_gated_then_promoted_to_an_equal_share() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service("v1", replicas=3)))
    assert run(bench, r1) is ReleaseStatus.COMPLETED
    rollout = {"strategy": "canary", "parallelism": 2, "canary_weight": 50}
    r2 = bench.apply(snapshot(web=service("v2", replicas=3, analysis=GATE, **rollout)))
    assert run(bench, r2) is ReleaseStatus.COMPLETED
    calls = [c for c in weighed(bench) if c[0] != "traffic"][3:]  # after v1's three starts
    canary = calls[0][1]
    assert calls[0][0] == "start" and calls[1] == ("weigh", f"web {canary} 50")
    assert calls[2] == ("weigh", "web  None")  # promoted before the second batch starts
    assert [c[0] for c in calls[3:]] == ["start", "start", "weigh"]  # and evened out at the end
    # the canary's analysis window ran while it was weighted
    first_traffic = bench.runtime.calls.index(("weigh", f"web {canary} 50")) < next(
        i for i, c in enumerate(bench.runtime.calls) if c[0] == "traffic"
    )
    assert first_traffic
    event = next(e for e in bench.journal.events if e.type == "canary.weighted")
    assert event.payload == {"batch": 1, "service": "web", "instances": [canary], "percent": 50}


def test_a_rollback_evens_the_shares_out_before_it_restores() -> None:
    bench = Bench()
    r1 = bench.apply(snapshot(web=service("v1", replicas=3)))
    assert run(bench, r1) is ReleaseStatus.COMPLETED
    bench.runtime.traffic_rate = {r1: Traffic(100, 0, 20.0), "r2": Traffic(100, 30, 20.0)}
    rollout = {"strategy": "canary", "canary_weight": 10, "failure_action": "rollback"}
    r2 = bench.apply(snapshot(web=service("v2", replicas=3, analysis=GATE, **rollout)))
    assert run(bench, r2) is ReleaseStatus.ROLLED_BACK
    assert bench.runtime.weights["web"] == ([], None)
    weighs = [s for what, s in bench.runtime.calls if what == "weigh"]
    assert weighs[0].endswith(" 10") and weighs[1:] == ["web  None"]


def test_canary_weight_is_a_percent_of_a_canary_and_errors_name_the_key() -> None:
    head = '[app]\nname = "shop"\n[service.web]\ncommand = ["x"]\nports = ["8000"]\n[service.web.rollout]\n'
    assert errors_of(head + "canary_weight = 10\n") == [
        "mooring.toml: service.web.rollout.canary_weight: only a canary has a weight: strategy is "
        '"rolling"; set strategy = "canary" or remove canary_weight'
    ]
    assert errors_of(head + 'strategy = "canary"\ncanary_weight = 100\n') == [
        "mooring.toml: service.web.rollout.canary_weight: must be <= 99 (got 100)"
    ]
    assert errors_of(head + 'strategy = "canary"\ncanary_weight = 0\n') == [
        "mooring.toml: service.web.rollout.canary_weight: must be >= 1 (got 0)"
    ]
    loaded = load(head + 'strategy = "canary"\ncanary_weight = 25\n')
    rollout = build_snapshot(loaded.manifest).data["service"]["web"]["rollout"]
    assert rollout["canary_weight"] == 25
    plain = build_snapshot(load(head).manifest).data["service"]["web"]["rollout"]
    assert "canary_weight" not in plain  # absent, not null: older manifests keep their spec hash
