"""Source changes are part of a release: a process service's code digest, --force and restart."""

from __future__ import annotations

import json

from tests.engine.conftest import Mooring
from tests.engine.releases_kit import manifest, setup, up


def pid(mooring: Mooring) -> int:
    [row] = [r for r in mooring.ps("rel") if r["service"] == "web"]
    return int(row["pid"])


def test_a_code_change_replaces_the_instances_and_an_ignored_file_does_not(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1))
    mooring.write(".mooringignore", "# data, not code\ndata/\n")
    (mooring.cwd / "data").mkdir()
    _, first = up(mooring)
    before = pid(mooring)

    (mooring.cwd / "data" / "cache.txt").write_text("written by the app")
    code, answer = up(mooring)
    assert code == 0 and answer.get("nothing_to_do"), answer
    assert pid(mooring) == before

    with (mooring.cwd / "versioned.py").open("a") as script:
        script.write("# a code change\n")
    plan = mooring.run("up", "--dry-run", check=True).stdout
    line = next(x for x in plan.splitlines() if "service.web.source:" in x)
    assert line.strip().startswith("~ service.web.source: sha256:") and line.endswith("(restart)"), plan
    assert json.loads(mooring.run("up", "--dry-run", "--json", check=True).stdout)["counts"]["replace"] == 1
    code, rel = up(mooring)
    assert code == 0 and rel["status"] == "completed" and rel["number"] == 2
    assert [t["action"] for t in rel["targets"]] == ["replace"]
    assert pid(mooring) != before

    # rollback restores the recorded digest, so it is a change too (the old spec comes back)
    preview = json.loads(mooring.run("rollback", "--app", "rel", "--print", "--json", check=True).stdout)
    assert preview["source_release"]["id"] == first["id"]
    assert [t["action"] for t in preview["plan"]["targets"]] == ["replace"]


def test_source_globs_replace_the_walk(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1).replace("replicas = 1\n", 'replicas = 1\nsource = ["*.py"]\n'))
    up(mooring)
    mooring.write("NOTES.md", "not code")
    code, answer = up(mooring)
    assert code == 0 and answer.get("nothing_to_do"), answer
    mooring.write("helper.py", "X = 1\n")
    code, rel = up(mooring)
    assert code == 0 and [t["action"] for t in rel["targets"]] == ["replace"]


def test_force_and_restart_record_a_release_that_replaces_without_a_change(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=2, parallelism=1))
    up(mooring)
    pids = {r["pid"] for r in mooring.ps("rel")}
    code, forced = up(mooring, "--force")
    assert code == 0 and forced["trigger"] == "apply" and forced["number"] == 2
    assert [t["action"] for t in forced["targets"]] == ["replace", "replace"]
    assert pids.isdisjoint({r["pid"] for r in mooring.ps("rel")})

    pids = {r["pid"] for r in mooring.ps("rel")}
    result = mooring.run("restart", "web", "--app", "rel", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    restarted = json.loads(result.stdout)
    assert restarted["trigger"] == "restart" and restarted["status"] == "completed"
    assert restarted["source_release_id"] == forced["id"] and restarted["message"] == "restart completed"
    assert [t["action"] for t in restarted["targets"]] == ["replace", "replace"]
    assert pids.isdisjoint({r["pid"] for r in mooring.ps("rel")})
    history = json.loads(mooring.run("history", "--app", "rel", "--json", check=True).stdout)
    assert [r["trigger"] for r in history] == ["restart", "apply", "apply"]
    # the same manifest three times: no release differs from the current one, so none is prev-ok
    assert [r["number"] for r in history if r["previous_successful"]] == []


def test_editing_the_manifest_for_one_service_leaves_the_others_code_unchanged(mooring: Mooring) -> None:
    other = '\n[service.other]\ncommand = "sleep {n}"\n[service.other.rollout]\nhealth_check_timeout = "0s"\n'
    setup(mooring, manifest(replicas=1, extra_service=other.format(n=1000)))
    up(mooring)
    setup(mooring, manifest(replicas=1, extra_service=other.format(n=2000)))  # mooring.toml changes
    code, rel = up(mooring)
    assert code == 0
    assert {t["target"]: t["action"] for t in rel["targets"]} == {"web-1": "unchanged", "other-1": "replace"}
