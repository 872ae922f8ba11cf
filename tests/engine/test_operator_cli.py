"""The operator's CLI on a real engine: up's progress and exit codes, dry-run, apps, status, explain,
history, rollback --print; text and JSON, the JSON checked against docs/schemas."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.engine.conftest import Mooring, wait_until
from tests.engine.operator_kit import OperatorCli, check_schema, outcome
from tests.engine.releases_kit import manifest, release, setup


@pytest.fixture
def cli(mooring: Mooring) -> OperatorCli:
    return OperatorCli(mooring)


def test_up_prints_plan_then_progress_then_the_outcome_line(cli: OperatorCli) -> None:
    setup(cli.mooring, manifest(replicas=3, parallelism=2, timeout="3s"))
    text = cli.ok("up")
    lines = text.splitlines()
    assert lines[0].endswith("of rel: fresh, 3 create"), lines[0]
    assert lines[1] == "batch 1 web: web-1, web-2, readiness deadline 3s"
    started = [ln.split() for ln in lines if "starting" in ln]
    assert {s[0] for s in started} == {"web-1", "web-2", "web-3"}
    assert all(s[2].endswith("/3s") for s in started), started
    ready = [ln.split() for ln in lines if ln.split()[1:2] == ["ready"]]
    assert {r[0] for r in ready} == {"web-1", "web-2", "web-3"}
    assert "batch 1 web done: 2 ready, 0 failed" in lines
    assert lines.index("batch 2 web: web-3, readiness deadline 3s") > lines.index(
        "batch 1 web done: 2 ready, 0 failed"
    )
    found = outcome(text)
    assert (found["status"], found["message"], found["ready"], found["failed"]) == (
        "completed",
        "apply completed",
        "3",
        "0",
    )

    # a failure shows the target's reason and elapsed time against its deadline; exit 7: paused
    flag = cli.mooring.cwd / "broken"
    flag.touch()
    result = cli.run("up", V="2", BEHAVIOR="unhealthy", FAIL_REPLICAS="2", FAIL_FLAG=str(flag))
    assert result.returncode == 7, result.stdout + result.stderr
    failed = next(ln.split() for ln in result.stdout.splitlines() if ln.split()[:2] == ["web-2", "failed"])
    # it answered 503 `retries` times: it fails then (fail fast), not at the 3 s deadline
    assert failed[2].endswith("/3s") and failed[3:6] == ["readiness_failed:", "unhealthy:", "HTTP"], failed
    verdict = next(
        ln.split() for ln in result.stdout.splitlines() if ln.split()[:2] == ["web-2", "unhealthy"]
    )
    assert verdict[3:5] == ["unhealthy:", "HTTP"], verdict
    assert "paused: apply partially failed: paused at batch 1 (web)" in result.stdout
    paused = outcome(result.stdout)
    assert paused["status"] == "partially_failed"

    # resume is followed the same way, from the resume on (not the earlier run's ending)
    flag.unlink()
    resumed = cli.run("rollout", "resume", "--app", "rel")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    lines = resumed.stdout.splitlines()
    assert lines[:3] == [
        f"release {paused['id']} resumed",
        "resumed: apply in progress",
        "batch 1 web: web-2, readiness deadline 3s",
    ]
    assert "paused" not in resumed.stdout
    assert outcome(resumed.stdout)["status"] == "completed"


def test_each_outcome_has_its_exit_code(cli: OperatorCli) -> None:
    m = cli.mooring
    setup(m, manifest(replicas=2, parallelism=2, timeout="2s"))
    assert check_schema("release.json", cli.json(None, "up"))["status"] == "completed"
    # 4: partially failed within max_failure_ratio (not paused)
    setup(m, manifest(replicas=2, parallelism=2, timeout="2s", max_failure_ratio=0.5))
    rel = cli.json("release.json", "up", code=4, V="2", BEHAVIOR="crash", FAIL_REPLICAS="2")
    assert rel["status"] == "partially_failed" and rel["rollout"]["control"] == "active"
    # 5: rolled back
    setup(m, manifest(replicas=2, parallelism=2, timeout="2s", failure_action="rollback"))
    rel = cli.json("release.json", "up", code=5, V="3", BEHAVIOR="crash")
    assert rel["status"] == "rolled_back"
    # 7: paused on a failure
    setup(m, manifest(replicas=2, parallelism=2, timeout="2s"))
    rel = cli.json("release.json", "up", code=7, V="4", BEHAVIOR="crash")
    assert rel["rollout"]["state"] == "blocked"
    # 3: failed, final: the rollback itself failed (the old spec crashes too once the flag exists)
    flag = m.cwd / "flag"
    setup(m, manifest(replicas=2, parallelism=1, timeout="2s", failure_action="rollback"))
    env = {"BEHAVIOR": "crash", "FAIL_FLAG": str(flag)}
    assert cli.json("release.json", "up", **env)["status"] == "completed"  # supersedes the paused one
    flag.touch()  # from now on the old spec crashes on every replica, the new one on replica 2 only
    rel = cli.json("release.json", "up", code=3, V="5", FAIL_REPLICAS="2", **env)
    assert rel["status"] == "failed" and rel["rollout"]["state"] == "failed"
    assert any(t["reason"] == "rollback_failed" for t in rel["targets"]), rel["targets"]
    # 2: invalid manifest; 1: usage error
    m.write("mooring.toml", "[service.web]\ncommand = 3\n")
    bad = cli.run("up")
    assert bad.returncode == 2 and "service.web.command" in bad.stderr, bad.stderr
    assert cli.run("rollout", "sideways", "--app", "rel").returncode == 1


def test_engine_lost_while_following_exits_9(cli: OperatorCli) -> None:
    setup(cli.mooring, manifest(replicas=1, timeout="60s", start_period="60s"))
    cli.ok("up", "--detach", V="1")
    wait_until(lambda: release_done(cli), what="the first release")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up"],
        cwd=cli.mooring.cwd,
        env={**cli.mooring.env, "V": "2", "BEHAVIOR": "silent"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: any(r["health"] == "starting" for r in cli.mooring.ps("rel")), what="a gated target")
    pid = cli.mooring.engine_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 9, out + err
    assert "engine" in err and "error:" in err


def release_done(cli: OperatorCli) -> bool:
    rows = cli.json("history.json", "history", "--app", "rel")
    return bool(rows) and not rows[0]["rollout"]["active"]


def test_ctrl_c_detaches_and_the_release_completes(cli: OperatorCli) -> None:
    setup(cli.mooring, manifest(replicas=2, parallelism=1, min_ready="2s"))
    cli.mooring.run("ps")  # the engine runs before the CLI we interrupt
    proc = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up"],
        cwd=cli.mooring.cwd,
        env=cli.mooring.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "of rel: fresh, 2 create" in first, first
    while "starting" not in proc.stdout.readline():
        pass
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, rest + err
    assert "detached; release" in rest and "goes on" in rest
    release_id = first.split()[1]
    final = wait_until(
        lambda: (r := release(cli.mooring, release_id))["rollout"]["active"] is False and r,
        timeout=60,
        what="the release to finish after the CLI detached",
    )
    assert final["status"] == "completed" and final["rollout"]["targets"]["ready"] == 2


def test_dry_run_without_an_engine_plans_against_an_empty_host_and_starts_none(cli: OperatorCli) -> None:
    setup(cli.mooring, manifest(replicas=3, parallelism=2, timeout="5s", delay="1s", min_ready="2s"))
    first = cli.ok("up", "--dry-run")
    assert first == cli.ok("up", "--dry-run"), "dry-run text is deterministic"
    assert "against an empty host" in first and "(none was started)" in first
    assert "  1. web: web-1, web-2  rolling start_first; gate: http check within 5s, min_ready 2s" in first
    assert "  2. web: web-3  rolling start_first; after 1s, gate: http check within 5s" in first
    plan = cli.json("plan.json", "up", "--dry-run")
    assert plan["against"] == "empty_host" and plan["counts"]["create"] == 3
    assert [b["bound_seconds"] for b in plan["batches"]] == [7.0, 8.0]  # 5+2, then 1+5+2 (creates: no stop)
    assert (
        plan["duration_bound"]["seconds"] == 15.0
        and "readiness deadline" in plan["duration_bound"]["assumes"]
    )
    assert "worst case: 15s" in first
    assert cli.mooring.engine_pid() is None, "a dry run must not start an engine"
    assert not (cli.mooring.home / "state.db").exists()


def test_dry_run_with_an_engine_diffs_flags_drift_and_writes_nothing(cli: OperatorCli) -> None:
    setup(cli.mooring, manifest(replicas=2, parallelism=1, timeout="2s"))
    cli.ok("up")
    # a failed replace leaves web-2 on the old spec while the current release wants the new one
    assert cli.run("up", V="2", BEHAVIOR="crash", FAIL_REPLICAS="2").returncode == 7
    history_before = cli.json("history.json", "history", "--app", "rel")
    backlog_before = cli.ok("events", "--app", "rel")
    plan = cli.json("plan.json", "up", "--dry-run", V="3")
    assert plan["against"] == "engine" and plan["current_release_id"] == history_before[0]["id"]
    assert [c["path"] for c in plan["changes"]] == [
        "service.web.env.BEHAVIOR",
        "service.web.env.FAIL_REPLICAS",
        "service.web.env.V",
    ]
    drift = {(d["target"], d["kind"]) for d in plan["drift"]}
    assert ("web-2", "spec_differs") in drift, plan["drift"]
    assert {t["target"]: t["action"] for t in plan["targets"]} == {"web-1": "replace", "web-2": "replace"}
    text = cli.ok("up", "--dry-run", V="3")
    assert "~ service.web.env.V: 2 -> 3 (restart)" in text
    assert "web-2            spec_differs" in text
    # nothing was written
    assert cli.json("history.json", "history", "--app", "rel") == history_before
    assert cli.ok("events", "--app", "rel") == backlog_before


def test_apps_status_explain_history_and_rollback_print(cli: OperatorCli) -> None:
    m = cli.mooring
    setup(m, manifest(replicas=2, parallelism=2, timeout="2s"))
    first = cli.json("release.json", "up")
    failing = cli.json("release.json", "up", code=7, V="2", BEHAVIOR="unhealthy", FAIL_REPLICAS="2")

    # apps, with filters
    rows = cli.json("apps.json", "apps")
    assert [r["app"] for r in rows] == ["rel"]
    assert rows[0]["current_release"]["id"] == failing["id"]
    assert rows[0]["previous_successful_release"]["id"] == first["id"]
    assert [r["app"] for r in cli.json("apps.json", "apps", "--failed")] == ["rel"]
    assert [r["app"] for r in cli.json("apps.json", "apps", "--status", "blocked")] == ["rel"]
    assert cli.json("apps.json", "apps", "--in-progress") == []
    table = cli.ok("apps").splitlines()
    assert table[0].split()[:5] == ["APP", "RELEASE", "STATUS", "ROLLOUT", "CTRL"]
    assert table[1].split()[:5] == ["rel", failing["id"], "partially_failed", "blocked", "paused"]
    assert "1 ready, 1 failed, 0 left" in table[1]
    assert cli.ok("apps", "--in-progress").strip() == "no apps found matching the filter"

    # status --app, nested current / previous successful release
    status = cli.json("status.json", "status", "--app", "rel")
    assert status["current_release"]["id"] == failing["id"]
    assert status["previous_successful_release"]["id"] == first["id"]
    assert {i["health"] for i in status["instances"]} == {"healthy"}
    text = cli.ok("status", "--app", "rel")
    assert f"release {failing['id']} (#2)  partially_failed  rollout blocked  control paused" in text
    assert "targets: 1 ready, 1 failed, 0 left" in text
    assert f"previous successful release: {first['id']} (#1" in text

    # --explain: the gate, the failed target's last probe result and logs, what to run next
    explain = cli.json("explain.json", "status", "--app", "rel", "--explain")
    assert explain["gate"]["kind"] == "operator"
    [target] = explain["targets"]
    assert target["target"] == "web-2" and target["reason"] == "readiness_failed"
    assert "HTTP 503" in target["detail"]
    assert any("version 2 replica 2 behavior unhealthy" in line for line in target["logs"])
    assert "mooring rollout resume --app rel" in explain["next"]
    text = cli.ok("status", "--app", "rel", "--explain")
    assert "waiting on: you." in text and "detail: unhealthy: HTTP 503" in text
    assert "version 2 replica 2 behavior unhealthy" in text and "  mooring rollout resume --app rel" in text

    # rollback --print changes nothing
    preview = cli.json("rollback-preview.json", "rollback", "--app", "rel", "--print")
    assert preview["source_release"]["id"] == first["id"]
    assert {t["target"]: t["action"] for t in preview["plan"]["targets"]} == {
        "web-1": "replace",
        "web-2": "unchanged",
    }
    text = cli.ok("rollback", "--app", "rel", "--print")
    assert f"would restore release {first['id']} (#1, completed" in text and "nothing was changed" in text
    assert len(cli.json("history.json", "history", "--app", "rel")) == 2

    # the rollback itself, then history marks current and prev-ok, with trigger and source
    rb = cli.json("release.json", "rollback", "--app", "rel")
    assert rb["trigger"] == "rollback" and rb["status"] == "completed"
    rows = cli.json("history.json", "history", "--app", "rel")
    assert [(r["number"], r["current"], r["previous_successful"]) for r in rows] == [
        (3, True, False),
        (2, False, False),
        (1, False, False),  # #1 runs the manifest #3 restored: rolling back to it would change nothing
    ]
    lines = cli.ok("history", "--app", "rel").splitlines()
    assert lines[0].split()[:6] == ["MARK", "#", "RELEASE", "TRIGGER", "SOURCE", "STATUS"]
    assert lines[1].split()[:6] == ["current", "3", rb["id"], "rollback", first["id"], "completed"]
    assert lines[3].split()[:3] == ["1", first["id"], "apply"] and "prev-ok" not in lines[3]

    # paging: --limit and --before (id or number)
    page = cli.run("history", "--app", "rel", "--limit", "2")
    assert page.returncode == 0 and "mooring history --app rel --before 2" in page.stderr
    older = cli.json("history.json", "history", "--app", "rel", "--limit", "2", "--before", "2")
    assert [r["number"] for r in older] == [1]
    assert cli.json("history.json", "history", "--app", "rel", "--before", failing["id"]) == older

    # a release's timeline from its events
    timeline = cli.ok("history", "--app", "rel", failing["id"]).splitlines()
    assert timeline[0].split()[:3] == ["1", "+0.000s", "release.created"]
    assert any("target.failed" in ln and "readiness_failed" in ln for ln in timeline)
    unknown = cli.run("status", "--app", "nosuch")
    assert unknown.returncode == 10 and "no app named 'nosuch'" in unknown.stderr, unknown.stderr
    assert "known apps: rel" in unknown.stderr


def test_up_on_a_terminal_updates_target_lines_in_place(cli: OperatorCli) -> None:
    import pty

    setup(cli.mooring, manifest(replicas=2, parallelism=1, min_ready="1s"))
    cli.mooring.run("ps")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up"],
        cwd=cli.mooring.cwd,
        env={**cli.mooring.env, "TERM": "xterm", "COLUMNS": "160"},
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(master)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "\x1b[" in screen, "rich Live redraws with cursor controls on a terminal"
    last = screen.replace("\r", "").rstrip().splitlines()[-1]
    assert "completed: apply completed (2 ready, 0 failed, 0 unchanged)" in last, last
