"""Data-plane benchmark: a small HTTP service behind mooring's published port vs direct to the
instance, with a plain HAProxy doing the same TCP forwarding in the same run as a peer.

The service runs as an instance of a real engine (`mooring up`); wrk drives loopback load at
  - direct:   the instance's own port (the floor),
  - mooring:  the published port, served by the HAProxy the engine manages (docs/network.md),
  - haproxy:  a plain HAProxy (mode tcp, its default threads, as mooring's) started by hand,
    forwarding to the same instance port: what mooring's management costs over HAProxy alone,
with keep-alive and with a new connection per request (``Connection: close``). It prints requests/s,
p50 and p99 latency, the throughput ratio to direct and the p99 added by each proxy.

    .venv/bin/python bench/proxy_bench.py [--smoke] [--json PATH] [--duration S] [--runs N] [--connections C]

It also reports where the CPU goes during each run: the CPU time per request of wrk, the
instance, the proxy (HAProxy's processes, all threads) and mooring's engine, and how busy the
machine's cores were (from /proc/stat), which is what explains a throughput ratio on a small host.

Needs wrk (Debian package ``wrk``) and HAProxy (Debian package ``haproxy``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# The service: a minimal asyncio HTTP/1.1 server with keep-alive, what a small Python service does.
SERVER = r"""
import asyncio, os

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
CLOSING = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nok"

class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            if b"connection: close" in head.lower():
                self.transport.write(CLOSING)
                self.transport.close()
                return
            self.transport.write(RESPONSE)

async def main():
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", int(os.environ["PORT"]), backlog=1024)
    await server.serve_forever()

asyncio.run(main())
"""

MANIFEST = """
[app]
name = "proxybench"
[service.web]
command = ["{python}", "server.py"]
ports = ["127.0.0.1:{port}:8000"]
[service.web.health_check]
type = "tcp"
interval = "200ms"
timeout = "1s"
"""

HAPROXY = """
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend bench
    bind 127.0.0.1:{port}
    default_backend instance
backend instance
    server web 127.0.0.1:{upstream}
