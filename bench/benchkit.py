"""Shared plumbing of mooring's own benchmarks: results in the suite's JSON shape, tables with ratios,
a throw-away engine, and the floor measurements.

The result shape (one per ``bench/*_bench.py --json PATH``) is the suite's contract; see
docs/performance.md. A figure is ``{"min": x, "median": y, "runs": [...]}``.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
SLEEP = "/bin/sleep"


def figure(runs: list[float]) -> dict[str, Any]:
    """min, median and the raw runs of one measured quantity."""
    if not runs:
        raise ValueError("a figure needs at least one run")
    return {"min": min(runs), "median": statistics.median(runs), "runs": list(runs)}


@dataclass
class Scenario:
    """One row of a benchmark: mooring's runs, the floor's and each peer's."""

    name: str
    n: int | None
    unit: str
    better: str = "lower"
    mooring: list[float] = field(default_factory=list)
    floor_label: str | None = None
    floor: list[float] = field(default_factory=list)
    peers: dict[str, list[float]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        floor = None
        if self.floor_label is not None and self.floor:
            floor = {"label": self.floor_label, **figure(self.floor)}
        return {
            "name": self.name,
            "n": self.n,
            "unit": self.unit,
            "better": self.better,
            "mooring": figure(self.mooring),
            "floor": floor,
            "peers": {name: figure(runs) for name, runs in sorted(self.peers.items()) if runs},
        }


def best_peer(scenario: dict[str, Any]) -> tuple[str, float] | None:
    """The peer with the best median, by the scenario's own sense of better."""
    peers = scenario.get("peers") or {}
    if not peers:
        return None
    pick = min if scenario["better"] == "lower" else max
    name = pick(peers, key=lambda p: peers[p]["median"])
    return name, peers[name]["median"]


def ratio(value: float, reference: float | None) -> str:
    if reference is None:
        return "-"
    if reference == 0:
        return "inf" if value else "1.0"
    return f"{value / reference:.2g}" if value / reference < 10 else f"{value / reference:.0f}"


def fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def table(result: dict[str, Any]) -> str:
    """A plain-text table of one benchmark result, every mooring median as a ratio to the floor and
    to the best peer (ratio > 1 means mooring costs more, for lower-is-better figures)."""
    head = f"{'scenario':<34} {'N':>4} {'unit':>5} {'mooring min/med':>17} {'floor':>9} {'x floor':>8} {'best peer':>20} {'x peer':>7}"
    lines = [f"== {result['bench']}{' (smoke)' if result['smoke'] else ''}", head]
    for s in result["scenarios"]:
        med = s["mooring"]["median"]
        floor = s["floor"]["median"] if s["floor"] else None
        peer = best_peer(s)
        lines.append(
            f"{s['name']:<34} {s['n'] if s['n'] is not None else '-':>4} {s['unit']:>5} "
            f"{fmt(s['mooring']['min']) + ' / ' + fmt(med):>17} {fmt(floor) if floor is not None else '-':>9} "
            f"{ratio(med, floor):>8} {(f'{peer[0]} {fmt(peer[1])}' if peer else '-'):>20} "
            f"{ratio(med, peer[1] if peer else None):>7}"
        )
    return "\n".join(lines)


def emit(name: str, smoke: bool, scenarios: list[Scenario], json_path: Path | None, **meta: Any) -> None:
    result = {"bench": name, "smoke": smoke, "scenarios": [s.as_json() for s in scenarios], **meta}
    print(table(result))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(json_path)  # a reader never sees half a file


def fail(message: str) -> None:
    """Stop the benchmark with a message that says what is missing and how to get it."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.005) -> float:
    """Seconds until check() is true; fails the run after timeout, naming what it waited for."""
    started = time.perf_counter()
    deadline = started + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f}s")
        time.sleep(interval)
    return time.perf_counter() - started


# --- the engine under test ---------------------------------------------------------------------


class Mooring:
    """A throw-away MOORING_HOME and working directory, with the real CLI and the real engine."""

    def __init__(self, root: Path) -> None:
        self.home, self.work = root / "home", root / "work"
        self.work.mkdir(parents=True)
        self.env = {**os.environ, "MOORING_HOME": str(self.home)}
        self._engine: psutil.Process | None = None

    def cli(
        self, *args: str, check: bool = True, **env: str
    ) -> tuple[float, subprocess.CompletedProcess[str]]:
        """Run the installed CLI as a user would (the venv's console script); return wall seconds."""
        exe = Path(sys.executable).with_name("mooring")
        argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "mooring"]
        started = time.perf_counter()
        result = subprocess.run(
            [*argv, *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            cwd=self.work,
            timeout=1800,
        )
        elapsed = time.perf_counter() - started
        if check and result.returncode != 0:
            raise RuntimeError(
                f"mooring {' '.join(args)} exited {result.returncode} in {self.work}:\n{result.stdout}{result.stderr}"
            )
        return elapsed, result

    def engine(self) -> psutil.Process:
        if self._engine is not None and self._engine.is_running():
            return self._engine
        pid_file = self.home / "engine.pid"
        for proc in psutil.process_iter(["cmdline", "environ"]):
            with contextlib.suppress(psutil.Error):
                if "serve" in (proc.info["cmdline"] or []) and (proc.info["environ"] or {}).get(
                    "MOORING_HOME"
                ) == str(self.home):
                    self._engine = proc
                    return proc
        raise RuntimeError(f"no engine is running for MOORING_HOME={self.home} (looked for {pid_file})")

    def kill_engine(self) -> None:
        with contextlib.suppress(RuntimeError, psutil.Error):
            engine = self.engine()
            engine.kill()
            engine.wait(10)


@contextlib.contextmanager
def mooring_env(prefix: str) -> Iterator[Mooring]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        bench = Mooring(Path(tmp))
        try:
            yield bench
        finally:
            with contextlib.suppress(Exception):
                bench.cli("down", check=False)
            bench.kill_engine()


def kill_by_token(token: str) -> None:
    """Kill, by pid, leftover workload processes whose argv carries this run's token."""
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if any(token in arg for arg in proc.info["cmdline"] or []):
                proc.kill()


def tree_usage(root: psutil.Process, exclude: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
    """root and its descendants, minus the workload."""
    procs = [root]
    with contextlib.suppress(psutil.Error):
        procs += root.children(recursive=True)
    return [p for p in procs if not exclude(p)]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def pss_mib(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss
    return total / 2**20


# --- the floor -----------------------------------------------------------------------------------


def floor_spawn(n: int, token: str) -> tuple[float, float]:
    """Seconds to posix_spawn N sleepers, and to SIGTERM and reap all of them."""
    argv = [SLEEP, f"1000000.{token}"]
    started = time.perf_counter()
    pids = [os.posix_spawn(SLEEP, argv, os.environ, setsid=True) for _ in range(n)]
    spawn = time.perf_counter() - started
    started = time.perf_counter()
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    for pid in pids:
        os.waitpid(pid, 0)
    return spawn, time.perf_counter() - started


def floor_replace_each(n: int, token: str) -> float:
    """Seconds to replace N sleepers one at a time (SIGTERM, reap, posix_spawn): the rolling floor."""
    argv = [SLEEP, f"1000000.{token}"]
    pids = [os.posix_spawn(SLEEP, argv, os.environ, setsid=True) for _ in range(n)]
    started = time.perf_counter()
    for i, pid in enumerate(pids):
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)
        pids[i] = os.posix_spawn(SLEEP, argv, os.environ, setsid=True)
    elapsed = time.perf_counter() - started
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    return elapsed


class _Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def floor_http_round_trip(samples: int = 50) -> list[float]:
    """Seconds per loopback HTTP GET over a keep-alive connection to a server in this process."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
        conn.request("GET", "/")
        conn.getresponse().read()
        runs = []
        for _ in range(samples):
            started = time.perf_counter()
            conn.request("GET", "/")
            conn.getresponse().read()
            runs.append(time.perf_counter() - started)
        conn.close()
        return runs
    finally:
        server.shutdown()
        server.server_close()


def floor_interpreter_start(samples: int = 5) -> list[float]:
    """Seconds for the venv interpreter to start and exit: the floor of any Python CLI."""
    runs = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        runs.append(time.perf_counter() - started)
    return runs


def stop_engine_of(home: Path) -> None:
    """Stop the engine a benchmark started (found by its MOORING_HOME), never another."""
    for proc in psutil.process_iter(["cmdline", "environ"]):
        with contextlib.suppress(psutil.Error):
            cmdline = proc.info["cmdline"] or []
            if "serve" in cmdline and (proc.info["environ"] or {}).get("MOORING_HOME") == str(home):
                proc.terminate()
                proc.wait(10)
