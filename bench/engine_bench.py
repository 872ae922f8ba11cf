"""Engine benchmark: bring up N trivial process instances, idle cost with N running, status latency, stop.

Every mooring figure sits next to the floor, measured in the same run on the same machine (N bare
``posix_spawn`` calls of the same command; SIGTERM and reap; one loopback HTTP round trip; the
interpreter's own start), and next to the peers (supervisord, circus, honcho, pm2) doing the same
work through their own control APIs (bench/peer_driver.py).

    .venv/bin/python bench/engine_bench.py [--smoke] [--json PATH] [--n 10,100,500] [--peers ...]

mooring's start and stop are the wall time of the CLI (``mooring up`` / ``mooring down``, interpreter
start included) until all N sleepers are in /proc, or none is left; the peers' are their API calls.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers as peerkit
from benchkit import (
    SLEEP,
    Scenario,
    cpu_seconds,
    emit,
    floor_http_round_trip,
    floor_interpreter_start,
    floor_spawn,
    kill_by_token,
    mooring_env,
    pss_mib,
    tree_usage,
    wait_until,
)

STATUS_SAMPLES = 20


def manifest(n: int, token: str) -> str:
    return (
        f'[app]\nname = "bench"\n[service.t]\ncommand = ["{SLEEP}", "1000000.{token}"]\n'
        f'replicas = {n}\nrestart = "always"\n[service.t.rollout]\nhealth_check_timeout = "0s"\n'
        "parallelism = 1000\n"
    )


def sleepers(token: str) -> int:
    count = 0
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if len(cmd) == 2 and cmd[1] == f"1000000.{token}" and proc.info["status"] != psutil.STATUS_ZOMBIE:
            count += 1
    return count


def api_latency_ms(home: Path, path: str) -> float:
    """Median of keep-alive GETs over the engine's unix socket, as a long-lived API client sees it."""
    transport = httpx.HTTPTransport(uds=str(home / "engine.sock"))
    with httpx.Client(transport=transport, base_url="http://mooring") as client:
        client.get(path).raise_for_status()
        samples = []
        for _ in range(STATUS_SAMPLES):
            started = time.perf_counter()
            client.get(path).raise_for_status()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def run_once(n: int, idle_window: float, cli_samples: int) -> dict[str, float]:
    token = f"{secrets.randbelow(10**8):08d}"
    warm = f"{secrets.randbelow(10**8):08d}"
    out: dict[str, float] = {}
    try:
        with mooring_env("mooring-bench-") as bench:
            (bench.work / "mooring.toml").write_text(manifest(n, token))
            bench.cli("ps")  # starts the engine, outside the timed part
            engine = bench.engine()
            time.sleep(0.5)
            not_workload = lambda p: f"1000000.{token}" in " ".join(p.cmdline())  # noqa: E731
            out["empty_pss_mib"] = pss_mib(tree_usage(engine, not_workload))
            # The first bring-up loads code once (the process driver, the store's write paths, secrets):
            # a one-instance up and down first, so that the growth per instance is a slope, not the
            # one-time load divided by N (supervisord and circus load everything at start).
            (bench.work / "mooring.toml").write_text(manifest(1, warm))
            bench.cli("up")
            wait_until(lambda: sleepers(warm) == 1, 60, "the warm-up sleeper running")
            bench.cli("down")
            wait_until(lambda: sleepers(warm) == 0, 60, "the warm-up sleeper gone")
            (bench.work / "mooring.toml").write_text(manifest(n, token))
            time.sleep(0.5)
            pss_empty = pss_mib(tree_usage(engine, not_workload))
            started = time.perf_counter()
            bench.cli("up")
            wait_until(lambda: sleepers(token) == n, 120, f"{n} sleepers running")
            out["start_s"] = time.perf_counter() - started
            time.sleep(0.2 if idle_window < 1 else 1.0)  # settle, as for the peers
            procs = tree_usage(engine, not_workload)
            before = cpu_seconds(procs)
            time.sleep(idle_window)
            out["idle_cpu_pct"] = (cpu_seconds(procs) - before) / idle_window * 100
            out["idle_pss_mib"] = pss_mib(procs)
            out["pss_per_instance_mib"] = (out["idle_pss_mib"] - pss_empty) / n
            out["status_api_ms"] = api_latency_ms(bench.home, "/v1/instances")
            out["ps_cli_s"] = statistics.median(bench.cli("ps")[0] for _ in range(cli_samples))
            out["status_cli_s"] = statistics.median(
                bench.cli("status", "--app", "bench")[0] for _ in range(cli_samples)
            )
            started = time.perf_counter()
            bench.cli("down")
            wait_until(lambda: sleepers(token) == 0, 120, "every sleeper gone")
            out["stop_s"] = time.perf_counter() - started
    finally:
        kill_by_token(token)
        kill_by_token(warm)
    spawn, stop = floor_spawn(n, token)
    out["floor_spawn_s"], out["floor_stop_s"] = spawn, stop
    return out