"""

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (every thread), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / TICK


def runqueue_seconds(pids: list[int]) -> float:
    """Seconds these processes' threads spent runnable but waiting for a core (/proc/<pid>/task/*/schedstat)."""
    total = 0
    for pid in pids:
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(stat.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat's first line."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(
            f"proxy_bench: {tool} is not installed; install the Debian package: apt-get install {package}"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(name: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"proxy_bench: {name}: nothing answered on 127.0.0.1:{port} within {timeout:g}s")


def wrk(port: int, seconds: float, connections: int, close: bool, url: str | None = None) -> dict[str, float]:
    """One wrk run at ``url`` (default: plain HTTP to 127.0.0.1:port): req/s, p50, p99 (ms), errors."""
    url = url or f"http://127.0.0.1:{port}/"
    args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", url]
    if close:
        args[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    requests = re.search(r"(\d+) requests in", out)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not (rps and p50 and p99):
        sys.exit(f"proxy_bench: could not read wrk's output:\n{out}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": float(requests.group(1)) if requests else 0.0,
        "rps": float(rps.group(1)),
        "p50": float(p50.group(1)) * UNITS[p50.group(2)],
        "p99": float(p99.group(1)) * UNITS[p99.group(2)],
        "errors": float(sum(int(g) for g in errors.groups()) if errors else 0)
        + float(non2xx.group(1) if non2xx else 0),
    }


class Setup:
    """The engine with one instance (and its HAProxy), a plain HAProxy, torn down on exit."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.work = tmp / "work"
        self.work.mkdir()
        self.env = {**os.environ, "MOORING_HOME": str(self.home)}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports: dict[str, int] = {}

    def mooring(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "mooring", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.work,
            timeout=120,
        )
        if result.returncode != 0:
            sys.exit(f"proxy_bench: mooring {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result.stdout

    def start(self) -> None:
        published = free_port()
        (self.work / "server.py").write_text(SERVER)
        (self.work / "mooring.toml").write_text(MANIFEST.format(python=sys.executable, port=published))
        self.mooring("up")
        rows = json.loads(self.mooring("ps", "--json", "--app", "proxybench"))
        self.ports["direct"] = int(rows[0]["ports"]["8000"])
        self.ports["mooring"] = published
        self.ports["haproxy"] = free_port()
        config = self.tmp / "haproxy.cfg"
        config.write_text(HAPROXY.format(port=self.ports["haproxy"], upstream=self.ports["direct"]))
        self.spawn(["haproxy", "-f", str(config)])
        for name, port in self.ports.items():
            wait_port(name, port)
        self.instance_pid = int(rows[0]["pid"])

    def pids(self) -> dict[str, list[int]]:
        """The processes whose CPU a profile splits: the instance, each HAProxy (master and workers), the engine."""
        import psutil

        def tree(pid: int) -> list[int]:
            try:
                return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
            except psutil.Error:
                return [pid]

        managed = int((self.home / "haproxy" / "haproxy.pid").read_text().split()[0])
        engine = []
        for proc in psutil.process_iter(["cmdline", "environ"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
                env = proc.info["environ"] or {}
            except psutil.Error:
                continue
            if env.get("MOORING_HOME") == str(self.home) and cmdline.endswith("-m mooring serve"):
                engine.append(proc.pid)
        return {
            "instance": [self.instance_pid],
            "mooring": tree(managed),
            "haproxy": tree(self.procs[0].pid),
            "engine": engine,
        }

    def spawn(self, argv: list[str]) -> None:
        log = open(self.tmp / f"{len(self.procs)}.log", "wb")  # noqa: SIM115 (closed with the temp dir)
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT))

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
        if self.home.exists():
            subprocess.run(
                [sys.executable, "-m", "mooring", "down", "--app", "proxybench"],
                env=self.env,
                cwd=self.work,
                capture_output=True,
                timeout=60,
            )
            pidfile = self.home / "haproxy" / "haproxy.pid"  # down of the last app stops it; if not:
            if pidfile.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.killpg(int(pidfile.read_text().split()[0]), signal.SIGKILL)
            import psutil

            for proc in psutil.process_iter(["cmdline", "environ"]):
                try:
                    env = proc.info["environ"] or {}
                    if "serve" in (proc.info["cmdline"] or []) and env.get("MOORING_HOME") == str(self.home):
                        proc.kill()
                except psutil.Error:
                    continue


def profile(
    pids: dict[str, list[int]],
    before: tuple[dict[str, float], dict[str, float], float, tuple[int, int]],
    result: dict[str, float],
) -> dict[str, float]:
    """CPU microseconds per request of each process group over one wrk run, the microseconds per request
    its threads waited for a core (run queue), and the cores' busy share."""
    cpu, waited, wrk_cpu, (busy, total) = before
    requests = max(result["requests"], 1.0)
    row = {name: 1e6 * (cpu_seconds(group) - cpu[name]) / requests for name, group in pids.items()}
    row.update(
        {
            f"{name} wait": 1e6 * (runqueue_seconds(group) - waited[name]) / requests
            for name, group in pids.items()
        }
    )
    row["wrk"] = 1e6 * (children_cpu() - wrk_cpu) / requests
    busy_after, total_after = machine_ticks()
    row["busy"] = 100.0 * (busy_after - busy) / max(total_after - total, 1)
    return row


def report_profile(profiles: dict[tuple[str, str], list[dict[str, float]]], targets: list[str]) -> None:
    """Where the CPU goes: per request, by process, medians of the runs; and how busy the cores were."""
    cores = os.cpu_count() or 1
    print(
        f"\nCPU per request (microseconds, user + system, medians) on {cores} cores; busy = all cores' busy share"
    )
    columns = ["wrk", "instance", "proxy", "engine", "total", "busy %"]
    print(f"{'mode':<10} {'target':<10} " + " ".join(f"{c:>9}" for c in columns))
    for mode in ("keepalive", "newconn"):
        for target in targets:
            rows = profiles[(mode, target)]
            proxy_key = target if target in ("mooring", "haproxy") else None

            def median_of(key: str, runs: list[dict[str, float]] = rows) -> float:
                return statistics.median(r[key] for r in runs)

            wrk_us, instance_us, engine_us = median_of("wrk"), median_of("instance"), median_of("engine")
            proxy_us = median_of(proxy_key) if proxy_key else 0.0
            total = wrk_us + instance_us + proxy_us + (engine_us if target == "mooring" else 0.0)
            values = [
                wrk_us,
                instance_us,
                proxy_us,
                engine_us if target == "mooring" else 0.0,
                total,
                median_of("busy"),
            ]
            print(f"{mode:<10} {target:<10} " + " ".join(f"{v:>9.1f}" for v in values))
    print("\nrun-queue wait per request (microseconds a thread was runnable but had no core, medians)")
    print(f"{'mode':<10} {'target':<10} " + " ".join(f"{c:>9}" for c in ["instance", "proxy"]))
    for mode in ("keepalive", "newconn"):
        for target in targets:
            rows = profiles[(mode, target)]
            proxy_wait = statistics.median(r[f"{target} wait"] for r in rows) if target != "direct" else 0.0
            instance_wait = statistics.median(r["instance wait"] for r in rows)
            print(f"{mode:<10} {target:<10} {instance_wait:>9.1f} {proxy_wait:>9.1f}")


def summary(values: list[float]) -> dict[str, Any]:
    return {"min": min(values), "median": statistics.median(values), "runs": values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short run per case (under 20 s)")
    parser.add_argument("--json", dest="json_path", help="write the results here")
    parser.add_argument("--duration", type=float, help="seconds per wrk run (default 10, smoke 1)")
    parser.add_argument("--runs", type=int, help="runs per case (default 3, smoke 1)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    opts = parser.parse_args()
    need("wrk", "wrk")
    need("haproxy", "haproxy")
    duration = opts.duration or (1.0 if opts.smoke else 10.0)
    runs = opts.runs or (1 if opts.smoke else 3)
    targets = ["direct", "mooring", "haproxy"]

    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    profiles: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="mooring-proxy-bench-") as tmp:
        setup = Setup(Path(tmp))
        try:
            setup.start()
            for mode in ("keepalive", "newconn"):
                for target in targets:
                    wrk(setup.ports[target], min(duration, 1.0), opts.connections, mode == "newconn")  # warm
                for _ in range(runs):  # interleaved, so a noisy neighbour hits every target alike
                    for target in targets:
                        pids = setup.pids()
                        before = (
                            {k: cpu_seconds(v) for k, v in pids.items()},
                            {k: runqueue_seconds(v) for k, v in pids.items()},
                            children_cpu(),
                            machine_ticks(),
                        )
                        result = wrk(setup.ports[target], duration, opts.connections, mode == "newconn")
                        results.setdefault((mode, target), []).append(result)
                        profiles.setdefault((mode, target), []).append(profile(pids, before, result))
        finally:
            setup.close()

    scenarios = report(results, targets, runs, opts.connections)
    report_profile(profiles, targets)
    if opts.json_path:
        Path(opts.json_path).write_text(
            json.dumps(
                {
                    "bench": "proxy",
                    "smoke": opts.smoke,
                    "scenarios": scenarios,
                    "profile": [{"mode": m, "target": t, "runs": rows} for (m, t), rows in profiles.items()],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


def med(results: dict[tuple[str, str], list[dict[str, float]]], mode: str, target: str, key: str) -> float:
    return statistics.median(r[key] for r in results[(mode, target)])


def report(
    results: dict[tuple[str, str], list[dict[str, float]]], targets: list[str], runs: int, connections: int
) -> list[dict[str, Any]]:
    print(f"wrk -t1 -c{connections}, {runs} run(s) per case, medians; ratio and added p99 against direct")
    header = f"{'mode':<10} {'target':<14} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs direct':>10} {'+p99 ms':>8} {'errors':>7}"
    print(header)
    scenarios: list[dict[str, Any]] = []
    for mode in ("keepalive", "newconn"):
        direct_rps = med(results, mode, "direct", "rps")
        direct_p99 = med(results, mode, "direct", "p99")
        for target in targets:
            rps, p50, p99 = (med(results, mode, target, k) for k in ("rps", "p50", "p99"))
            errors = sum(r["errors"] for r in results[(mode, target)])
            ratio = f"{100 * rps / direct_rps:.0f}%" if target != "direct" else "-"
            added = f"{p99 - direct_p99:+.2f}" if target != "direct" else "-"
            print(
                f"{mode:<10} {target:<14} {rps:>10.0f} {p50:>8.2f} {p99:>8.2f} {ratio:>10} {added:>8} {errors:>7.0f}"
            )
        peers = [t for t in targets if t not in ("direct", "mooring")]
        for key, unit, better in (("rps", "req/s", "higher"), ("p50", "ms", "lower"), ("p99", "ms", "lower")):
            values = [r[key] for r in results[(mode, "mooring")]]
            floor = [r[key] for r in results[(mode, "direct")]]
            scenarios.append(
                {
                    "name": f"{mode} {key}",
                    "n": None,
                    "unit": unit,
                    "better": better,
                    "mooring": summary(values),
                    "floor": {
                        "label": "direct to the instance",
                        "min": min(floor),
                        "median": statistics.median(floor),
                    },
                    "peers": {
                        p: {
                            "min": min(r[key] for r in results[(mode, p)]),
                            "median": med(results, mode, p, key),
                        }
                        for p in peers
                    },
                }
            )
        ratios = [100 * r["rps"] / direct_rps for r in results[(mode, "mooring")]]
        scenarios.append(
            {
                "name": f"{mode} throughput vs direct",
                "n": None,
                "unit": "%",
                "better": "higher",
                "mooring": summary(ratios),
                "floor": None,
                "peers": {
                    p: {
                        "min": min(100 * r["rps"] / direct_rps for r in results[(mode, p)]),
                        "median": 100 * med(results, mode, p, "rps") / direct_rps,
                    }
                    for p in peers
                },
            }
        )
    print("goal: mooring >= 70% of direct throughput, < 1 ms added p99")
    return scenarios


if __name__ == "__main__":
    sys.exit(main())
