"""The plan classifies every replica slot against what runs now."""

import pytest
import tomli_w

from mooring.manifest.diff import spec_hash
from mooring.manifest.snapshot import build_snapshot
from mooring.release.plan import Action, PlanError, RunningInstance, make_plan
from tests.manifest.helpers import load


def snap(doc):
    return build_snapshot(load(tomli_w.dumps(doc)).manifest).data


APP = {
    "service": {
        "db": {"command": "db v1"},
        "api": {"command": "api v1", "depends_on": ["db"], "replicas": 2},
        "web": {"command": "web v1", "depends_on": ["api"]},
    }
}


def running_from(snapshot, **overrides):
    out = []
    for name, svc in snapshot["service"].items():
        for replica in range(1, overrides.get(name, svc["replicas"]) + 1):
            out.append(RunningInstance(f"{name}-{replica}-x", name, replica, spec_hash(svc)))
    return out


def actions(plan):
    return [(t.name, t.action.value) for t in plan.targets]


def test_fresh_apply_creates_everything_in_dependency_order() -> None:
    plan = make_plan(snap(APP), running=[])
    assert plan.scope == "fresh"
    assert actions(plan) == [
        ("db-1", "create"),
        ("api-1", "create"),
        ("api-2", "create"),
        ("web-1", "create"),
    ]


def test_reapply_changes_nothing() -> None:
    s = snap(APP)
    plan = make_plan(s, running_from(s))
    assert plan.scope == "replacement"
    assert {t.action for t in plan.targets} == {Action.UNCHANGED}


def test_changed_service_is_replaced_others_untouched() -> None:
    old = snap(APP)
    new_doc = {"service": {**APP["service"], "api": {**APP["service"]["api"], "command": "api v2"}}}
    plan = make_plan(snap(new_doc), running_from(old))
    assert actions(plan) == [
        ("db-1", "unchanged"),
        ("api-1", "replace"),
        ("api-2", "replace"),
        ("web-1", "unchanged"),
    ]
    assert plan.targets[1].previous_instance_id == "api-1-x"


def test_scale_up_and_down() -> None:
    old = snap(APP)
    up = {"service": {**APP["service"], "api": {**APP["service"]["api"], "replicas": 3}}}
    assert ("api-3", "create") in actions(make_plan(snap(up), running_from(old)))
    down = {"service": {**APP["service"], "api": {**APP["service"]["api"], "replicas": 1}}}
    assert ("api-2", "remove") in actions(make_plan(snap(down), running_from(old)))


def test_removed_service_is_removed() -> None:
    old = snap(APP)
    new_doc = {"service": {k: v for k, v in APP["service"].items() if k != "web"}}
    assert actions(make_plan(snap(new_doc), running_from(old)))[-1] == ("web-1", "remove")


def test_selected_services_plan_with_their_dependencies_only() -> None:
    plan = make_plan(snap(APP), running=[], selected=["api"])
    assert [t.service for t in plan.targets] == ["db", "api", "api"]
    assert plan.selected == ("api", "db")


def test_selection_does_not_remove_other_services() -> None:
    old = snap(APP)
    new_doc = {"service": {k: v for k, v in APP["service"].items() if k != "web"}}
    plan = make_plan(snap(new_doc), running_from(old), selected=["db"])
    assert all(t.action is not Action.REMOVE for t in plan.targets)


def test_unknown_selection_is_an_error() -> None:
    with pytest.raises(PlanError, match="'nope'"):
        make_plan(snap(APP), running=[], selected=["nope"])
