"""The dry-run plan: diff, drift, batches with their gates and the worst-case bound (pure)."""

from __future__ import annotations

import copy

import tomli_w

from mooring.manifest.diff import spec_hash
from mooring.manifest.snapshot import build_snapshot
from mooring.release.plan import RunningInstance
from mooring.release.preview import ObservedInstance, detect_drift, preview
from tests.manifest.helpers import load


def snap(doc: dict) -> dict:
    return build_snapshot(load(tomli_w.dumps(doc)).manifest).data


APP = {
    "service": {
        "web": {
            "command": "web v1",
            "replicas": 3,
            "stop_timeout": "7s",
            "rollout": {
                "strategy": "canary",
                "parallelism": 2,
                "health_check_timeout": "20s",
                "min_ready": "5s",
                "delay_between_batches": "3s",
                "drain_timeout": "2s",
            },
        },
        "old": {"command": "old v1", "stop_timeout": "4s"},
    }
}


def running(snapshot: dict) -> list[RunningInstance]:
    return [
        RunningInstance(f"{name}-{r}-x", name, r, spec_hash(svc))
        for name, svc in snapshot["service"].items()
        for r in range(1, svc["replicas"] + 1)
    ]


def observed(snapshot: dict) -> list[ObservedInstance]:
    return [
        ObservedInstance(r.instance_id, r.service, r.replica, r.spec_hash, "running", True)
        for r in running(snapshot)
    ]


def test_fresh_plan_batches_gates_and_bound_without_stops() -> None:
    s = snap(APP)
    plan = preview("shop", s, "sha256:x", running=[], against="empty_host")
    assert plan["scope"] == "fresh" and plan["counts"] == {
        "create": 4,
        "replace": 0,
        "unchanged": 0,
        "remove": 0,
    }
    web = [b for b in plan["batches"] if b["service"] == "web"]
    assert [b["targets"] for b in web] == [["web-1"], ["web-2", "web-3"]]  # canary: 1, then 2
    assert web[0]["gate"] == {
        "readiness_timeout": 20.0,
        "min_ready": 5.0,
        "health_check": None,
        "failure_action": "pause",
        "max_failure_ratio": 0.0,
    }
    # creates stop nothing: readiness + min_ready, plus the delay before a service's later batches
    assert [b["bound_seconds"] for b in web] == [25.0, 28.0]
    assert plan["drift"] == [] and plan["changes"][0]["kind"] == "changed"  # app.name appears


def test_replacement_bound_adds_drain_and_stop_and_removals() -> None:
    before = snap(APP)
    after_doc = copy.deepcopy(APP)
    after_doc["service"]["web"]["command"] = "web v2"
    del after_doc["service"]["old"]
    after = snap(after_doc)
    plan = preview("shop", after, "sha256:y", running(before), current=before, current_release_id="r1")
    assert {t["target"]: t["action"] for t in plan["targets"]} == {
        "web-1": "replace",
        "web-2": "replace",
        "web-3": "replace",
        "old-1": "remove",
    }
    assert [b["bound_seconds"] for b in plan["batches"]] == [20 + 5 + 2 + 7, 3 + 20 + 5 + 2 + 7]
    assert plan["duration_bound"]["seconds"] == 34 + 37 + 4  # + old's stop_timeout
    paths = [c["path"] for c in plan["changes"]]
    assert "service.web.command" in paths and "service.old" in paths


def test_drift_names_changed_missing_stopped_and_extra_instances() -> None:
    current = snap(APP)
    by_slot = {(o.service, o.replica): o for o in observed(current)}
    web1, web2, web3, old1 = (by_slot[k] for k in [("web", 1), ("web", 2), ("web", 3), ("old", 1)])
    seen = [
        ObservedInstance(web1.instance_id, "web", 1, "sha256:other", "running", True),
        ObservedInstance(web2.instance_id, "web", 2, web2.spec_hash, "exited", False),
        # web-3 missing
        old1,
        ObservedInstance("web-4-x", "web", 4, web3.spec_hash, "running", True),
    ]
    assert [(d["target"], d["kind"]) for d in detect_drift(current, seen)] == [
        ("web-1", "spec_differs"),
        ("web-2", "not_running"),
        ("web-3", "missing"),
        ("web-4", "extra"),
    ]
    assert detect_drift(current, observed(current)) == []
    assert detect_drift(None, seen) == []
