"""Container benchmark: mooring's time to bring up N containers vs ``docker run -d`` N times.

Both sides run in the same run, against the same private dockerd (own roots, socket and bridge)
and the same image (a busybox-static rootfs, ``docker import``ed: no registry is needed):

- mooring: ``mooring up`` of one service with ``image``, ``replicas = N`` and ``parallelism = N``
  (one batch, no health check, so "up" means every container runs), timed from the CLI call to
  its exit, with the engine already started;
- floor: ``docker run -d`` of the same image and command, N times in a row (the docker CLI).

    python bench/container_bench.py [--smoke] [--json PATH]

``--smoke`` brings up 2 containers once; without it N = 10 and 50, three runs each. dockerd
(Debian package docker.io), the docker CLI and /bin/busybox (busybox-static) must be installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import stop_engine_of  # noqa: E402
from tests.container.private_dockerd import PrivateDockerd, build_image, private_dockerd, require_tools  # noqa: E402

IMAGE_VERSION = "1"
IMAGE = f"mooring-test/web:{IMAGE_VERSION}"
COMMAND = ["/bin/sleep", "3600"]


def mooring_bin() -> list[str]:
    return [sys.executable, "-m", "mooring"]


def manifest(n: int) -> str:
    return f"""
[app]
name = "cbench"

[service.idle]
image = "{IMAGE}"
command = {json.dumps(COMMAND)}
replicas = {n}
stop_timeout = "1s"

[service.idle.rollout]
parallelism = {n}
"""


def remove_all(daemon: PrivateDockerd) -> None:
    client = daemon.client()
    for row in client.containers(all=True):
        client.remove_container(row["Id"], force=True)


def time_mooring(daemon: PrivateDockerd, n: int, work: Path, env: dict[str, str]) -> float:
    (work / "mooring.toml").write_text(manifest(n))
    started = time.perf_counter()
    result = subprocess.run(
        [*mooring_bin(), "up"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"mooring up of {n} containers failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    running = [r for r in json.loads(run_ps(work, env)) if r["state"] == "running"]
    if len(running) != n:
        raise SystemExit(f"mooring up returned but {len(running)} of {n} containers run")
    down = subprocess.run(
        [*mooring_bin(), "down"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    if down.returncode != 0:
        raise SystemExit(f"mooring down failed:\n{down.stdout}\n{down.stderr}")
    remove_all(daemon)
    return elapsed


def run_ps(work: Path, env: dict[str, str]) -> str:
    return subprocess.run(
        [*mooring_bin(), "ps", "--json"], cwd=work, env=env, capture_output=True, text=True, check=True
    ).stdout


def time_docker_run(daemon: PrivateDockerd, n: int, docker: str) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run(
            [docker, "-H", daemon.url, "run", "-d", "--init", IMAGE, *COMMAND],
            check=True,
            capture_output=True,
            timeout=120,
        )
    elapsed = time.perf_counter() - started
    remove_all(daemon)
    return elapsed


def summary(runs: list[float]) -> dict[str, Any]:
    return {
        "min": round(min(runs), 4),
        "median": round(statistics.median(runs), 4),
        "runs": [round(r, 4) for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="2 containers, one run: under 20 s")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    try:
        require_tools()
    except RuntimeError as exc:
        raise SystemExit(f"container_bench: {exc}") from None
    docker = shutil.which("docker")
    if docker is None:
        raise SystemExit(
            "container_bench: the docker CLI is not installed: install the Debian package docker.io"
        )
    sizes, repeat = ([2], 1) if args.smoke else ([10, 50], 3)
    scenarios = []
    with (
        tempfile.TemporaryDirectory(prefix="mooring-cbench-") as tmp,
        private_dockerd(Path(tmp) / "d") as daemon,
    ):
        build_image(daemon.client(), IMAGE_VERSION)
        work = Path(tmp) / "work"
        work.mkdir()
        env = {**os.environ, "MOORING_HOME": str(Path(tmp) / "home"), "DOCKER_HOST": daemon.url}
        env.pop("MOORING_DATABASE_URL", None)
        run_ps(work, env)  # starts the engine: its start-up is not part of the bring-up
        try:
            for n in sizes:
                mooring_runs, floor_runs = [], []
                for _ in range(repeat):
                    floor_runs.append(time_docker_run(daemon, n, docker))
                    mooring_runs.append(time_mooring(daemon, n, work, env))
                scenarios.append(
                    {
                        "name": f"bring_up_{n}_containers",
                        "n": n,
                        "unit": "s",
                        "better": "lower",
                        "mooring": summary(mooring_runs),
                        "floor": {"label": f"docker run -d x{n}, one after another", **summary(floor_runs)},
                        "peers": {},
                    }
                )
        finally:
            with contextlib.suppress(Exception):
                subprocess.run([*mooring_bin(), "down"], cwd=work, env=env, capture_output=True, timeout=120)
            stop_engine_of(Path(env["MOORING_HOME"]))
    print(
        f"{'scenario':<26} {'N':>4} {'mooring min':>12} {'median':>8} {'docker run min':>15} {'median':>8} {'ratio':>6}"
    )
    for s in scenarios:
        ratio = s["mooring"]["median"] / s["floor"]["median"]
        print(
            f"{s['name']:<26} {s['n']:>4} {s['mooring']['min']:>11.2f}s {s['mooring']['median']:>7.2f}s"
            f" {s['floor']['min']:>14.2f}s {s['floor']['median']:>7.2f}s {ratio:>5.2f}x"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"bench": "container", "smoke": args.smoke, "scenarios": scenarios}, indent=2)
        )


if __name__ == "__main__":
    main()
