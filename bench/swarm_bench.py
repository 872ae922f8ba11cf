"""Swarm benchmark: a rolling update of N replicas across a 3-node Swarm, mooring vs ``docker service update``.

Both sides run in the same run on the same real 3-node Swarm (tests/swarm/swarm_fixture.py: one
dockerd per network namespace), the same image change (tag 1 -> 2 of the busybox test image), the
same parallelism and start-first order, and no health check:

- mooring: ``mooring up`` of an app with ``cluster = true`` whose one service has ``replicas = N``
  (one Swarm service per slot; batches of P), timed from the CLI call to its exit;
- peer: ``docker service update --image ... --update-parallelism P --update-order start-first
  --update-monitor 1ms`` of one Swarm service of N replicas (the docker CLI waits until it
  converged), timed the same way.

    python bench/swarm_bench.py [--smoke] [--json PATH]

``--smoke`` updates 6 replicas once; without it N = 30, three runs each.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import figure, stop_engine_of  # noqa: E402
from tests.swarm.swarm_fixture import Swarm, load_image, swarm_cluster  # noqa: E402

COMMAND = ["httpd", "-f", "-p", "8080", "-h", "/www"]
PARALLELISM = 5


def mooring_bin() -> list[str]:
    return [sys.executable, "-m", "mooring"]


def manifest(n: int, version: str) -> str:
    return f"""
[app]
name = "swbench"
cluster = true

[service.web]
image = "mooring-test/web:{version}"
command = {json.dumps(COMMAND)}
ports = ["8080"]
replicas = {n}
stop_timeout = "1s"

[service.web.rollout]
parallelism = {PARALLELISM}
health_check_timeout = "120s"
"""


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return done


def time_mooring(n: int, work: Path, env: dict[str, str]) -> float:
    (work / "mooring.toml").write_text(manifest(n, "1"))
    run([*mooring_bin(), "up"], cwd=work, env=env)
    (work / "mooring.toml").write_text(manifest(n, "2"))
    started = time.perf_counter()
    run([*mooring_bin(), "up"], cwd=work, env=env)
    elapsed = time.perf_counter() - started
    rows = json.loads(run([*mooring_bin(), "ps", "--json"], cwd=work, env=env).stdout)
    if len([r for r in rows if r["state"] == "running"]) != n:
        raise SystemExit(f"mooring up returned but not {n} instances run: {rows}")
    run([*mooring_bin(), "down", "--app", "swbench"], cwd=work, env=env)
    return elapsed


def time_docker(swarm: Swarm, n: int, docker: str) -> float:
    host = ["-H", swarm.manager.url]
    name = f"peer{int(time.time() * 1000) % 100000}"
    run(
        [
            docker, *host, "service", "create", "--quiet", "--detach=false", "--name", name,
            "--replicas", str(n), "--endpoint-mode", "dnsrr", "--network", "bench-net",
            "--publish", "mode=host,target=8080", "--stop-grace-period", "1s", "--no-resolve-image",
            "mooring-test/web:1", *COMMAND,
        ]
    )  # fmt: skip
    started = time.perf_counter()
    run(
        [
            docker, *host, "service", "update", "--quiet", "--detach=false", "--no-resolve-image",
            "--image", "mooring-test/web:2", "--update-parallelism", str(PARALLELISM),
            "--update-order", "start-first", "--update-monitor", "1ms", name,
        ]
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    run([docker, *host, "service", "rm", name])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="6 replicas, one run")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit("swarm_bench: the docker CLI is not installed: install the Debian package docker.io")
    sizes, repeat = ([6], 1) if args.smoke else ([30], 3)
    scenarios = []
    with (
        tempfile.TemporaryDirectory(prefix="mooring-swbench-") as tmp,
        swarm_cluster(Path(tmp) / "s") as swarm,
    ):
        for version in ("1", "2"):
            load_image(swarm, version)
        swarm.manager.client().networks.create("bench-net", driver="overlay", attachable=True)
        work = Path(tmp) / "work"
        work.mkdir()
        env = {**os.environ, "MOORING_HOME": str(Path(tmp) / "home"), "MOORING_SWARM_HOST": swarm.manager.url}
        env.pop("MOORING_DATABASE_URL", None)
        run([*mooring_bin(), "ps"], cwd=work, env=env)  # starts the engine outside the timing
        try:
            for n in sizes:
                ours, peer = [], []
                for _ in range(repeat):
                    peer.append(time_docker(swarm, n, docker))
                    ours.append(time_mooring(n, work, env))
                scenarios.append(
                    {
                        "name": f"rolling_update_{n}_replicas_3_nodes",
                        "n": n,
                        "unit": "s",
                        "better": "lower",
                        "mooring": figure(ours),
                        "floor": {
                            "label": "docker service update (same change, parallelism, order)",
                            **figure(peer),
                        },
                        "peers": {"docker service update": figure(peer)},
                    }
                )
        finally:
            with contextlib.suppress(Exception):
                subprocess.run(
                    [*mooring_bin(), "down", "--app", "swbench"],
                    cwd=work,
                    env=env,
                    capture_output=True,
                    timeout=300,
                )
            stop_engine_of(Path(env["MOORING_HOME"]))
    print(f"{'scenario':<36} {'N':>4} {'mooring median':>15} {'docker median':>14} {'ratio':>6}")
    for s in scenarios:
        ratio = s["mooring"]["median"] / s["floor"]["median"]
        print(
            f"{s['name']:<36} {s['n']:>4} {s['mooring']['median']:>14.2f}s {s['floor']['median']:>13.2f}s {ratio:>5.2f}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"bench": "swarm", "smoke": args.smoke, "scenarios": scenarios}, indent=2)
        )


if __name__ == "__main__":
    main()
