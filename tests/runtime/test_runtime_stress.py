"""Stops under load: concurrent starts, readiness waits that time out, stops, quick exits, fd churn.

Every stop is bounded: one that takes longer than ``STOP_DEADLINE`` fails the test instead of
hanging it, and says which instances were stuck in which state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from runtime_testkit import (
    PYTHON,
    log_lines,
    make_spec,
    new_supervisor,
    process_gone,
    run_isolated,
    sh,
    wait_until,
)

from mooring.runtime import ExitReason, InstanceState, Supervisor
from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.fd_watch import fd_watch
from mooring.runtime.process import ProcessHandle, _handle_for

S = InstanceState
DOWN = {S.EXITED, S.FAILED, S.STOPPED, S.BACKOFF}
STOP_DEADLINE = 15.0
# Prints a line, then serves nothing until stopped: like an app whose health check never passes.
APP = [PYTHON, "-c", "import time; print('up', flush=True); time.sleep(1000)"]


async def bounded(what: str, awaitables: dict[str, Awaitable[Any]], sup: Supervisor) -> dict[str, Any]:
    """Await every awaitable concurrently; fail (naming the stuck instances) past ``STOP_DEADLINE``."""
    tasks = {key: asyncio.ensure_future(aw) for key, aw in awaitables.items()}
    _, pending = await asyncio.wait(tasks.values(), timeout=STOP_DEADLINE)
    if pending:
        stuck = {key: sup.record(key).state.value for key, task in tasks.items() if task in pending}
        for task in pending:
            task.cancel()
        pytest.fail(f"{what} did not return within {STOP_DEADLINE:g}s: {stuck}")
    return {key: task.result() for key, task in tasks.items()}


async def readiness_gate(sup: Supervisor, instance_id: str, timeout: float) -> None:
    """What the engine does per new instance: wait for healthy or down, whichever comes first.

    The health side never turns healthy (the app answers 503), so both waits time out at about
    the same moment and the engine cancels the one that has not finished yet.
    """

    async def never_healthy() -> None:
        async with asyncio.timeout(timeout):
            await asyncio.Event().wait()

    healthy = asyncio.ensure_future(never_healthy())
    died = asyncio.ensure_future(sup.wait_for(instance_id, DOWN, timeout))
    try:
        await asyncio.wait({healthy, died}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (healthy, died):
            task.cancel()
        await asyncio.gather(healthy, died, return_exceptions=True)


def settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def fd_churn(stop: asyncio.Event, lost: list[str]) -> None:
    """Open, watch and close sockets and pipes on the same loop; note any reader that never fires."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        a, b = socket.socketpair()
        r, w = os.pipe()
        try:
            for kind, fd, poke in (
                ("socket", a.fileno(), functools.partial(b.send, b"x")),
                ("pipe", r, functools.partial(os.write, w, b"x")),
            ):
                fired: asyncio.Future[None] = loop.create_future()
                loop.add_reader(fd, settle, fired)
                try:
                    poke()
                    done, _ = await asyncio.wait({fired}, timeout=5.0)
                    if not done:
                        lost.append(f"{kind} fd {fd}")
                finally:
                    loop.remove_reader(fd)
        finally:
            a.close()
            b.close()
            os.close(r)
            os.close(w)
        await asyncio.sleep(0)


def test_concurrent_stops_after_timed_out_readiness_waits_return(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    """The engine's failed-batch scenario, many times over: no stop may hang in ``stopping``."""

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, kill_timeout=2.0)
        stop_churn = asyncio.Event()
        lost: list[str] = []
        churn = [asyncio.ensure_future(fd_churn(stop_churn, lost)) for _ in range(2)]
        try:
            for round_ in range(6):
                ids = [f"web-{round_}x{n}" for n in range(4)]
                quick = [f"job-{round_}x{n}" for n in range(2)]
                specs = [make_spec(workdir, APP, instance_id=i, stop_timeout=2.0) for i in ids]
                specs += [make_spec(workdir, sh("echo bye; exit 3"), instance_id=i) for i in quick]
                started = await bounded("start", {s.instance_id: sup.start(s) for s in specs}, sup)
                assert all(started[i].state is S.RUNNING for i in ids), started
                # Two readiness waits per instance, both timing out together, as in the engine.
                gates = {f"{i}/{n}": readiness_gate(sup, i, 0.3) for i in ids for n in range(2)}
                await asyncio.gather(*gates.values())
                began = time.monotonic()
                stopped = await bounded("stop", {i: sup.stop(i) for i in ids + quick}, sup)
                took = time.monotonic() - began
                for instance_id in ids:
                    record = stopped[instance_id]
                    assert record.state is S.STOPPED, record
                    assert record.last_exit_reason is ExitReason.STOPPED, record
                    assert process_gone(started[instance_id].pid or 0)
                assert took < 2.0 + 2.0 + 1.0, f"round {round_}: stopping took {took:.2f}s"
                for instance_id in ids + quick:
                    await sup.forget(instance_id)
        finally:
            stop_churn.set()
            await asyncio.gather(*churn)
        assert not lost, f"readers lost while instances started and stopped: {lost}"

    run_isolated(scenario(), timeout=180)


