"""Engine memory per instance: PSS growth, and where the heap goes (tracemalloc), for N sleepers.

    .venv/bin/python bench/engine_memory.py --n 300 [--runs 2] [--trace] [--top 25]

Without ``--trace``: PSS of the engine before and after ``mooring up`` of N ``sleep`` instances
(as bench/engine_bench.py measures it), per instance; with ``--warm K`` after an app of K sleepers
was brought up first, so that what the first bring-up costs once is not counted per instance. With ``--trace``: the engine runs under
``tracemalloc`` (25 frames, started by a ``sitecustomize`` put on its PYTHONPATH) and dumps a
snapshot on SIGUSR2 before and after; the growth is printed per allocation site (file:line of the
innermost frame in mooring, or of the allocation when none) and per instance.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchkit import kill_by_token, mooring_env, pss_mib, tree_usage, wait_until
from engine_bench import manifest, sleepers

SITECUSTOMIZE = """
import os, signal, tracemalloc
_out = os.environ.get("MOORING_TRACEMALLOC_DIR")
if _out:
    # Started by the first signal, not here: tracing the imports would slow the start past the
    # CLI's deadline. Growth between the two snapshots is what matters.
    _count = [0]
    def _dump(signum, frame):
        _count[0] += 1
        import gc; gc.collect()
        if not tracemalloc.is_tracing():
            tracemalloc.start(25)
            if os.environ.get("MOORING_TRACEMALLOC_PEAK"):
                import threading, time
                def _peaks():
                    # A snapshot each time the traced heap passes 1.25x the last one: the last
                    # is the bring-up's peak (give or take a quarter).
                    mark = tracemalloc.get_traced_memory()[0] * 1.25
                    while tracemalloc.is_tracing():
                        current = tracemalloc.get_traced_memory()[0]
                        if current > mark:
                            tracemalloc.take_snapshot().dump(os.path.join(_out, "peak-snapshot"))
                            mark = current * 1.25
                        time.sleep(0.02)
                threading.Thread(target=_peaks, daemon=True).start()
        current, peak = tracemalloc.get_traced_memory()
        with open(os.path.join(_out, f"peak-{os.getpid()}-{_count[0]}"), "w") as f:
            f.write(f"{current} {peak}")
        tracemalloc.take_snapshot().dump(os.path.join(_out, f"snap-{os.getpid()}-{_count[0]}"))
        open(os.path.join(_out, f"done-{os.getpid()}-{_count[0]}"), "w").close()
    signal.signal(signal.SIGUSR2, _dump)
_trim = os.environ.get("MOORING_TRIM_DIR")
if _trim:
    # How much of the PSS growth is memory freed but kept by the allocators.
    def _do_trim(signum, frame):
        import ctypes, gc
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        open(os.path.join(_trim, f"done-{os.getpid()}-1"), "w").close()
    signal.signal(signal.SIGUSR2, _do_trim)
