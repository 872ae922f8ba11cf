"""Adoption after an engine restart: re-attach only to provably the same process, never signal others."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_testkit import (
    PYTHON,
    Recorder,
    log_lines,
    make_spec,
    new_supervisor,
    process_gone,
    run_bounded,
    sh,
    wait_until,
)

from mooring.runtime import ExitReason, InstanceRecord, InstanceState
from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.proc import read_stat

S = InstanceState
CHILD_ENGINE = Path(__file__).with_name("runtime_engine_child.py")
TICKER = (
    "import time\ni = 0\nwhile True:\n    print('tick', i, flush=True)\n    i += 1\n    time.sleep(0.005)\n"
)
# Records every signal it receives in a file: proof that adoption never signalled it.
BYSTANDER = (
    "import signal, sys, time\n"
    "def note(n, _):\n"
    "    open(sys.argv[1], 'a').write(f'{n}\\n')\n"
    "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGQUIT):\n"
    "    signal.signal(s, note)\n"
    "open(sys.argv[1], 'a').close()\n"
    "while True: time.sleep(1)\n"
)


def ticks(path: str) -> list[int]:
    return [int(line.split()[-1]) for line in log_lines(path) if " stdout tick " in line]


def run_engine_until_ready(config: dict[str, Any]) -> tuple[subprocess.Popen[str], dict[str, dict[str, Any]]]:
    """Start the throw-away engine; return it with the last record it printed per instance."""
    engine = subprocess.Popen(
        [PYTHON, str(CHILD_ENGINE), json.dumps(config)], stdout=subprocess.PIPE, text=True
    )
    records: dict[str, dict[str, Any]] = {}
    assert engine.stdout is not None
    for line in engine.stdout:
        if line.strip() == "READY":
            return engine, records
        record = json.loads(line)
        records[record["instance_id"]] = record
    raise AssertionError(f"the child engine ended before READY (exit {engine.wait()})")


@pytest.mark.parametrize("fifos_deleted", [False, True], ids=["fifos-kept", "fifos-deleted"])
def test_adopts_instances_of_a_killed_engine_and_keeps_their_logs(
    log_dir: Path, workdir: Path, cgroups: CgroupHost, fifos_deleted: bool
) -> None:
    specs = [
        make_spec(workdir, [PYTHON, "-c", TICKER], instance_id=f"web-{n}", restart="always") for n in (1, 2)
    ]
    engine, records = run_engine_until_ready(
        {"prefix": cgroups.prefix, "log_dir": str(log_dir), "specs": [s.to_dict() for s in specs]}
    )
    try:
        assert {r["state"] for r in records.values()} == {"running"}
        log_path = records["web-1"]["log_path"]
        before_kill = len(ticks(log_path))
        engine.send_signal(signal.SIGKILL)  # an engine crash: nothing is cleaned up
        engine.wait()
        if fifos_deleted:  # the pipes are then reached through /proc/<pid>/fd/1 and 2
            for record in records.values():
                os.unlink(record["stdout_fifo"])
                os.unlink(record["stderr_fifo"])
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()

    async def scenario() -> None:
        recorder = Recorder()
        sup = new_supervisor(log_dir, cgroups, on_change=recorder)
        for old in records.values():
            adopted = await sup.adopt(old)
            assert adopted.state is S.RUNNING and adopted.pid == old["pid"], adopted.last_exit_message
        # The new engine drains what was buffered, then keeps reading.
        await wait_until(lambda: len(ticks(log_path)) > before_kill + 100, 10, "logs to flow again")
        numbers = ticks(log_path)
        assert numbers == list(range(len(numbers))), "ticks lost or reordered across the engine restart"
        assert any("adopted pid" in line for line in log_lines(log_path))
        facts = sup.facts("web-2")
        assert facts.pid == records["web-2"]["pid"] and facts.state == "running"
        if fifos_deleted:  # a new run gets new FIFOs, and the engine reads those
            os.kill(records["web-1"]["pid"], signal.SIGKILL)
            restarted = await sup.wait_for("web-1", lambda r: r.state is S.RUNNING and r.restarts == 1, 10)
            marker = len(log_lines(log_path))
            await wait_until(lambda: len(log_lines(log_path)) > marker + 20, 10, "the new run's output")
            assert Path(restarted.stdout_fifo).exists()
        stopped = await sup.stop_all()
        for record in stopped:
            assert record.state is S.STOPPED
            assert record.last_exit_reason is ExitReason.STOPPED
        for old in records.values():
            assert process_gone(old["pid"], old["pid_start_ticks"])
        assert recorder.states("web-1")[-2:] == ["stopping", "stopped"]

    run_bounded(scenario())


def test_adopted_process_that_exits_has_an_unknown_exit_code(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    async def scenario() -> None:
        first = new_supervisor(log_dir, cgroups)
        record = await first.start(make_spec(workdir, ["sleep", "60"], restart="no"))
        await first.detach_all()  # engine shutdown: the process keeps running
        assert record.pid is not None and not process_gone(record.pid)
        second = new_supervisor(log_dir, cgroups)
        adopted = await second.adopt(record.to_dict())
        assert adopted.state is S.RUNNING
        os.kill(record.pid, signal.SIGKILL)
        ended = await second.wait_for("web-1", [S.EXITED], timeout=10)
        assert ended.last_exit_reason is ExitReason.EXIT_UNKNOWN
        assert "exit code unknown" in ended.last_exit_message

    run_bounded(scenario())


@pytest.fixture
def bystander(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    """A process mooring did not start, which notes every signal it gets; (pid, start ticks, notes)."""
    notes = tmp_path / "signals.txt"
    proc = subprocess.Popen([PYTHON, "-c", BYSTANDER, str(notes)], start_new_session=True)
    deadline = time.monotonic() + 10
    while not notes.exists():
        assert time.monotonic() < deadline, "bystander did not start"
        time.sleep(0.01)
    found = read_stat(proc.pid)
    assert found is not None
    yield proc.pid, found.start_ticks, notes
    proc.kill()
    proc.wait()


def recorded(spec_record: InstanceRecord, **changes: object) -> dict[str, object]:
    data = spec_record.to_dict()
    data.update(changes)
    return data


def test_refuses_a_pid_that_now_belongs_to_another_process(
    log_dir: Path, workdir: Path, cgroups: CgroupHost, bystander: tuple[int, int, Path]
) -> None:
    pid, start_ticks, notes = bystander

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        template = await _template(sup, workdir, restart="no")
        old = recorded(
            template, state="running", pid=pid, pid_start_ticks=start_ticks - 1, started_at=time.time()
        )
        adopted = await sup.adopt(old)
        assert adopted.state is S.EXITED
        assert adopted.last_exit_reason is ExitReason.DIED_WHILE_AWAY
        assert f"pid {pid} now belongs to another process" in adopted.last_exit_message
        assert (await sup.stop(adopted.instance_id)).state is S.STOPPED

    run_bounded(scenario())
    assert not process_gone(pid, start_ticks)
    assert notes.read_text() == "", "the bystander was signalled"


def test_refuses_a_pid_outside_its_recorded_cgroup(
    log_dir: Path, workdir: Path, cgroups: CgroupHost, bystander: tuple[int, int, Path]
) -> None:
    if not cgroups.available:
        pytest.skip("needs cgroups")
    pid, start_ticks, notes = bystander
    group = cgroups.create("demo", "web-1", make_spec(workdir, ["true"]).resources)

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        template = await _template(sup, workdir, restart="always")
        old = recorded(
            template, state="running", pid=pid, pid_start_ticks=start_ticks, cgroup_paths=group.paths
        )
        adopted = await sup.adopt(old)
        assert adopted.state is S.BACKOFF and adopted.last_exit_reason is ExitReason.DIED_WHILE_AWAY
        assert "is not in its recorded cgroup" in adopted.last_exit_message
        # restart = "always": the instance comes back as a new process of its own.
        running = await sup.wait_for(adopted.instance_id, [S.RUNNING], timeout=10)
        assert running.pid != pid
        await sup.stop(adopted.instance_id)

    run_bounded(scenario())
    assert not process_gone(pid, start_ticks)
    assert notes.read_text() == "", "the bystander was signalled"


@pytest.mark.parametrize(("policy", "expected"), [("no", S.EXITED), ("on-failure", S.BACKOFF)])
def test_a_dead_pid_is_reported_died_while_away(
    log_dir: Path, workdir: Path, cgroups: CgroupHost, policy: str, expected: InstanceState
) -> None:
    gone = subprocess.Popen(["true"])
    found = read_stat(gone.pid)
    assert found is not None
    gone.wait()

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        template = await _template(sup, workdir, restart=policy)
        old = recorded(template, state="running", pid=gone.pid, pid_start_ticks=found.start_ticks)
        adopted = await sup.adopt(old)
        assert adopted.state is expected
        assert adopted.last_exit_reason is ExitReason.DIED_WHILE_AWAY
        assert "gone" in adopted.last_exit_message
        if expected is S.BACKOFF:
            await sup.wait_for(adopted.instance_id, [S.RUNNING], timeout=10)
        await sup.stop(adopted.instance_id)

    run_bounded(scenario())


def test_a_recorded_backoff_resumes_with_the_pending_restart(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        template = await _template(sup, workdir, restart="always")
        old = recorded(template, state="backoff", restart_at=time.time() + 0.1, restarts=2)
        adopted = await sup.adopt(old)
        assert adopted.state is S.BACKOFF
        running = await sup.wait_for(adopted.instance_id, [S.RUNNING], timeout=10)
        assert running.restarts == 3
        await sup.stop(adopted.instance_id)

    run_bounded(scenario())


async def _template(sup: object, workdir: Path, restart: str) -> InstanceRecord:
    """A realistic resting record for ``adopt-1`` (made by a real, short-lived run)."""
    from mooring.runtime import Supervisor

    assert isinstance(sup, Supervisor)
    spec = make_spec(workdir, sh("exec sleep 60"), instance_id="adopt-1", restart=restart)
    scratch = Supervisor(sup.settings.log_dir / "scratch", cgroups=CgroupHost("none"))
    await scratch.start(spec)
    return await scratch.stop("adopt-1")
