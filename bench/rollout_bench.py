"""Rollout benchmark: rolling restarts of N replicas, and the executor's own overhead with health gating.

1. Rolling restart without health gating (``health_check_timeout = "0s"``: started is ready), with
   parallelism 1 and 10: the wall time of ``mooring up`` after an env change until every one of the N
   sleepers has been replaced. Floor: replacing N bare sleepers one at a time (SIGTERM, reap,
   posix_spawn). Peers (parallelism 1): supervisord (stopProcess+startProcess per replica), circus
   (native sequential reload), pm2 (restart(id) per replica); honcho cannot do it.
2. Overhead with health gating: a rolling update of a tiny HTTP service with an http check. Overhead =
   the release's wall time (from its own events) minus each batch's wait for readiness (its slowest
   target, target.starting to target.gated): what is left is planning, journaling, spawning and
   stopping, reported per replica and per batch.

    .venv/bin/python bench/rollout_bench.py [--smoke] [--json PATH] [--n 10,100,500] [--peers ...]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers as peerkit
from benchkit import (
    SLEEP,
    Mooring,
    Scenario,
    emit,
    floor_replace_each,
    kill_by_token,
    mooring_env,
    wait_until,
)

SERVER = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def sleep_manifest(n: int, parallelism: int, token: str) -> str:
    return (
        f'[app]\nname = "bench"\n[service.t]\ncommand = ["{SLEEP}", "1000000.{token}"]\n'
        f'replicas = {n}\nenv = {{ V = "${{V:-1}}" }}\n'
        f'[service.t.rollout]\nhealth_check_timeout = "0s"\nparallelism = {parallelism}\n'
    )


def http_manifest(n: int, parallelism: int) -> str:
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


def sleeper_pids(token: str) -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if len(cmd) == 2 and cmd[1] == f"1000000.{token}" and proc.info["status"] != psutil.STATUS_ZOMBIE:
            pids.add(proc.pid)
    return pids


def rolling_restart(n: int, parallelism: int) -> float:
    """Seconds of ``mooring up`` replacing all N sleepers (the first up is not timed)."""
    token = f"{secrets.randbelow(10**8):08d}"
    try:
        with mooring_env("mooring-rolling-") as bench:
            (bench.work / "mooring.toml").write_text(sleep_manifest(n, parallelism, token))
            bench.cli("up")
            wait_until(lambda: len(sleeper_pids(token)) == n, 120, f"{n} sleepers running")
            old = sleeper_pids(token)
            started = time.perf_counter()
            bench.cli("up", V="2")
            wait_until(
                lambda: len(pids := sleeper_pids(token)) == n and not (pids & old),
                600,
                f"all {n} sleepers replaced",
            )
            return time.perf_counter() - started
    finally:
        kill_by_token(token)


def stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def gated_overhead(bench: Mooring, n: int, parallelism: int) -> dict[str, float]:
    (bench.work / "server.py").write_text(SERVER)
    (bench.work / "mooring.toml").write_text(http_manifest(n, parallelism))
    bench.cli("up")
    _, second = bench.cli("up", "--json", V="2")
    import json

    release = json.loads(second.stdout)
    if release["status"] != "completed":
        raise RuntimeError(f"rolling update ended {release['status']}: {release['message']}")
    transport = httpx.HTTPTransport(uds=str(bench.home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring") as client:
        events: list[dict[str, Any]] = client.get(f"/v1/releases/{release['id']}/events").json()
    starting = {e["target"]: stamp(e["at"]) for e in events if e["type"] == "target.starting"}
    ready = {e["target"]: stamp(e["at"]) for e in events if e["type"] == "target.gated"}
    batches = [e["targets"] for e in events if e["type"] == "batch.started"]
    begin = stamp(next(e["at"] for e in events if e["type"] == "release.started"))
    end = stamp(next(e["at"] for e in events if e["type"] == "release.completed"))
    waited = sum(max(ready[t] - starting[t] for t in names) for names in batches)
    overhead = (end - begin) - waited
    return {
        "per_replica_ms": overhead / n * 1000,
        "per_batch_ms": overhead / len(batches) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run each: checks that it works")
    parser.add_argument("--json", type=Path, help="write the result here (the suite's JSON shape)")
    parser.add_argument("--n", help="replica counts of the rolling restart (default 10,100,500; smoke 4)")
    parser.add_argument(
        "--gated", help="REPLICAS:PARALLELISM of the gated runs (default 10:1,100:10; smoke 4:2)"
    )
    parser.add_argument(
        "--repeat", type=int, help="runs of mooring per case (default 3, 1 at N>=500; smoke 1)"
    )
    parser.add_argument("--peers", default="supervisord,circus,pm2", help="peers to measure ('' for none)")
    parser.add_argument(
        "--pm2-max-n",
        type=int,
        default=100,
        help="largest N pm2 rolls (its restart takes ~260 ms per replica)",
    )
    args = parser.parse_args()
    ns = [int(x) for x in (args.n or ("4" if args.smoke else "10,100,500")).split(",")]
    gated = [
        tuple(int(v) for v in c.split(":"))
        for c in (args.gated or ("4:2" if args.smoke else "10:1,100:10")).split(",")
    ]
    peer_names = [p for p in peerkit.parse(args.peers) if p != "honcho"]  # honcho has no restart
    peerkit.ensure(peer_names)

    def reps(n: int) -> int:
        return args.repeat or (1 if args.smoke or n >= 500 else 3)

    scenarios: list[Scenario] = []
    for n in ns:
        token = f"{secrets.randbelow(10**8):08d}"
        floor = [floor_replace_each(n, token) for _ in range(reps(n))]
        for parallelism in (1,) if args.smoke else (1, 10):  # smoke: the same code, once
            s = Scenario(f"rolling restart P={parallelism} (no gating)", n, "s")
            s.mooring = [rolling_restart(n, parallelism) for _ in range(reps(n))]
            s.floor_label, s.floor = "replace N sleepers one by one", floor
            if parallelism == 1:
                for peer in peer_names:
                    if peer == "pm2" and n > args.pm2_max_n:
                        continue
                    runs = peerkit.measure(peer, n, 1 if args.smoke or n >= 500 else 2, "start,rolling,stop")
                    s.peers[peer] = [r["rolling_s"] for r in runs]
            scenarios.append(s)
    for n, parallelism in gated:
        runs = []
        for _ in range(reps(n)):
            with mooring_env("mooring-gated-") as bench:
                runs.append(gated_overhead(bench, n, parallelism))
        scenarios.append(
            Scenario(
                f"overhead/replica, gated, P={parallelism}",
                n,
                "ms",
                mooring=[r["per_replica_ms"] for r in runs],
            )
        )
        scenarios.append(
            Scenario(
                f"overhead/batch, gated, P={parallelism}", n, "ms", mooring=[r["per_batch_ms"] for r in runs]
            )
        )
    emit("rollout", args.smoke, scenarios, args.json, notes=f"pm2 rolls only N <= {args.pm2_max_n}")


if __name__ == "__main__":
    main()