SCENARIOS: list[tuple[str, str, str, str, str | None, str | None]] = [
    # name, mooring key, unit, better, floor key, peer key
    ("start all", "start_s", "s", "lower", "floor_spawn_s", "start_s"),
    ("stop all", "stop_s", "s", "lower", "floor_stop_s", "stop_s"),
    ("idle CPU", "idle_cpu_pct", "%", "lower", None, "idle_cpu_pct"),
    ("idle PSS", "idle_pss_mib", "MiB", "lower", None, "idle_pss_mib"),
    ("idle PSS, no instance", "empty_pss_mib", "MiB", "lower", None, "pss_empty_mib"),
    ("PSS growth per instance", "pss_per_instance_mib", "MiB", "lower", None, "pss_per_instance_mib"),
    ("status API", "status_api_ms", "ms", "lower", "floor_http_ms", "status_api_ms"),
    ("status CLI (mooring ps)", "ps_cli_s", "s", "lower", "floor_interp_s", "status_cli_s"),
    ("status CLI (mooring status --app)", "status_cli_s", "s", "lower", "floor_interp_s", "status_cli_s"),
]
FLOOR_LABELS = {
    "floor_spawn_s": "N posix_spawn of sleep",
    "floor_stop_s": "SIGTERM + reap of N",
    "floor_http_ms": "loopback HTTP round trip",
    "floor_interp_s": "python -c pass",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny N, one run each: checks that it works")
    parser.add_argument("--json", type=Path, help="write the result here (the suite's JSON shape)")
    parser.add_argument("--n", help="comma-separated instance counts (default 10,100,500; smoke 5)")
    parser.add_argument("--repeat", type=int, help="runs of mooring per N (default 3, 2 at N>=500; smoke 1)")
    parser.add_argument("--peer-repeat", type=int, help="runs of each peer per N (default 2, 1 at N>=500)")
    parser.add_argument("--peers", default=",".join(peerkit.ALL), help="peers to measure ('' for none)")
    parser.add_argument(
        "--idle-window", type=float, help="seconds of idle measurement (default 10: one clock tick is 0.1 %%)"
    )
    args = parser.parse_args()
    ns = [int(x) for x in (args.n or ("5" if args.smoke else "10,100,500")).split(",")]
    repeat = args.repeat or (1 if args.smoke else 3)
    idle = args.idle_window or (0.5 if args.smoke else 10.0)
    cli_samples = 2 if args.smoke else 5
    peer_names = peerkit.parse(args.peers)
    peerkit.ensure(peer_names)

    scenarios: list[Scenario] = []
    for n in ns:
        runs = [
            run_once(n, idle, cli_samples)
            for _ in range(min(repeat, 2) if n >= 500 and not args.repeat else repeat)
        ]
        http_floor = [statistics.median(floor_http_round_trip()) * 1000 for _ in range(repeat)]
        interp_floor = [statistics.median(floor_interpreter_start(cli_samples)) for _ in range(repeat)]
        peer_runs: dict[str, list[dict[str, Any]]] = {}
        for peer in peer_names:
            reps = args.peer_repeat or (1 if args.smoke or n >= 500 else 2)
            peer_runs[peer] = peerkit.measure(peer, n, reps, "start,idle,status,stop", idle)
            for run in peer_runs[peer]:
                if run.get("pss_empty_mib") is not None:
                    run["pss_per_instance_mib"] = (run["idle_pss_mib"] - run["pss_empty_mib"]) / n
        for name, key, unit, better, floor_key, peer_key in SCENARIOS:
            s = Scenario(name, n, unit, better, mooring=[r[key] for r in runs])
            if floor_key is not None:
                s.floor_label = FLOOR_LABELS[floor_key]
                s.floor = {
                    "floor_http_ms": http_floor,
                    "floor_interp_s": interp_floor,
                }.get(floor_key) or [r[floor_key] for r in runs]
            if peer_key is not None:
                for peer, prs in peer_runs.items():
                    values = [r[peer_key] for r in prs if r.get(peer_key) is not None]
                    if values:
                        s.peers[peer] = values
            scenarios.append(s)
    emit(
        "engine",
        args.smoke,
        scenarios,
        args.json,
        notes="start/stop of mooring include the CLI's own start-up; the peers' are API calls",
    )


if __name__ == "__main__":
    main()
