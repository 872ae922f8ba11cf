"""A rolling restart commits a few times per replica: the instance book's changes ride on the release
journal's commits (engine/journal.py, engine/book.py), counted by the engine's own /metrics."""

from __future__ import annotations

import re

import httpx

from tests.engine.conftest import Mooring

REPLICAS = 8

MANIFEST = f"""
[app]
name = "turns"
[service.web]
command = "exec sleep 1000"
replicas = {REPLICAS}
env = {{ V = "${{V:-1}}" }}
[service.web.rollout]
parallelism = 1
health_check_timeout = "0s"
"""


def commits(mooring: Mooring) -> int:
    transport = httpx.HTTPTransport(uds=str(mooring.home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring", timeout=60) as client:
        text = client.get("/metrics").text
    found = re.search(r"^mooring_store_commits_total (\S+)$", text, re.M)
    assert found, "no mooring_store_commits_total in /metrics"
    return int(float(found.group(1)))


def test_a_rolling_restart_commits_four_times_per_replica(mooring: Mooring) -> None:
    mooring.write("mooring.toml", MANIFEST)
    mooring.run("up", check=True)
    old = {r["id"] for r in mooring.ps("turns")}
    before = commits(mooring)
    mooring.env["V"] = "2"

    mooring.run("up", check=True)

    rows = mooring.ps("turns")
    assert len(rows) == REPLICAS and not {r["id"] for r in rows} & old
    assert all(r["state"] == "running" for r in rows), rows
    # per replica: the new instance's start (before its spawn), its gate (with the record that it
    # runs, before the cut-over), the old one's stop (before its signal), then the next batch's
    # start (with the old instance's end). Before the book's changes rode on the journal's
    # commits: 7 per replica (starting, running, stopping, stopped and forgotten each their own).
    # The rest: the release's lock, row, targets and status, at most 12.
    made = commits(mooring) - before
    assert made <= 4 * REPLICAS + 12, f"{made} commits for {REPLICAS} replicas"
