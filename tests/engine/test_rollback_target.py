"""`rollback` restores the prev-ok release: what served before the release being abandoned."""

from __future__ import annotations

import json

from tests.engine.conftest import Mooring
from tests.engine.releases_kit import manifest, served_versions, setup, up


def test_rollback_after_a_paused_failure_restores_the_release_that_serves(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2, timeout="5s"))
    assert up(mooring)[0] == 0
    code, v2 = up(mooring, V="2")
    assert code == 0 and v2["status"] == "completed"
    code, v3 = up(mooring, V="3", BEHAVIOR="unhealthy")
    assert code == 7 and v3["rollout"]["control"] == "paused"
    assert served_versions(mooring) == {1: "2", 2: "2"}

    history = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    assert [r["id"] for r in history if r["previous_successful"]] == [v2["id"]]

    printed = mooring.run("rollback", "--app", "rel", "--print", check=True).stdout
    assert f"would restore release {v2['id']} (#2" in printed, printed
    assert f"why: the newest release {v3['id']} (#3) is failed, paused;" in printed, printed
    assert "prev-ok" in printed
    preview = json.loads(mooring.run("rollback", "--app", "rel", "--print", "--json", check=True).stdout)
    assert preview["source_release"]["id"] == v2["id"] and v3["id"] in preview["reason"]

    result = mooring.run("rollback", "--app", "rel", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    rb = json.loads(result.stdout)
    assert rb["trigger"] == "rollback" and rb["source_release_id"] == v2["id"], rb
    assert served_versions(mooring) == {1: "2", 2: "2"}


def test_rollback_after_a_completed_release_goes_one_back(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1))
    _, v1 = up(mooring)
    _, v2 = up(mooring, V="2")
    assert served_versions(mooring) == {1: "2"}
    printed = mooring.run("rollback", "--app", "rel", "--print", check=True).stdout
    assert f"would restore release {v1['id']}" in printed
    assert f"the newest release {v2['id']} (#2) is completed and serves now" in printed, printed
    rb = json.loads(mooring.run("rollback", "--app", "rel", "--json", check=True).stdout)
    assert rb["source_release_id"] == v1["id"] and served_versions(mooring) == {1: "1"}
