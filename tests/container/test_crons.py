"""A cron and a worker with an image run as containers of the private dockerd."""

from __future__ import annotations

import json

from tests.container.kit import manifest
from tests.container.private_dockerd import PrivateDockerd
from tests.engine.conftest import Mooring, wait_until

SECTIONS = """
[cron.boxed]
image = "mooring-test/web:1"
command = ["/bin/sh", "-c", "echo boxed run"]
every = "1s"

[worker.boxfail]
image = "mooring-test/web:1"
command = ["/bin/sh", "-c", "echo going down >&2; exit 4"]
"""


def cron_events(m: Mooring, type_: str) -> list[dict]:
    out = m.run("events", "--app", "box", "--json", check=True).stdout
    return [e for e in map(json.loads, out.splitlines()) if e["type"] == type_]


def test_an_image_cron_runs_in_a_container_and_run_worker_reports_its_exit_code(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    cmooring.write("mooring.toml", manifest(replicas=1, sections=SECTIONS))
    cmooring.run("up", check=True)
    finished = wait_until(
        lambda: len(f := cron_events(cmooring, "cron.finished")) >= 2 and f, timeout=60, what="two boxed runs"
    )
    assert all(e["outcome"] == "succeeded" and e["exit_code"] == 0 for e in finished), finished
    rows = [r for r in cmooring.ps("box") if r["service"] == "boxed"]
    assert rows and all(r["driver"] == "container" for r in rows), rows
    # every second a new run replaces the last one, whose container goes: retry until one is read whole
    wait_until(
        lambda: "boxed run" in cmooring.run("logs", "boxed", "--app", "box").stdout, what="boxed's output"
    )
    labels = {
        row["Labels"]["mooring.service"]
        for row in dockerd.client().containers(all=True, filters={"label": f"mooring.home={cmooring.home}"})
    }
    assert "boxed" in labels, labels
    failed = cmooring.run("run-worker", "boxfail", "--app", "box")
    assert failed.returncode == 4, failed
    assert "going down" in failed.stderr and "worker boxfail failed, exit code 4" in failed.stderr, failed
