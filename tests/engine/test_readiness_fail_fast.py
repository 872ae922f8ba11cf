"""Readiness fails fast: an instance judged unhealthy fails its target at once, not at the deadline."""

from __future__ import annotations

import time

from tests.engine.conftest import Mooring
from tests.engine.releases_kit import manifest, served_versions, setup, states, up


def test_unhealthy_new_instance_fails_at_once_and_progress_says_why(mooring: Mooring) -> None:
    setup(mooring, manifest(replicas=1, timeout="60s"))
    assert up(mooring)[0] == 0
    mooring.env.update(V="2", BEHAVIOR="unhealthy")
    started = time.monotonic()
    result = mooring.run("up")
    took = time.monotonic() - started
    assert result.returncode == 7, result.stdout + result.stderr
    # interval 200ms, retries 2: judged in well under a second; the 60 s deadline is not waited out
    assert took < 15, f"the unhealthy target took {took:.1f}s to fail"
    lines = result.stdout.splitlines()
    assert any(
        "web-1" in line and "unhealthy: HTTP 503" in line and "failed" not in line for line in lines
    ), result.stdout
    assert any("failed" in line and "readiness_failed: unhealthy: HTTP 503" in line for line in lines)
    mooring.env.pop("V")
    mooring.env.pop("BEHAVIOR")
    code, rel = up(mooring, V="3", BEHAVIOR="unhealthy")
    assert code == 7 and states(rel)["web-1"] == ("failed", "readiness_failed")
    assert served_versions(mooring) == {1: "1"}
