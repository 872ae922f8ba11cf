"""The app's event stream (SSE) and `mooring events`: resumable without gap or duplicate, prompt, and
the explain view of a release that waits on its readiness gate."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx

from tests.engine.conftest import Mooring, wait_until
from tests.engine.operator_kit import OperatorCli, check_schema
from tests.engine.releases_kit import manifest, setup


def client(m: Mooring) -> httpx.Client:
    transport = httpx.HTTPTransport(uds=str(m.home / "engine.sock"))
    return httpx.Client(transport=transport, base_url="http://mooring", timeout=httpx.Timeout(30, read=60))


def read_sse(response: httpx.Response, stop_after: int | None = None) -> list[dict[str, Any]]:
    """Events of an SSE response (the data field), checking ``id`` equals app_seq."""
    events: list[dict[str, Any]] = []
    frame: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in frame:
                event = json.loads(frame["data"])
                assert frame["id"] == str(event["app_seq"]) and frame["event"] == event["type"]
                events.append(event)
                if stop_after is not None and len(events) >= stop_after:
                    return events
            frame = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            frame[key] = value
    return events


def test_stream_resumes_with_last_event_id_without_gap_or_duplicate(mooring: Mooring) -> None:
    cli = OperatorCli(mooring)
    setup(mooring, manifest(replicas=3, parallelism=1))
    cli.ok("up")
    with client(mooring) as c:
        with c.stream("GET", "/v1/apps/rel/events", params={"follow": "false"}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            backlog = read_sse(r)
        assert [e["app_seq"] for e in backlog] == list(range(1, len(backlog) + 1))
        for e in backlog:
            check_schema("event.json", e)
        # a follower is cut off after 5 events, then reconnects with Last-Event-ID
        with c.stream("GET", "/v1/apps/rel/events") as r:
            head = read_sse(r, stop_after=5)
        with c.stream(
            "GET",
            "/v1/apps/rel/events",
            params={"follow": "false"},
            headers={"Last-Event-ID": str(head[-1]["app_seq"])},
        ) as r:
            tail = read_sse(r)
        assert head + tail == backlog
        with c.stream("GET", "/v1/apps/rel/events", params={"since": "7", "follow": "false"}) as r:
            assert read_sse(r) == backlog[7:]
        assert c.get("/v1/apps/nosuch/events", params={"follow": "false"}).json()["code"] == "not_found"
    # the CLI prints the same backlog, in text and in JSON lines
    lines = cli.ok("events", "--app", "rel", "--json").splitlines()
    assert [json.loads(x) for x in lines] == backlog
    text = cli.ok("events", "--app", "rel", "--since", "3").splitlines()
    assert text[0].startswith("#4  ") and len(text) == len(backlog) - 3


def test_a_follower_killed_midway_resumes_with_since_and_sees_new_events_promptly(mooring: Mooring) -> None:
    cli = OperatorCli(mooring)
    setup(mooring, manifest(replicas=2, parallelism=1, min_ready="1s"))
    mooring.run("ps")  # start the engine

    follower = subprocess.Popen(
        [sys.executable, "-m", "mooring", "events", "--app", "rel", "--follow", "--json"],
        cwd=mooring.cwd,
        env=mooring.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert follower.stdout is not None
    applied = threading.Thread(target=lambda: cli.ok("up"))
    started = time.monotonic()
    applied.start()
    seen: list[dict[str, Any]] = []
    try:
        while len(seen) < 4:  # kill it part-way through the rollout
            line = follower.stdout.readline()
            assert line, follower.stderr.read() if follower.stderr else "follower ended"
            seen.append(json.loads(line))
        first_after = time.monotonic() - started
    finally:
        follower.kill()
        follower.wait()
    assert first_after < 10, f"the first events took {first_after:.1f}s to reach a follower"
    applied.join(120)
    resumed = cli.ok("events", "--app", "rel", "--json", "--since", str(seen[-1]["app_seq"]))
    rest = [json.loads(x) for x in resumed.splitlines()]
    together = [e["app_seq"] for e in seen + rest]
    assert together == list(range(1, len(together) + 1)), together
    assert rest[-1]["type"] == "release.completed"

    # a live follower gets the events of a new release without waiting for the keepalive (15 s)
    with (
        client(mooring) as c,
        c.stream("GET", "/v1/apps/rel/events", params={"since": str(together[-1])}) as r,
    ):
        got: list[dict[str, Any]] = []
        pause_started = time.monotonic()
        setup(mooring, manifest(replicas=2, parallelism=1, min_ready="1s"))
        threading.Thread(target=lambda: cli.run("up", V="2"), daemon=True).start()
        got = read_sse(r, stop_after=1)
        assert got[0]["type"] == "release.created"
        assert time.monotonic() - pause_started < 10


def test_explain_names_the_readiness_gate_its_deadline_and_the_last_probe(mooring: Mooring) -> None:
    cli = OperatorCli(mooring)
    setup(mooring, manifest(replicas=1, timeout="60s"))
    cli.ok("up")
    waiting = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up"],
        cwd=mooring.cwd,
        env={**mooring.env, "V": "2", "BEHAVIOR": "unhealthy"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        explain = wait_until(
            lambda: (
                (x := cli.json("explain.json", "status", "--app", "rel", "--explain"))["targets"]
                and x["targets"][0]["probe"]
                and x["targets"][0]["probe"]["status_code"] == 503
                and x
            ),
            what="a probe result of the gated target",
        )
        gate = explain["gate"]
        assert gate["kind"] == "readiness" and gate["batch"] == 1 and gate["service"] == "web"
        assert gate["deadline"] and "health_check_timeout 60s" in gate["detail"]
        assert explain["targets"][0]["state"] == "starting"
        assert "mooring rollout pause --app rel" in explain["next"]
        text = cli.ok("status", "--app", "rel", "--explain")
        assert "waiting on: the readiness gate of batch 1 (web), deadline " in text
        assert "last probe: unhealthy, HTTP 503" in text or "last probe: starting, HTTP 503" in text
    finally:
        cli.run("rollout", "cancel", "--app", "rel")
        waiting.wait(60)
