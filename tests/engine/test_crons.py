"""Crons run on schedule in a real engine, never overlap, obey their timeout, follow releases, stop with
``down`` and resume after an engine restart; ``run-worker`` exits with the run's exit code."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from tests.engine.conftest import Mooring, wait_until

WEB = """
[service.web]
command = "sleep 600"
"""


def manifest(crons: str, app: str = "cr") -> str:
    return f'[app]\nname = "{app}"\n{WEB}\n{crons}'


def events(m: Mooring, app: str = "cr") -> list[dict[str, Any]]:
    result = m.run("events", "--app", app, "--json", check=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def of(evs: list[dict[str, Any]], type_: str, cron: str | None = None) -> list[dict[str, Any]]:
    return [e for e in evs if e["type"] == type_ and (cron is None or e.get("cron") == cron)]


def up(m: Mooring, text: str, app: str = "cr") -> None:
    m.write("mooring.toml", text)
    m.run("up", check=True)


def restart_engine(m: Mooring) -> None:
    pid = m.engine_pid()
    assert pid, "no engine running"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: m.engine_pid() is None, what="the engine to stop")


def test_every_cron_runs_repeatedly_and_shows_in_events_logs_ps_status(mooring: Mooring) -> None:
    up(mooring, manifest('[cron.tick]\ncommand = "echo tick $MOORING_INSTANCE"\nevery = "1s"\n'))
    finished = wait_until(
        lambda: len(f := of(events(mooring), "cron.finished", "tick")) >= 2 and f, what="two runs of tick"
    )
    started = of(events(mooring), "cron.started", "tick")
    assert all(e["outcome"] == "succeeded" and e["exit_code"] == 0 for e in finished)
    assert len({e["instance_id"] for e in started}) == len(started) >= 2, "every run is a new instance"
    assert all(e["trigger"] == "schedule" for e in started)
    assert all(0 <= e["duration"] < 10 for e in finished), finished
    # the last run stays readable and visible after it ended; by its instance id: `logs tick` shows
    # the next run instead when one is starting at that moment (a run is due every second)
    ended = finished[-1]["instance_id"]
    logs = mooring.run("logs", ended, "--app", "cr", check=True).stdout
    assert f"stdout tick {ended}" in logs, logs
    rows = [r for r in mooring.ps("cr") if r["service"] == "tick"]
    assert len(rows) <= 1 and (not rows or rows[0]["state"] in ("exited", "starting", "running")), rows
    status = json.loads(mooring.run("status", "--app", "cr", "--json", check=True).stdout)
    (cron,) = status["crons"]
    assert cron["name"] == "tick" and cron["every"] == "1s" and cron["last_run"] is not None
    text = mooring.run("status", "--app", "cr", check=True).stdout
    assert "CRON" in text and "tick" in text and "every 1s" in text, text


def test_a_run_longer_than_its_schedule_is_skipped_not_overlapped(mooring: Mooring) -> None:
    # six fields: croniter's seconds field, so it is due every second while each run takes three
    up(mooring, manifest('[cron.slow]\ncommand = "sleep 3"\nschedule = "* * * * * *"\n'))
    wait_until(lambda: of(events(mooring), "cron.skipped", "slow"), timeout=30, what="a skipped tick")
    wait_until(lambda: of(events(mooring), "cron.finished", "slow"), timeout=30, what="the run's end")
    running = 0
    for e in events(mooring):
        if e.get("cron") != "slow":
            continue
        if e["type"] == "cron.started":
            running += 1
            assert running == 1, "a run started while the previous one still ran"
        elif e["type"] == "cron.finished":
            running -= 1
        elif e["type"] == "cron.skipped":
            assert running == 1, "skipped although nothing ran"


def test_timeout_stops_the_run(mooring: Mooring) -> None:
    up(mooring, manifest('[cron.stuck]\ncommand = "sleep 300"\nevery = "1s"\ntimeout = "1s"\n'))
    finished = wait_until(
        lambda: of(events(mooring), "cron.finished", "stuck"), timeout=30, what="a timed-out run"
    )
    assert of(events(mooring), "cron.timed_out", "stuck")[0]["timeout"] == 1.0
    assert finished[0]["outcome"] == "timed_out", finished
    assert 1.0 <= finished[0]["duration"] < 20, finished
    rows = [r for r in mooring.ps("cr") if r["service"] == "stuck"]
    assert all(r["state"] != "running" or r["id"] != finished[0]["instance_id"] for r in rows), rows


def test_a_new_release_replaces_the_cron_set(mooring: Mooring) -> None:
    up(mooring, manifest('[cron.old]\ncommand = "echo old"\nevery = "1s"\n'))
    wait_until(lambda: of(events(mooring), "cron.finished", "old"), what="a run of old")
    up(mooring, manifest('[cron.new]\ncommand = "echo new"\nevery = "1s"\n'))
    evs = events(mooring)
    cut = of(evs, "release.completed")[-1]["app_seq"]
    wait_until(lambda: len(of(events(mooring), "cron.finished", "new")) >= 2, what="two runs of new")
    late_old = [e for e in of(events(mooring), "cron.started", "old") if e["app_seq"] > cut]
    assert not late_old, f"old still ran after the release without it: {late_old}"
    status = json.loads(mooring.run("status", "--app", "cr", "--json", check=True).stdout)
    assert [c["name"] for c in status["crons"]] == ["new"]


def test_down_stops_scheduling_and_a_restart_resumes_only_live_crons(mooring: Mooring) -> None:
    # a second app's cron is the clock: while it runs three times, a live cron of cr would have run too
    (mooring.cwd / "clock").mkdir()
    clock = manifest('[cron.clock]\ncommand = "true"\nevery = "1s"\n', app="clock")
    (mooring.cwd / "clock" / "mooring.toml").write_text(clock)
    mooring.run("up", "-f", "clock/mooring.toml", check=True)
    up(mooring, manifest('[cron.tick]\ncommand = "echo tick"\nevery = "1s"\n'))
    wait_until(lambda: of(events(mooring), "cron.finished", "tick"), what="a run of tick")

    def clock_runs() -> int:
        return len(of(events(mooring, "clock"), "cron.finished", "clock"))

    restart_engine(mooring)
    seq = events(mooring)[-1]["app_seq"]  # this command starts the engine again
    wait_until(
        lambda: [e for e in of(events(mooring), "cron.started", "tick") if e["app_seq"] > seq],
        what="tick to run again after the restart",
    )
    mooring.run("down", "--app", "cr", check=True)
    assert of(events(mooring), "crons.stopped")
    seq = events(mooring)[-1]["app_seq"]
    ticks = clock_runs()
    wait_until(lambda: clock_runs() >= ticks + 3, what="three clock runs")
    restart_engine(mooring)
    ticks = clock_runs()
    wait_until(lambda: clock_runs() >= ticks + 3, what="three clock runs after a restart")
    after_down = [e for e in events(mooring) if e["app_seq"] > seq and e["type"].startswith("cron.")]
    assert not after_down, f"cr's crons ran after down: {after_down}"
    status = json.loads(mooring.run("status", "--app", "cr", "--json", check=True).stdout)
    assert status["crons"] == []
    mooring.run("down", "--app", "clock", check=True)


def test_run_worker_exits_with_the_runs_exit_code(mooring: Mooring) -> None:
    up(
        mooring,
        manifest(
            '[worker.ok]\ncommand = "echo all good"\n\n'
            '[worker.bad]\ncommand = "echo half way; echo it broke >&2; exit 3"\n\n'
            '[cron.nightly]\ncommand = "echo nightly ran"\nschedule = "0 3 * * *"\n'
        ),
    )
    ok = mooring.run("run-worker", "ok", "--app", "cr")
    assert ok.returncode == 0 and "all good" in ok.stdout, ok
    assert "worker ok succeeded, exit code 0" in ok.stderr, ok.stderr
    bad = mooring.run("run-worker", "bad")  # the app from ./mooring.toml
    assert bad.returncode == 3, bad
    assert "half way" in bad.stdout and "it broke" in bad.stderr, bad
    assert "worker bad failed, exit code 3" in bad.stderr, bad.stderr
    cron = mooring.run("run-worker", "nightly", "--app", "cr")
    assert cron.returncode == 0 and "nightly ran" in cron.stdout, cron
    unknown = mooring.run("run-worker", "nope", "--app", "cr")
    assert unknown.returncode == 10, unknown  # not found
    assert "'nope'" in unknown.stderr and "bad, nightly, ok" in unknown.stderr, unknown.stderr
    evs = events(mooring)
    assert [e["exit_code"] for e in of(evs, "worker.finished")] == [0, 3]
    assert of(evs, "worker.finished")[1]["log_tail"], "a failed run's last lines are in its event"
    logs = mooring.run("logs", "bad", "--app", "cr", check=True).stdout
    assert "it broke" in logs, logs


def test_a_run_that_ends_while_no_engine_runs_is_recorded_by_the_next_one(mooring: Mooring) -> None:
    """The engine is away for the whole end of a run: the next engine still journals its end."""
    # The run ends when the test says so (the file `go`), once the engine is gone: no race with a
    # slow engine stop on a loaded machine.
    command = "sh -c 'while [ ! -e go ]; do sleep 0.1; done; touch ended-$MOORING_INSTANCE'"
    up(mooring, manifest(f'[cron.brief]\ncommand = "{command}"\nschedule = "* * * * * *"\n'))
    (first, *_) = wait_until(lambda: of(events(mooring), "cron.started", "brief"), what="a run of brief")
    restart_engine(mooring)  # stopped, not restarted yet
    marker = mooring.cwd / f"ended-{first['instance_id']}"
    assert not marker.exists(), "the run ended before the engine"
    (mooring.cwd / "go").touch()
    wait_until(marker.exists, what="the run to end while no engine runs")
    mooring.run("ps", check=True)  # the next CLI call starts an engine
    finished = wait_until(
        lambda: [
            e
            for e in of(events(mooring), "cron.finished", "brief")
            if e["instance_id"] == first["instance_id"]
        ],
        what="the run's end, recorded by the next engine",
    )
    assert finished[0]["outcome"] == "exit_unknown", finished  # it was no engine's child when it ended


def test_a_run_going_across_an_engine_restart_is_watched_not_overlapped(mooring: Mooring) -> None:
    up(mooring, manifest('[cron.long]\ncommand = "sleep 10"\nschedule = "* * * * * *"\n'))
    (first,) = wait_until(lambda: of(events(mooring), "cron.started", "long"), what="a run of long")
    restart_engine(mooring)
    finished = wait_until(
        lambda: [
            e
            for e in of(events(mooring), "cron.finished", "long")
            if e["instance_id"] == first["instance_id"]
        ],
        timeout=30,
        what="the adopted run's end",
    )
    starts = [e["app_seq"] for e in of(events(mooring), "cron.started", "long")]
    assert [s for s in starts if s < finished[0]["app_seq"]] == [first["app_seq"]], "a run overlapped"
    assert finished[0]["outcome"] == "exit_unknown", finished  # no longer the engine's child
    assert of(events(mooring), "cron.skipped", "long"), "ticks during the adopted run are skipped"