def test_many_instances_started_and_stopped_concurrently_with_quick_exits(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    """Gathered starts and stops of long-running and quickly exiting instances, with fd churn."""

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, kill_timeout=2.0)
        stop_churn = asyncio.Event()
        lost: list[str] = []
        churn = [asyncio.ensure_future(fd_churn(stop_churn, lost)) for _ in range(2)]
        try:
            for round_ in range(3):
                specs = []
                for n in range(16):
                    iid = f"w{round_}-{n}"
                    if n % 4 == 0:  # exits while others are being stopped
                        command = sh(f"sleep 0.0{n % 10}; exit {n % 3}")
                    elif n % 4 == 1:  # ignores SIGTERM: SIGKILL after stop_timeout
                        command = sh("trap '' TERM; echo up; while :; do sleep 0.05; done")
                    else:
                        command = ["sleep", "1000"]
                    specs.append(
                        make_spec(workdir, command, instance_id=iid, stop_timeout=1.0, restart="on-failure")
                    )
                await bounded("start", {s.instance_id: sup.start(s) for s in specs}, sup)
                await asyncio.sleep(0.05)
                stopped = await bounded("stop", {s.instance_id: sup.stop(s.instance_id) for s in specs}, sup)
                assert all(r.state is S.STOPPED for r in stopped.values()), stopped
                for spec in specs:
                    await sup.forget(spec.instance_id)
        finally:
            stop_churn.set()
            await asyncio.gather(*churn)
        assert not lost, f"readers lost while instances started and stopped: {lost}"

    run_isolated(scenario(), timeout=180)


def test_stop_is_bounded_when_the_exit_notification_is_lost(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    """With its pidfd reader gone (as a lost registration would leave it), a stop still
    notices the exit: it neither waits for ``stop_timeout`` nor reports a SIGKILL that never was."""

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, kill_timeout=2.0)
        record = await sup.start(make_spec(workdir, ["sleep", "1000"], stop_timeout=5.0))
        pid = record.pid
        assert pid is not None
        handle = sup._instances["web-1"]._handle
        assert handle is not None and handle._pidfd is not None
        assert fd_watch().remove_reader(handle._pidfd)  # lost: its callback will never run
        began = time.monotonic()
        stopped = await sup.stop("web-1")
        took = time.monotonic() - began
        assert stopped.state is S.STOPPED
        assert stopped.last_exit_signal == signal.SIGTERM, stopped
        assert "did not die" not in (stopped.last_exit_detail or "")
        assert process_gone(pid)
        assert took < 2.0, f"a lost notification cost {took:.2f}s (stop_timeout is 5s)"

    run_isolated(scenario(), timeout=30)


def test_stop_of_a_term_ignoring_process_without_exit_notification_is_bounded(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    """Lost notification *and* SIGTERM ignored: SIGKILL after ``stop_timeout``, and the stop returns
    within ``stop_timeout + kill_timeout`` (plus a margin) with the process gone."""

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, kill_timeout=3.0)
        script = "trap '' TERM; echo up; while :; do sleep 0.05; done"
        record = await sup.start(make_spec(workdir, sh(script), stop_timeout=1.0))
        pid = record.pid
        assert pid is not None
        await wait_until(
            lambda: any(line.endswith("stdout up") for line in log_lines(record.log_path)),
            10.0,
            "the trap to be set",
        )
        handle = sup._instances["web-1"]._handle
        assert handle is not None and handle._pidfd is not None
        assert fd_watch().remove_reader(handle._pidfd)  # lost: its callback will never run
        began = time.monotonic()
        stopped = await sup.stop("web-1")
        took = time.monotonic() - began
        assert stopped.state is S.STOPPED
        assert stopped.last_exit_signal == signal.SIGKILL, stopped
        assert "did not die" not in (stopped.last_exit_detail or ""), stopped
        assert process_gone(pid)
        assert 1.0 <= took < 1.0 + 3.0 + 1.0, f"stop took {took:.2f}s"

    run_isolated(scenario(), timeout=30)


def test_pidfd_recheck_never_lands_on_a_reused_fd_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pidfd readable a moment before the exit is waitable is looked at again later; if the
    handle is closed meanwhile and its fd number reused, the new owner's reader must survive."""

    async def scenario() -> None:
        import subprocess

        loop = asyncio.get_running_loop()
        popen = subprocess.Popen(["true"], start_new_session=True)
        handle: ProcessHandle = _handle_for(popen, None)
        number = handle._pidfd
        assert number is not None
        owner_fired = loop.create_future()
        real_waitid = os.waitid
        pipes: list[int] = []

        def steal_the_number() -> None:
            # Runs right after the readable callback: close the handle, reuse its fd number.
            r, w = os.pipe()
            handle.close()
            os.dup2(r, number)
            os.close(r)
            pipes.extend([number, w])
            loop.add_reader(number, lambda: owner_fired.done() or owner_fired.set_result(None))
            os.write(w, b"x")

        def waitid_not_yet(*args: Any) -> Any:
            monkeypatch.setattr(os, "waitid", real_waitid)
            loop.call_soon(steal_the_number)
            return None  # "readable a moment before the exit is waitable"

        monkeypatch.setattr(os, "waitid", waitid_not_yet)
        handle.ended()
        try:
            done, _ = await asyncio.wait({owner_fired}, timeout=3.0)
            assert done, "the pipe's reader was replaced by the closed pidfd's re-arm"
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(number)
            for fd in pipes:
                os.close(fd)
            popen.wait()

    run_isolated(scenario(), timeout=10)