"""


def snapshot(engine_pid: int, out: Path, number: int) -> tracemalloc.Snapshot:
    os.kill(engine_pid, signal.SIGUSR2)
    done = out / f"done-{engine_pid}-{number}"
    wait_until(done.exists, 120, f"tracemalloc snapshot {number} of the engine", interval=0.05)
    return tracemalloc.Snapshot.load(str(out / f"snap-{engine_pid}-{number}"))


def site_of(trace_frames: tracemalloc.Traceback) -> str:
    """The innermost mooring frame (what code of ours asked), else the allocation itself."""
    for frame in reversed(trace_frames):  # listed oldest call first
        if "/mooring/" in frame.filename:
            return f"{frame.filename.split('/mooring/', 1)[1]}:{frame.lineno}"
    frame = trace_frames[-1]
    return f"{frame.filename}:{frame.lineno}"


def run(
    n: int, trace: bool, top: int, trim: bool = False, warm: int = 0, peak_profile: bool = False
) -> float:
    token = f"{int(time.time() * 1000) % 10**8:08d}"
    warm_token = f"{(int(token) + 5 * 10**7) % 10**8:08d}"  # sleep wants a number
    with tempfile.TemporaryDirectory(prefix="mooring-mem-") as tmp:
        site = Path(tmp, "site")
        site.mkdir()
        (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
        try:
            with mooring_env("mooring-mem-") as bench:
                if trace or trim:
                    bench.env["PYTHONPATH"] = os.pathsep.join(
                        filter(None, [str(site), os.environ.get("PYTHONPATH")])
                    )
                    bench.env["MOORING_TRACEMALLOC_DIR" if trace else "MOORING_TRIM_DIR"] = tmp
                    if peak_profile:
                        bench.env["MOORING_TRACEMALLOC_PEAK"] = "1"
                (bench.work / "mooring.toml").write_text(manifest(n, token))
                bench.cli("ps")
                engine = bench.engine()
                not_workload = lambda p: "1000000." in " ".join(p.cmdline())  # noqa: E731
                if warm:
                    # Another app of `warm` sleepers first: the first bring-up's one-time costs
                    # (imports, a thread and its malloc arena) are then outside the difference.
                    work, bench.work = bench.work, bench.work.parent / "warm"
                    bench.work.mkdir()
                    (bench.work / "mooring.toml").write_text(
                        manifest(warm, warm_token).replace('name = "bench"', 'name = "warm"')
                    )
                    bench.cli("up")
                    wait_until(lambda: sleepers(warm_token) == warm, 300, f"{warm} warm-up sleepers running")
                    bench.work = work
                time.sleep(1.0)
                before_pss = pss_mib(tree_usage(engine, not_workload))
                first = snapshot(engine.pid, Path(tmp), 1) if trace else None
                started = time.perf_counter()
                bench.cli("up")
                wait_until(lambda: sleepers(token) == n, 300, f"{n} sleepers running")
                print(f"N={n} up: {time.perf_counter() - started:.2f} s until every sleeper runs")
                time.sleep(2.0)
                after_pss = pss_mib(tree_usage(engine, not_workload))
                per_kib = (after_pss - before_pss) * 1024 / n
                print(f"N={n} PSS {before_pss:.1f} -> {after_pss:.1f} MiB: {per_kib:.1f} KiB per instance")
                if first is not None:
                    second = snapshot(engine.pid, Path(tmp), 2)
                    current, peak = (int(x) for x in (Path(tmp) / f"peak-{engine.pid}-2").read_text().split())
                    print(
                        f"traced heap now {current / 2**20:.2f} MiB, at its peak during the bring-up"
                        f" {peak / 2**20:.2f} MiB ({(peak - current) / n / 1024:.1f} KiB per instance above)"
                    )
                    report(first, second, n, top)
                    if peak_profile:
                        print("at the peak of the bring-up (above the first snapshot):")
                        report(first, tracemalloc.Snapshot.load(str(Path(tmp) / "peak-snapshot")), n, top)
                if trim:
                    os.kill(engine.pid, signal.SIGUSR2)
                    wait_until((Path(tmp) / f"done-{engine.pid}-1").exists, 60, "malloc_trim", interval=0.05)
                    trimmed = pss_mib(tree_usage(engine, not_workload))
                    per_trimmed = (trimmed - before_pss) * 1024 / n
                    print(
                        f"  after gc + malloc_trim(0): {trimmed:.1f} MiB: {per_trimmed:.1f} KiB per instance"
                    )
        finally:
            kill_by_token(token)
            kill_by_token(warm_token)
    return per_kib


def report(first: tracemalloc.Snapshot, second: tracemalloc.Snapshot, n: int, top: int) -> None:
    def by_site(snap: tracemalloc.Snapshot) -> dict[str, list[int]]:
        sites: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for trace in snap.traces:
            entry = sites[site_of(trace.traceback)]
            entry[0] += trace.size
            entry[1] += 1
        return sites

    a, b = by_site(first), by_site(second)
    growth = {k: (b[k][0] - a.get(k, [0, 0])[0], b[k][1] - a.get(k, [0, 0])[1]) for k in b}
    total = sum(size for size, _ in growth.values())
    print(f"heap growth {total / 2**20:.2f} MiB = {total / n / 1024:.2f} KiB per instance")
    for key, (size, count) in sorted(growth.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {size / n:8.0f} B/inst {count / n:6.2f} blocks/inst  {key}")
    stats = second.compare_to(first, "filename")
    print("by file:")
    for stat in stats[:12]:
        print(f"  {stat.size_diff / n:8.0f} B/inst  {stat.traceback[0].filename}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--trace", action="store_true", help="tracemalloc profile (one run)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--peak", action="store_true", help="with --trace: also profile the bring-up's peak")
    parser.add_argument("--warm", type=int, default=0, help="bring up an app of this many sleepers first")
    parser.add_argument(
        "--trim", action="store_true", help="then gc + malloc_trim(0) in the engine: PSS again"
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    results = [run(args.n, args.trace, args.top, args.trim, args.warm, args.peak) for _ in range(args.runs)]
    print("per instance KiB:", " ".join(f"{r:.1f}" for r in results), f"(load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
