"""Rollout benchmark: the executor's own overhead per batch, beyond the waits it was asked to make.

A rolling update of N replicas (parallelism P) of a tiny HTTP service with an http health check.
Overhead = wall time of the release (first target starting to completion, from the release's own
events) minus the time spent waiting for instances to become ready (each batch's slowest target,
from target.starting to target.gated, when its gate passed) and minus delay_between_batches. What is left is planning,
journaling, spawning and stopping: the executor's own cost, reported per batch and per replica.

    .venv/bin/python bench/rollout_bench.py --cases 20:5,100:5 --out bench/results/rollout.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

SERVER = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def manifest(n: int, parallelism: int) -> str:
    return f"""
[app]
name = "bench"
[service.web]
command = ["{sys.executable}", "server.py"]
ports = ["8000"]
replicas = {n}
env = {{ V = "${{V:-1}}" }}
[service.web.health_check]
type = "http"
interval = "100ms"
timeout = "1s"
[service.web.rollout]
parallelism = {parallelism}
health_check_timeout = "60s"
"""


def stop_engine(home: Path) -> None:
    """Kill the engine this run started (found by its MOORING_HOME)."""
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            if "serve" in (proc.info["cmdline"] or []) and (proc.info["environ"] or {}).get(
                "MOORING_HOME"
            ) == str(home):
                proc.kill()
        except psutil.Error:
            continue


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def run_case(n: int, parallelism: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mooring-rollout-") as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        work.mkdir()
        (work / "server.py").write_text(SERVER)
        (work / "mooring.toml").write_text(manifest(n, parallelism))
        env = {**os.environ, "MOORING_HOME": str(home)}

        def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "mooring", *args],
                cwd=work,
                env={**env, **extra},
                capture_output=True,
                text=True,
                timeout=1800,
            )

        try:
            first = cli("up")
            if first.returncode != 0:
                raise SystemExit(f"initial up failed:\n{first.stdout}\n{first.stderr}")
            started = time.perf_counter()
            second = cli("up", "--json", V="2")
            wall = time.perf_counter() - started
            release = json.loads(second.stdout)
            if release["status"] != "completed":
                raise SystemExit(f"rolling update ended {release['status']}: {release['message']}")
            transport = httpx.HTTPTransport(uds=str(home / "engine.sock"))
            with httpx.Client(transport=transport, base_url="http://mooring") as client:
                events = client.get(f"/v1/releases/{release['id']}/events").json()
        finally:
            cli("down")
            stop_engine(home)
    starting: dict[str, float] = {}
    ready: dict[str, float] = {}
    batch_of: dict[str, int] = {}
    for e in events:
        if e["type"] == "target.starting":
            starting[e["target"]] = stamp(e["at"])
        elif e["type"] == "target.gated":
            ready[e["target"]] = stamp(e["at"])
    batches: dict[int, list[str]] = {}
    current = 0
    for e in events:
        if e["type"] == "batch.started":
            current = e["batch"]
            for name in e["targets"]:
                batch_of[name] = current
                batches.setdefault(current, []).append(name)
    begin = stamp(next(e["at"] for e in events if e["type"] == "release.started"))
    end = stamp(next(e["at"] for e in events if e["type"] == "release.completed"))
    waited = 0.0
    for names in batches.values():
        waited += max(ready[n] - starting[n] for n in names)
    overhead = (end - begin) - waited
    return {
        "replicas": n,
        "parallelism": parallelism,
        "batches": len(batches),
        "cli_wall_s": wall,
        "release_s": end - begin,
        "readiness_wait_s": waited,
        "overhead_s": overhead,
        "overhead_per_batch_ms": overhead / len(batches) * 1000,
        "overhead_per_replica_ms": overhead / n * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default="20:5,100:5", help="REPLICAS:PARALLELISM,...")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = [run_case(int(a), int(b)) for a, b in (c.split(":") for c in args.cases.split(","))]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2))
    print(
        f"{'N':>5} {'P':>4} {'batches':>8} {'release s':>10} {'ready wait s':>13} {'overhead s':>11} "
        f"{'ms/batch':>9} {'ms/replica':>11}"
    )
    for r in rows:
        print(
            f"{r['replicas']:>5} {r['parallelism']:>4} {r['batches']:>8} {r['release_s']:>10.2f} "
            f"{r['readiness_wait_s']:>13.2f} {r['overhead_s']:>11.2f} {r['overhead_per_batch_ms']:>9.1f} "
            f"{r['overhead_per_replica_ms']:>11.1f}"
        )
    print("overhead = release time - per-batch readiness waits (slowest target of each batch)")


if __name__ == "__main__":
    main()
