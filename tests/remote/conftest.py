"""A second, remote engine: `mooring serve --listen 127.0.0.1:<free port>` with its own MOORING_HOME.

`Served.host` is the CLI on the engine's host (unix socket, no token); `Served.client(token, via)` is a
CLI elsewhere: its own empty MOORING_HOME (so a command that wrongly went local would start an engine
there, which the teardown checks), reaching the engine with `--server` or with MOORING_SERVER.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.engine.conftest import Mooring, free_port, stop_haproxy, wait_until

VIAS = ["flag", "env"]


class RemoteCli(Mooring):
    """The CLI on another machine: every command goes to the remote engine by flag or by environment."""

    via: str = "flag"
    server: str = ""

    def run(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        if self.via == "flag":
            args = (*args, "--server", self.server)
        return super().run(*args, check=check, timeout=timeout)


@dataclass
class Served:
    """A running `mooring serve --listen` and the CLI on its host."""

    host: Mooring
    port: int
    address: str
    log: Path
    proc: subprocess.Popen[bytes]
    tls_args: list[str]
    clients: list[RemoteCli] = field(default_factory=list)

    def token(self, scope: str, name: str | None = None) -> str:
        """A token made with the CLI on the engine's host, as an operator would."""
        args = ["token", "create", "--scope", scope] + (["--name", name] if name else [])
        created = self.host.run(*args, check=True)
        return created.stdout.strip()

    def client(self, token: str | None, via: str = "flag", **env: str) -> RemoteCli:
        home = self.host.home.parent / f"client-{len(self.clients)}"
        client_env = {k: v for k, v in self.host.env.items() if not k.startswith("MOORING_")}
        client_env.update({"MOORING_HOME": str(home), "PYTHONUNBUFFERED": "1", **env})
        if token is not None:
            client_env["MOORING_TOKEN"] = token
        if via == "env":
            client_env["MOORING_SERVER"] = self.address
        cli = RemoteCli(home=home, env=client_env, cwd=self.host.cwd)
        cli.via, cli.server = via, self.address
        self.clients.append(cli)
        return cli

    def start(self) -> None:
        """(Re)start the engine on the same home and port."""
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mooring",
                    "serve",
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    *self.tls_args,
                ],
                env=self.host.env,
                cwd=self.host.cwd,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        wait_until(
            self._answers, timeout=30, what=f"the engine to answer on port {self.port} (log: {self.log})"
        )

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"mooring serve exited {self.proc.returncode}:\n{self.log.read_text()}")
        transport = httpx.HTTPTransport(uds=str(self.host.home / "engine.sock"))
        try:
            with httpx.Client(transport=transport, base_url="http://mooring", timeout=5) as c:
                c.get("/v1/engine").raise_for_status()
            with httpx.Client(verify=False, timeout=5) as c:
                c.get(f"{self.address if '://' in self.address else 'http://' + self.address}/v1/engine")
        except httpx.HTTPError:
            return False
        return True

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@contextlib.contextmanager
def serving(root: Path, tls: tuple[Path, Path] | None = None) -> Iterator[Served]:
    home, work = root / "home", root / "work"
    work.mkdir(parents=True)
    env = {**os.environ, "MOORING_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    for key in (
        "MOORING_DATABASE_URL",
        "MOORING_SERVER",
        "MOORING_TOKEN",
        "MOORING_CA_CERT",
        "MOORING_LISTEN",
    ):
        env.pop(key, None)
    port = free_port()
    tls_args = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
    address = f"https://127.0.0.1:{port}" if tls else f"127.0.0.1:{port}"
    host = Mooring(home=home, env=env, cwd=work)
    served = Served(host, port, address, root / "serve.log", None, tls_args)  # type: ignore[arg-type]
    served.start()
    try:
        yield served
    finally:
        with contextlib.suppress(Exception):
            for app in {r["app"] for r in host.ps()}:
                host.run("down", "--app", app, timeout=60)
        served.kill()
        host.kill_leftovers()
        stop_haproxy(home)
    for cli in served.clients:  # nothing went to a local engine by mistake
        assert not (cli.home / "engine.sock").exists(), f"a command started a local engine in {cli.home}"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path) as s:
        yield s


@pytest.fixture(params=VIAS)
def via(request: pytest.FixtureRequest) -> str:
    """How the client names the engine: `--server HOST:PORT` or MOORING_SERVER."""
    return str(request.param)


def self_signed(directory: Path, name: str = "engine") -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.fail("the TLS tests need the openssl CLI to make a certificate: apt-get install openssl")
    cert, key = directory / f"{name}.pem", directory / f"{name}-key.pem"
    result = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"openssl could not make a test certificate (apt-get install openssl):\n{result.stderr}")
    return cert, key
