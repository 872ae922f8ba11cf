"""The shared epoll watch of per-instance fds (runtime/fd_watch.py): semantics and its point."""

from __future__ import annotations

import asyncio
import os
import selectors
from pathlib import Path

from runtime_testkit import make_spec, new_supervisor, run_isolated

from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.fd_watch import fd_watch


def loop_fds(loop: asyncio.AbstractEventLoop) -> int:
    """How many fds the loop's own selector watches (its self-pipe included)."""
    selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
    return len(selector.get_map())


def test_readable_fds_call_back_and_a_removed_one_never_does() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        base = loop_fds(loop)
        watch = fd_watch()
        (r1, w1), (r2, w2) = os.pipe(), os.pipe()
        seen: list[str] = []
        both = loop.create_future()

        def first() -> None:
            seen.append("first")
            os.read(r1, 10)
            watch.remove_reader(r2)  # in the same batch as r2's event: r2's callback must not run

        def second() -> None:
            seen.append("second")
            os.read(r2, 10)

        watch.add_reader(r1, first)
        watch.add_reader(r2, second)
        assert loop_fds(loop) == base + 1  # two fds, one registration on the loop
        os.write(w1, b"x")
        await asyncio.sleep(0.05)
        assert seen == ["first"]
        watch.add_reader(r2, lambda: both.done() or both.set_result(None))
        os.write(w2, b"x")
        os.write(w2, b"y")
        await asyncio.wait_for(both, 3.0)
        assert watch.remove_reader(r1) and watch.remove_reader(r2)
        assert not watch.remove_reader(r1)
        assert loop_fds(loop) == base  # nothing left: the epoll fd is off the loop too
        for fd in (r1, w1, r2, w2):
            os.close(fd)

    run_isolated(scenario(), timeout=10)


def test_a_failing_callback_does_not_starve_the_others() -> None:
    async def scenario() -> None:
        watch = fd_watch()
        (r1, w1), (r2, w2) = os.pipe(), os.pipe()
        fired = asyncio.get_running_loop().create_future()

        def broken() -> None:
            os.read(r1, 10)
            raise RuntimeError("a bug in one watcher")

        watch.add_reader(r1, broken)
        watch.add_reader(r2, lambda: fired.done() or fired.set_result(None))
        os.write(w1, b"x")
        os.write(w2, b"x")
        await asyncio.wait_for(fired, 3.0)
        watch.remove_reader(r1)
        watch.remove_reader(r2)
        for fd in (r1, w1, r2, w2):
            os.close(fd)

    run_isolated(scenario(), timeout=10)


def test_running_instances_add_no_fd_to_the_loop_each(
    log_dir: Path, workdir: Path, cgroups: CgroupHost
) -> None:
    """Each running instance watches three fds (pidfd, stdout and stderr FIFOs); before the shared
    watch each was a loop reader (~0.45 KiB apiece). Now they all add one registration in total,
    and exits are still noticed."""

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        sup = new_supervisor(log_dir, cgroups)
        base = loop_fds(loop)
        ids = [f"web-{n}" for n in range(1, 11)]
        for instance_id in ids:
            await sup.start(make_spec(workdir, ["sleep", "1000"], instance_id=instance_id))
        assert loop_fds(loop) <= base + 1
        records = await sup.stop_all()
        assert {r.state.value for r in records} == {"stopped"}
        assert all(r.last_exit_signal is not None for r in records)

    run_isolated(scenario(), timeout=60)
