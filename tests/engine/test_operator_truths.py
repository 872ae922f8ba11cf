"""Small truths of the operator's commands: resume --detach, control after an end, one message once,
unknown apps, one meaning per flag, ports as published, validate in one pass."""

from __future__ import annotations

import json

from tests.engine.conftest import Mooring, wait_until
from tests.engine.releases_kit import manifest, release, setup, up


def test_explain_says_the_probe_once_and_cancel_clears_control(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1, timeout="60s", start_period="60s"))
    up(mooring)
    code, rel = up(mooring, "--detach", V="2", BEHAVIOR="unhealthy")
    assert code == 0

    def probed() -> str | None:
        text = mooring.run("status", "--app", "rel", "--explain").stdout
        return text if "last probe:" in text else None

    text = wait_until(probed, what="a probe result of the starting instance in explain")
    line = next(x for x in text.splitlines() if "last probe:" in x)
    assert line.strip() == "last probe: starting, HTTP 503: 2", line

    cancel = mooring.run("rollout", "cancel", "--app", "rel", "--json")
    assert cancel.returncode == 0, cancel.stderr
    final = release(mooring, rel["id"])
    assert final["status"] == "cancelled" and final["rollout"]["control"] == "active", final["rollout"]
    log = (mooring.home / "engine.log").read_text()
    outcome = next(x for x in log.splitlines() if f"release {rel['id']} of rel: cancelled" in x)
    assert "WARNING" not in outcome and "INFO" in outcome, outcome


def test_resume_detach_returns_at_once(mooring: Mooring) -> None:
    flag = mooring.cwd / "broken"
    flag.touch()
    setup(mooring, manifest(replicas=1, timeout="5s"))
    up(mooring)
    code, rel = up(mooring, V="2", BEHAVIOR="unhealthy", FAIL_FLAG=str(flag))
    assert code == 7 and rel["rollout"]["control"] == "paused"
    flag.unlink()
    resumed = mooring.run("rollout", "resume", "--app", "rel", "--detach", "--json")
    assert resumed.returncode == 0, resumed.stderr
    body = json.loads(resumed.stdout)
    assert body["id"] == rel["id"] and body["rollout"]["control"] == "active"
    wait_until(lambda: release(mooring, rel["id"])["status"] == "completed", what="the resumed release")
    text = mooring.run("rollout", "resume", "--app", "rel", "--detach")
    assert text.returncode != 0 and "no release in progress or paused" in text.stderr


def test_an_unknown_app_is_not_found_with_the_known_apps_listed(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1))
    up(mooring)
    for command in (["status"], ["status", "--explain"], ["history"], ["rollback", "--print"]):
        result = mooring.run(*command, "--app", "nosuch")
        assert result.returncode == 10, (command, result.stdout, result.stderr)
        assert "no app named 'nosuch'" in result.stderr and "known apps: rel" in result.stderr, result.stderr
