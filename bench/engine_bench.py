"""Engine benchmark: bring up N trivial process instances, idle cost with N running, `ps` latency, stop.

Every mooring figure is printed next to the floor measured in the same run on the same machine:
N bare ``posix_spawn`` calls of the same command (plus kill and reap for stop).

    .venv/bin/python bench/engine_bench.py --n 10,100,500 --repeat 3 --out bench/results/engine.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

SLEEP = shutil.which("sleep") or "/bin/sleep"


def floor_spawn(n: int, token: str) -> tuple[float, float]:
    """Seconds to posix_spawn N sleepers, and to kill and reap them."""
    started = time.perf_counter()
    pids = [os.posix_spawn(SLEEP, [SLEEP, f"1000000.{token}"], os.environ) for _ in range(n)]
    spawn = time.perf_counter() - started
    started = time.perf_counter()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for pid in pids:
        os.waitpid(pid, 0)
    return spawn, time.perf_counter() - started


class Bench:
    def __init__(self, home: Path, work: Path) -> None:
        self.home, self.work = home, work
        self.env = {**os.environ, "MOORING_HOME": str(home)}

    def cli(self, *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "mooring", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.work,
            timeout=600,
        )
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"mooring {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return elapsed, result

    def engine(self) -> psutil.Process:
        for proc in psutil.process_iter(["cmdline", "environ"]):
            try:
                if "serve" in (proc.info["cmdline"] or []) and (proc.info["environ"] or {}).get(
                    "MOORING_HOME"
                ) == str(self.home):
                    return proc
            except psutil.Error:
                continue
        raise SystemExit("engine not found")


def api_latency(home: Path, repeat: int = 20) -> float:
    transport = httpx.HTTPTransport(uds=str(home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring") as client:
        client.get("/v1/instances")
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get("/v1/instances").raise_for_status()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run_once(n: int, idle_window: float) -> dict[str, Any]:
    token = str(secrets.randbelow(10**8)).zfill(8)  # sleep takes 1000000.<digits>
    with tempfile.TemporaryDirectory(prefix="mooring-bench-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        work.mkdir()
        (work / "mooring.toml").write_text(
            f'[app]\nname = "bench"\n[service.t]\ncommand = ["{SLEEP}", "1000000.{token}"]\n'
            f'replicas = {n}\nrestart = "always"\n[service.t.rollout]\nhealth_check_timeout = "0s"\n'
        )
        bench = Bench(home, work)
        try:
            bench.cli("ps")  # start the engine outside the timed part
            engine = bench.engine()
            rss_empty = engine.memory_full_info()
            up, _ = bench.cli("up")
            cpu_before = engine.cpu_times()
            time.sleep(idle_window)
            cpu_after = engine.cpu_times()
            idle_cpu = (
                (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
            ) / idle_window
            mem = engine.memory_full_info()
            ps_wall = statistics.median(bench.cli("ps")[0] for _ in range(5))
            api = api_latency(home)
            down, _ = bench.cli("down")
        finally:
            subprocess.run(["pkill", "-9", "-f", token], check=False)
            with contextlib.suppress(SystemExit):
                bench.engine().kill()
        floor_up, floor_stop = floor_spawn(n, token)
    return {
        "n": n,
        "up_s": up,
        "down_s": down,
        "idle_cpu_percent": idle_cpu * 100,
        "engine_rss_mib": mem.rss / 2**20,
        "engine_uss_mib": mem.uss / 2**20,
        "rss_per_instance_kib": (mem.rss - rss_empty.rss) / n / 1024,
        "ps_cli_s": ps_wall,
        "ps_api_s": api,
        "floor_spawn_s": floor_up,
        "floor_stop_s": floor_stop,
    }


def summarize(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'N':>5} {'up s':>8} {'floor':>8} {'ratio':>7} {'down s':>8} {'floor':>8} {'ratio':>7} "
        f"{'idle %':>7} {'RSS MiB':>8} {'KiB/inst':>9} {'ps cli':>8} {'ps api':>8}"
    )
    for n in sorted({r["n"] for r in rows}):
        runs = [r for r in rows if r["n"] == n]

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        print(
            f"{n:>5} {med('up_s'):>8.3f} {med('floor_spawn_s'):>8.4f} {med('up_s') / med('floor_spawn_s'):>7.0f} "
            f"{med('down_s'):>8.3f} {med('floor_stop_s'):>8.4f} {med('down_s') / max(med('floor_stop_s'), 1e-6):>7.0f} "
            f"{med('idle_cpu_percent'):>7.2f} {med('engine_rss_mib'):>8.1f} {med('rss_per_instance_kib'):>9.1f} "
            f"{med('ps_cli_s'):>8.3f} {med('ps_api_s') * 1000:>6.1f}ms"
        )
    print("(up/down include the CLI's own start-up; medians; ratios are mooring / floor)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", default="10,100,500", help="comma-separated instance counts")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--idle-window", type=float, default=5.0, help="seconds to measure idle CPU over")
    parser.add_argument("--out", type=Path, help="write raw results as JSON")
    args = parser.parse_args()
    rows = [run_once(int(n), args.idle_window) for n in args.n.split(",") for _ in range(args.repeat)]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    summarize(rows)


if __name__ == "__main__":
    main()
