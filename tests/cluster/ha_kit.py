"""Two (or more) real engines sharing one PostgreSQL as a cluster: each its own MOORING_HOME and TCP
listener, one secret keyring between them (as docs/cluster.md asks)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

from tests.kit import free_port, wait_until

CLUSTER = "ha-test"
LEASE = "3"


@dataclass
class EngineNode:
    """One engine of the cluster: started with ``mooring serve --listen``; talked to over its unix socket."""

    name: str
    home: Path
    port: int
    env: dict[str, str]
    cwd: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.home.parent / f"{self.name}-engine.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, **extra_env: str) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mooring", "serve", "--listen", self.address],
                env={**self.env, **extra_env},
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self.answers, timeout=30, what=f"engine {self.name} to answer")

    def answers(self) -> bool:
        try:
            self.info()
            return True
        except (httpx.HTTPError, OSError, ValueError):
            return False

    def get(self, path: str, timeout: float = 30) -> Any:
        transport = httpx.HTTPTransport(uds=str(self.home / "engine.sock"))
        with httpx.Client(transport=transport, base_url="http://mooring", timeout=timeout) as client:
            reply = client.get(path)
            reply.raise_for_status()
            return reply.json()

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/v1/engine", timeout=5)
        return result

    def role(self) -> str | None:
        try:
            return str(self.info().get("role"))
        except (httpx.HTTPError, OSError, ValueError):
            return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def run(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        """The CLI as an operator on this engine's host runs it (its unix socket)."""
        return subprocess.run(
            [sys.executable, "-m", "mooring", *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            cwd=self.cwd,
            timeout=timeout,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
                os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@dataclass
class Cluster:
    url: str
    work: Path
    a: EngineNode
    b: EngineNode

    def db(self) -> sa.Engine:
        return sa.create_engine(self.url)

    def leader(self) -> EngineNode | None:
        for node in (self.a, self.b):
            if node.alive() and node.role() == "leader":
                return node
        return None

    def events(self, app: str) -> list[dict[str, Any]]:
        """Every event of the app straight from the database, with the epoch that wrote it."""
        engine = self.db()
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT e.app_seq, e.type, e.epoch, e.release_id, e.payload, e.created_at "
                        "FROM events e JOIN apps a ON a.id = e.app_id WHERE a.name = :app ORDER BY e.app_seq"
                    ),
                    {"app": app},
                ).all()
        finally:
            engine.dispose()
        return [dict(r._mapping) for r in rows]

    def processes(self, script: str = "versioned.py") -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "cwd"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["cwd"] == str(self.work) and script in " ".join(proc.info["cmdline"] or []):
                    found.append(proc)
        return found

    def teardown(self) -> None:
        for node in (self.a, self.b):
            node.stop()
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                os.killpg(proc.pid, signal.SIGKILL)


def make_cluster(tmp: Path, url: str) -> Cluster:
    work = tmp / "work"
    work.mkdir()
    base = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MOORING_DATABASE_URL": url,
        "MOORING_CLUSTER": CLUSTER,
        "MOORING_CLUSTER_LEASE": LEASE,
        # one keyring for the cluster: an engine must open the sealed env of the other's instances
        "MOORING_SECRET_KEY_FILE": str(tmp / "secret.key"),
    }
    for key in ("MOORING_SERVER", "MOORING_TOKEN", "MOORING_FAULT", "V"):
        base.pop(key, None)

    def node(name: str) -> EngineNode:
        home = tmp / name
        return EngineNode(name, home, free_port(), {**base, "MOORING_HOME": str(home)}, work)

    return Cluster(url, work, node("a"), node("b"))


def up_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    try:
        body: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}"
        ) from None
    return body


def wait_leader(cluster: Cluster, node: EngineNode, timeout: float = 30) -> None:
    wait_until(lambda: node.role() == "leader", timeout=timeout, what=f"engine {node.name} to lead")


def now() -> float:
    return time.time()
