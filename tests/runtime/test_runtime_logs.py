"""Instance logs: stamped lines per stream, rotation, partial lines, tail/since/follow, interleave."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from runtime_testkit import PYTHON, log_lines, make_spec, new_supervisor, run_bounded, sh

from mooring.runtime import InstanceState, LogReader, interleave
from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.logs import LINE_CAP, InstanceLog, LogNotifier, LogPaths, RotatingLog, stamp

S = InstanceState
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (stdout|stderr|mooring) ")


def test_stamp_is_rfc3339_utc_with_microseconds() -> None:
    moment = datetime(2026, 11, 26, 15, 35, 1, 123456, tzinfo=UTC)
    assert stamp(moment.timestamp()) == "2026-11-26T15:35:01.123456Z"


def test_lines_are_stamped_with_their_stream(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        await sup.start(make_spec(workdir, sh("echo hello; echo 'to err' >&2; printf 'no newline'")))
        record = await sup.wait_for("web-1", [S.EXITED], timeout=10)
        lines = log_lines(record.log_path)
        assert all(LINE.match(line) for line in lines), lines
        bodies = [line.split(" ", 1)[1] for line in lines]
        assert "stdout hello" in bodies
        assert "stderr to err" in bodies
        assert "stdout no newline" in bodies  # the partial last line is flushed when the run ends
        assert next(b for b in bodies if b.startswith("mooring ")).startswith("mooring starting: /bin/sh -c")

    run_bounded(scenario())


def test_fifos_can_live_apart_from_the_logs(tmp_path: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(tmp_path / "logs", cgroups, fifo_dir=tmp_path / "run")
        record = await sup.start(make_spec(workdir, sh("echo via-run")))
        assert Path(record.stdout_fifo).parent == tmp_path / "run"
        record = await sup.wait_for("web-1", [S.EXITED], timeout=10)
        assert any(line.endswith("stdout via-run") for line in log_lines(record.log_path))
        assert Path(record.log_path).parent == tmp_path / "logs"

    run_bounded(scenario())


def test_output_written_before_a_crash_is_not_lost(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups)
        await sup.start(
            make_spec(workdir, [PYTHON, "-c", "import sys\nfor i in range(5000): print(i)\nsys.exit(2)"])
        )
        record = await sup.wait_for("web-1", [S.EXITED], timeout=10)
        numbers = [line.split()[-1] for line in log_lines(record.log_path) if " stdout " in line]
        assert numbers == [str(i) for i in range(5000)]

    run_bounded(scenario())


def test_rotation_keeps_three_files_of_bounded_size(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "web-1.log", max_bytes=1000, keep=3)
    for n in range(200):
        log.write_lines([f"line {n:04d} {'x' * 40}\n".encode()])
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["web-1.log", "web-1.log.1", "web-1.log.2", "web-1.log.3"]
    assert all((tmp_path / name).stat().st_size <= 1000 for name in names)
    reader = LogReader(tmp_path)
    tail = reader.read_tail("web-1", 5)
    assert [line.split()[1] for line in tail] == ["0195", "0196", "0197", "0198", "0199"]
    # The newest rotated file holds the lines just before the current file's first.
    first_current = (tmp_path / "web-1.log").read_text().splitlines()[0].split()[1]
    last_rotated = (tmp_path / "web-1.log.1").read_text().splitlines()[-1].split()[1]
    assert int(first_current) == int(last_rotated) + 1


def test_rotation_while_an_instance_writes(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, log_max_bytes=4096, log_keep=3)
        await sup.start(make_spec(workdir, [PYTHON, "-c", "for i in range(2000): print('n', i)"]))
        await sup.wait_for("web-1", [S.EXITED], timeout=10)
        files = sup.logs.files("web-1")
        assert [p.name for p in files] == ["web-1.log.3", "web-1.log.2", "web-1.log.1", "web-1.log"]
        assert all(p.stat().st_size <= 4096 for p in files)
        tail = sup.logs.read_tail("web-1", 60)
        numbers = [int(line.split()[-1]) for line in tail if " stdout n " in line]
        assert numbers == list(range(numbers[0], 2000)) and len(numbers) > 40

    run_bounded(scenario())


def test_long_partial_lines_are_cut_at_the_cap(tmp_path: Path) -> None:
    async def scenario() -> None:
        paths = LogPaths.for_instance(tmp_path, "big-1")
        log = InstanceLog("big-1", paths)
        log.ensure_fifos()
        log.attach()
        out, err = log.open_for_child()
        try:
            import os

            os.write(out, b"a" * (LINE_CAP + 10))
            log.drain()
            os.write(out, b"b\n")
            log.drain()
        finally:
            os.close(out)
            os.close(err)
            log.detach()
        bodies = [line.split(" ", 2)[2] for line in log_lines(paths.log)]
        assert bodies == ["a" * LINE_CAP, "a" * 10 + "b"]

    run_bounded(scenario())


def test_read_since_returns_lines_from_that_moment(tmp_path: Path) -> None:
    log = RotatingLog(tmp_path / "web-1.log", max_bytes=300, keep=3)
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for n in range(20):
        log.write_lines([f"{stamp(base + n)} stdout tick {n}\n".encode()])
    log.close()
    reader = LogReader(tmp_path)
    since = reader.read_since("web-1", "2026-01-01T00:00:15Z")
    assert [line.split()[-1] for line in since] == ["15", "16", "17", "18", "19"]
    assert reader.read_since("web-1", base + 18.5) == reader.read_tail("web-1", 1)
    assert reader.read_since("web-1", datetime(2027, 1, 1)) == []


def test_follow_yields_new_lines_across_rotation(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    script = "import sys, time\nfor i in range(300):\n    print('f', i, flush=True)\n    time.sleep(0.001)\n"

    async def scenario() -> None:
        sup = new_supervisor(log_dir, cgroups, log_max_bytes=2048, log_keep=3)
        await sup.start(make_spec(workdir, ["sh", "-c", "echo before"]))
        await sup.wait_for("web-1", [S.EXITED], timeout=10)
        seen: list[int] = []
        follower = sup.logs.follow("web-1", tail=1)
        first = await anext(follower)
        assert "mooring" in first  # the tail: the last line so far
        await sup.start(make_spec(workdir, [PYTHON, "-c", script]))
        async for line in follower:
            if " stdout f " in line:
                seen.append(int(line.split()[-1]))
            if seen and seen[-1] == 299:
                break
        await follower.aclose()
        assert seen == list(range(300)), "follow lost or repeated lines across rotations"
        assert len(sup.logs.files("web-1")) == 4  # it did rotate meanwhile

    run_bounded(scenario())


def test_follow_without_a_notifier_polls_the_file(tmp_path: Path) -> None:
    async def scenario() -> None:
        log = RotatingLog(tmp_path / "w-1.log")
        log.write_lines([b"2026-01-01T00:00:00.000000Z stdout old\n"])
        follower = LogReader(tmp_path).follow("w-1", poll_interval=0.01)
        pending = asyncio.ensure_future(anext(follower))
        await asyncio.sleep(0)
        log.write_lines([b"2026-01-01T00:00:01.000000Z stdout new\n"])
        assert (await asyncio.wait_for(pending, 5)).endswith("stdout new")
        await follower.aclose()
        log.close()

    run_bounded(scenario())


def test_interleave_merges_replicas_by_time_with_a_prefix() -> None:
    web1 = ["2026-01-01T00:00:01.000000Z stdout a", "2026-01-01T00:00:03.000000Z stdout c"]
    web2 = ["2026-01-01T00:00:02.000000Z stdout b", "2026-01-01T00:00:04.000000Z stderr d"]
    merged = list(interleave({"web-1": web1, "web-10": web2}))
    assert merged == [
        "web-1  | 2026-01-01T00:00:01.000000Z stdout a",
        "web-10 | 2026-01-01T00:00:02.000000Z stdout b",
        "web-1  | 2026-01-01T00:00:03.000000Z stdout c",
        "web-10 | 2026-01-01T00:00:04.000000Z stderr d",
    ]


def test_follow_many_prefixes_each_replica(log_dir: Path, workdir: Path, cgroups: CgroupHost) -> None:
    async def scenario() -> None:
        notifier_sup = new_supervisor(log_dir, cgroups)
        stream = notifier_sup.logs.follow_many({"web-1": "web-1", "web-2": "web-2"})
        collected: list[str] = []

        async def collect() -> None:
            async for line in stream:
                if " stdout " in line:
                    collected.append(line)
                if len(collected) == 2:
                    return

        task = asyncio.ensure_future(collect())
        for n in (1, 2):
            await notifier_sup.start(make_spec(workdir, sh(f"echo hi from {n}"), instance_id=f"web-{n}"))
        await asyncio.wait_for(task, 10)
        await stream.aclose()
        assert sorted(line.split(" | ")[0] for line in collected) == ["web-1", "web-2"]
        for line in collected:
            label, _, rest = line.partition(" | ")
            assert rest.endswith(f"stdout hi from {label[-1]}")

    run_bounded(scenario())


def test_notifier_wakes_waiters_only_after_new_writes() -> None:
    async def scenario() -> None:
        notifier = LogNotifier()
        generation = notifier.generation("a")
        started = time.monotonic()
        await notifier.wait_past("a", generation, 0.05)  # nothing written: times out
        assert time.monotonic() - started >= 0.04
        waiter = asyncio.ensure_future(notifier.wait_past("a", generation, 5))
        await asyncio.sleep(0)
        notifier.notify("a")
        await asyncio.wait_for(waiter, 1)
        await notifier.wait_past("a", generation, 5)  # already past: returns at once

    run_bounded(scenario())
