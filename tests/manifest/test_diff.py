import json

import tomli_w

from mooring.manifest.diff import diff_snapshots, spec_hash
from mooring.manifest.snapshot import build_snapshot
from tests.manifest.helpers import load

BASE = {
    "service": {
        "web": {"image": "web:1", "ports": ["8080:80"], "env": {"API_TOKEN": "a", "MODE": "x"}},
        "db": {"image": "db:1"},
    }
}


def snap(doc):
    return build_snapshot(load(tomli_w.dumps(doc)).manifest).data


def changed(**edits):
    doc = json.loads(json.dumps(BASE))
    for path, value in edits.items():
        node = doc["service"]
        *parents, leaf = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return doc


def test_image_change_forces_restart() -> None:
    changes = diff_snapshots(snap(BASE), snap(changed(web__image="web:2")))
    assert [c.render() for c in changes] == ["~ service.web.image: web:1 -> web:2 (restart)"]


def test_rollout_replicas_health_do_not_restart() -> None:
    new = changed(web__replicas=3, web__rollout={"parallelism": 2}, web__restart="on-failure")
    changes = diff_snapshots(snap(BASE), snap(new))
    assert changes and not any(c.restart for c in changes)
    assert spec_hash(snap(BASE)["service"]["web"]) == spec_hash(snap(new)["service"]["web"])


def test_host_port_change_does_not_restart_but_instance_port_does() -> None:
    host_only = diff_snapshots(snap(BASE), snap(changed(web__ports=["9090:80"])))
    assert len(host_only) == 1 and not host_only[0].restart
    instance = diff_snapshots(snap(BASE), snap(changed(web__ports=["8080:81"])))
    assert instance[0].restart


def test_secret_change_is_shown_redacted() -> None:
    changes = diff_snapshots(snap(BASE), snap(changed(web__env={"API_TOKEN": "b", "MODE": "x"})))
    assert [c.render() for c in changes] == ["~ service.web.env.API_TOKEN: *** -> *** (restart)"]
    assert changes[0].to_dict()["new"] == "***"


def test_added_and_removed_workloads() -> None:
    doc = changed()
    del doc["service"]["db"]
    doc["service"]["cache"] = {"image": "redis"}
    renders = [c.render() for c in diff_snapshots(snap(BASE), snap(doc))]
    assert renders == ["+ service.cache (restart)", "- service.db (restart)"]


def test_no_change_no_diff() -> None:
    assert diff_snapshots(snap(BASE), snap(BASE)) == []
