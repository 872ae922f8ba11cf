"""The peer supervisors, installed on first use into bench-only places and run through peer_driver.py.

supervisord, circus and honcho come from PyPI into bench/.peers/venv; pm2 from npm into
bench/.peers/node (``--ignore-scripts``: it needs no install scripts). Both are gitignored. A peer
that cannot be installed fails the benchmark with what to install; none is silently left out.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchkit import BENCH_DIR, fail

PEERS_DIR = BENCH_DIR / ".peers"
VENV = PEERS_DIR / "venv"
NODE = PEERS_DIR / "node"
PYPI_PEERS = ["supervisor==4.3.0", "circus==0.19.0", "honcho==2.0.0"]
ALL = ("supervisord", "circus", "honcho", "pm2")


def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        fail(f"{what} failed ({' '.join(argv)}):\n{result.stdout}{result.stderr}")


def ensure(peers: list[str]) -> None:
    """Install the peers asked for, once; later runs find them in place."""
    python_peers = [p for p in peers if p != "pm2"]
    if python_peers and not (VENV / ".installed").exists():
        print(f"installing {', '.join(PYPI_PEERS)} into {VENV} (first run only)", file=sys.stderr)
        _run([sys.executable, "-m", "venv", str(VENV)], "creating the peers venv")
        _run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", *PYPI_PEERS, "psutil"],
            "pip install of the peers",
        )
        (VENV / ".installed").write_text("\n".join(PYPI_PEERS))
    if "pm2" in peers and not (NODE / "node_modules" / "pm2" / "package.json").exists():
        npm, node = shutil.which("npm"), shutil.which("node")
        if npm is None or node is None:
            fail(
                "pm2 needs node and npm: install them (apt-get install nodejs npm) or pass --peers without pm2"
            )
        print(f"installing pm2 into {NODE} (first run only)", file=sys.stderr)
        NODE.mkdir(parents=True, exist_ok=True)
        _run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--silent", "pm2"],
            "npm install pm2",
            NODE,
        )


def measure(peer: str, n: int, repeat: int, ops: str, idle_window: float = 3.0) -> list[dict[str, Any]]:
    """Runs of one peer at N replicas; each run is a dict of the figures named in peer_driver.py."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        argv = [
            str(VENV / "bin" / "python"),
            str(BENCH_DIR / "peer_driver.py"),
            f"--peer={peer}",
            f"--n={n}",
            f"--repeat={repeat}",
            f"--ops={ops}",
            f"--idle-window={idle_window}",
            f"--json={out.name}",
        ]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise RuntimeError(f"peer {peer} at N={n} failed:\n{result.stderr[-3000:]}")
        runs: list[dict[str, Any]] = json.loads(Path(out.name).read_text())
        return runs


def parse(text: str) -> list[str]:
    chosen = [p for p in text.split(",") if p]
    unknown = sorted(set(chosen) - set(ALL))
    if unknown:
        fail(f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")
    return chosen
