"""Measure what the runtime costs: spawn with and without the cgroup wrapper, start, stop.

Run as root: ``.venv/bin/python tests/runtime/bench_runtime_spawn.py [--n 100]``. Not collected by
pytest (no ``test_`` prefix). Every process and cgroup it makes is removed before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from runtime_testkit import make_spec, remove_cgroup_tree

from mooring.runtime import Resources, Supervisor
from mooring.runtime.cgroups import CgroupHost
from mooring.runtime.process import SHELL, SPAWN_WRAPPER, WRAPPER_NAME


def per_ms(total: float, n: int) -> str:
    return f"{total / n * 1000:.2f} ms"


def bench_popen(n: int, procs_files: list[str] | None) -> float:
    """Popen of `sleep` n times (vfork path), directly or through the cgroup wrapper."""
    children = []
    started = time.perf_counter()
    for _ in range(n):
        if procs_files is None:
            argv = ["/usr/bin/sleep", "1000"]
            children.append(
                subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, close_fds=True)
            )
        else:
            r, w = os.pipe()
            argv = [
                SHELL,
                "-c",
                SPAWN_WRAPPER,
                WRAPPER_NAME,
                str(len(procs_files)),
                *procs_files,
                "/usr/bin/sleep",
                "1000",
            ]
            children.append(subprocess.Popen(argv, stdin=w, start_new_session=True, close_fds=True))
            os.close(w)
            while os.read(r, 4096):  # what the runtime awaits: the wrapper reaching exec
                pass
            os.close(r)
    took = time.perf_counter() - started
    for child in children:
        child.kill()
        child.wait()
    return took


async def bench_supervisor(
    n: int, host: CgroupHost, workdir: Path, log_dir: Path, fifo_dir: Path | None
) -> tuple[float, float, list[float]]:
    """Concurrent Supervisor.start of n instances, one-by-one stop latencies, then stop_all of the rest."""
    sup = Supervisor(log_dir, cgroups=host, fifo_dir=fifo_dir)
    limits = Resources(cpu=0.5, memory=256 << 20, pids=64) if host.available else Resources()
    specs = [make_spec(workdir, ["sleep", "1000"], instance_id=f"b-{i}", resources=limits) for i in range(n)]
    started = time.perf_counter()
    await asyncio.gather(*(sup.start(spec) for spec in specs))  # how the engine starts a batch
    start_total = time.perf_counter() - started
    stops = []
    for spec in specs[: n // 2]:
        t = time.perf_counter()
        await sup.stop(spec.instance_id)
        stops.append(time.perf_counter() - t)
    t = time.perf_counter()
    await sup.stop_all([s.instance_id for s in specs[n // 2 :]])
    stop_all = time.perf_counter() - t
    return start_total, stop_all, stops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    n = parser.parse_args().n
    host = CgroupHost.detect(f"mooring-bench-{uuid.uuid4().hex[:6]}", nest_in_own_cgroup=True)
    print(host.describe())
    try:
        group = host.create("bench", "raw", Resources())
        print(f"Popen sleep, vfork path:            {per_ms(bench_popen(n, None), n)} per spawn (n={n})")
        wrapped = bench_popen(n, group.procs_files)
        print(f"Popen via cgroup wrapper ({len(group.procs_files)} joins):  {per_ms(wrapped, n)} per spawn")
        group.remove()
        t = time.perf_counter()
        for i in range(n):
            host.create("bench", f"c-{i}", Resources(cpu=0.5, memory=256 << 20, pids=64))
        print(f"cgroup create + 3 limits:            {per_ms(time.perf_counter() - t, n)} per instance")
        remove_cgroup_tree(host)
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
            runs = (
                ("with cgroups", host, None),
                ("with cgroups, FIFOs on tmpfs", host, Path(shm)),
                ("process group only, FIFOs on tmpfs", CgroupHost("none"), Path(shm) / "pg"),
            )
            for label, h, fifo_dir in runs:
                start, stop_all, stops = asyncio.run(
                    bench_supervisor(n, h, Path(tmp), Path(tmp) / label, fifo_dir)
                )
                print(
                    f"Supervisor {label}: start {per_ms(start, n)} per instance;"
                    f" stop one: median {statistics.median(stops) * 1000:.2f} ms,"
                    f" max {max(stops) * 1000:.2f} ms; stop_all of {n - n // 2}: {stop_all * 1000:.1f} ms"
                )
    finally:
        remove_cgroup_tree(host)


if __name__ == "__main__":
    main()
