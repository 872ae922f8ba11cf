"""Drive one peer supervisor through its own control API and time the work mooring is timed on.

Runs with the bench-only peers venv (bench/.peers/venv, made by bench/peers.py), never the project's:

    bench/.peers/venv/bin/python bench/peer_driver.py --peer supervisor --n 100 --repeat 2 \
        --ops start,idle,status,stop --json out.json

Each run boots a fresh daemon in a temporary directory with one app of N replicas of
``sleep 1000000.<token>`` (the token finds our processes, which are killed by pid afterwards):

- start: "start all" through the API until the peer reports N running and N sleepers are in /proc;
- idle: after a 1 s settle, CPU% of one core and PSS of the peer's own processes (its tree minus the
  workload) over a window; pss_empty is the same PSS after boot, before start;
- status: the API status query (median of 5) and the peer's CLI status command (median of 3);
- rolling: replace every replica one at a time (supervisor: stopProcess+startProcess per replica,
  circus: native sequential reload, pm2: restart(id) per replica) until N new sleepers run;
- stop: "stop all" until no sleeper is left.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
NODE_DIR = HERE / ".peers" / "node" / "node_modules"


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.005) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f}s")
        time.sleep(interval)
    return time.perf_counter() - started


class Workload:
    def __init__(self) -> None:
        self.token = f"{secrets.randbelow(10**8):08d}"
        self.argv = ["/bin/sleep", f"1000000.{self.token}"]

    def procs(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            with contextlib.suppress(psutil.Error):
                if proc.info["cmdline"] == self.argv and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        return found

    def count(self) -> int:
        return len(self.procs())

    def kill_all(self) -> None:
        for proc in self.procs():
            with contextlib.suppress(psutil.Error):
                proc.kill()


class Peer:
    name = "?"
    can_roll = True

    def __init__(self, tmp: Path, wl: Workload, n: int) -> None:
        self.tmp, self.wl, self.n = tmp, wl, n
        self.log = open(tmp / f"{self.name}.log", "wb")  # noqa: SIM115 - closed in teardown
        self.proc: subprocess.Popen[bytes] | None = None

    def root(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def boot(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def rolling(self) -> None: ...
    def status_api(self) -> int:
        raise NotImplementedError

    def status_cli(self) -> tuple[list[str], dict[str, str] | None]:
        raise NotImplementedError

    def teardown(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Supervisor(Peer):
    name = "supervisord"

    def boot(self) -> None:
        import xmlrpc.client

        from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-not-found]

        sock = self.tmp / "s.sock"
        conf = self.tmp / "supervisord.conf"
        conf.write_text(
            f"[supervisord]\nnodaemon=true\nlogfile={self.tmp}/supervisord.log\npidfile={self.tmp}/s.pid\n"
            f"childlogdir={self.tmp}\nminfds={max(1024, 4 * self.n + 256)}\nminprocs={max(200, 2 * self.n + 64)}\n"
            f"[unix_http_server]\nfile={sock}\n"
            "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
            f"[supervisorctl]\nserverurl=unix://{sock}\n"
            f"[program:app]\ncommand={' '.join(self.wl.argv)}\nprocess_name=app_%(process_num)04d\n"
            f"numprocs={self.n}\nautostart=false\nautorestart=unexpected\n"
            # startsecs=0: RUNNING at spawn; the default 1 s would add a second to every start
            "startsecs=0\nstopwaitsecs=10\nstdout_logfile=NONE\nstderr_logfile=NONE\n"
        )
        self.conf = conf
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "supervisord"), "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT
        )

        def answers() -> bool:
            # a fresh proxy per try: the transport keeps a connection that stays broken after a refusal
            self.rpc = xmlrpc.client.ServerProxy(
                "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{sock}")
            )
            try:
                return self.rpc.supervisor.getState()["statename"] == "RUNNING"  # type: ignore[index, no-any-return]
            except Exception:
                return False

        wait_until(answers, 60, "supervisord answering on its socket", 0.02)

    def running(self) -> int:
        return sum(1 for p in self.rpc.supervisor.getAllProcessInfo() if p["statename"] == "RUNNING")  # type: ignore[union-attr]

    def start(self) -> None:
        self.rpc.supervisor.startProcessGroup("app", True)

    def stop(self) -> None:
        self.rpc.supervisor.stopProcessGroup("app", True)

    def rolling(self) -> None:
        for i in range(self.n):
            self.rpc.supervisor.stopProcess(f"app:app_{i:04d}", True)
            self.rpc.supervisor.startProcess(f"app:app_{i:04d}", True)

    def status_api(self) -> int:
        return self.running()

    def status_cli(self) -> tuple[list[str], dict[str, str] | None]:
        return [str(VENV_BIN / "supervisorctl"), "-c", str(self.conf), "status"], None


class Circus(Peer):
    name = "circus"

    def boot(self) -> None:
        from circus.client import CircusClient  # type: ignore[import-not-found]

        self.endpoint = f"ipc://{self.tmp}/circus.sock"
        conf = self.tmp / "circus.ini"
        conf.write_text(
            f"[circus]\nendpoint = {self.endpoint}\npubsub_endpoint = ipc://{self.tmp}/pubsub.sock\n"
            f"statsd = false\n[watcher:app]\ncmd = {self.wl.argv[0]}\nargs = {self.wl.argv[1]}\n"
            f"numprocesses = {self.n}\nautostart = false\ncopy_env = true\n"
        )
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "circusd"), str(conf)], stdout=self.log, stderr=subprocess.STDOUT
        )
        self.client = CircusClient(endpoint=self.endpoint, timeout=120)

        def answers() -> bool:
            try:
                return self.call("list", name="app") is not None
            except Exception:
                return False

        wait_until(answers, 60, "circusd answering on its endpoint", 0.02)

    def call(self, command: str, **props: Any) -> dict[str, Any]:
        reply: dict[str, Any] = self.client.call({"command": command, "properties": props})
        if reply.get("status") != "ok":
            raise RuntimeError(f"circus {command}: {reply}")
        return reply

    def running(self) -> int:
        return len(self.call("list", name="app")["pids"])

    def start(self) -> None:
        self.call("start", name="app", waiting=True)

    def stop(self) -> None:
        self.call("stop", name="app", waiting=True)

    def rolling(self) -> None:
        self.call("reload", name="app", graceful=True, sequential=True, waiting=True)

    def status_api(self) -> int:
        return self.running()

    def status_cli(self) -> tuple[list[str], dict[str, str] | None]:
        return [str(VENV_BIN / "circusctl"), "--endpoint", self.endpoint, "status"], None

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            self.call("quit", waiting=True)
        with contextlib.suppress(Exception):
            self.client.stop()
        super().teardown()


class Honcho(Peer):
    """No daemon and no API: starting honcho is "start all", SIGTERM to it is "stop all"."""

    name = "honcho"
    can_roll = False

    def start(self) -> None:
        procfile = self.tmp / "Procfile"
        procfile.write_text(f"app: {' '.join(self.wl.argv)}\n")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "honcho"),
                "start",
                "-f",
                str(procfile),
                "-d",
                str(self.tmp),
                "--no-colour",
                "-c",
                f"app={self.n}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(120)


class Pm2(Peer):
    """pm2 through its programmatic API, over one persistent connection (bench/pm2_driver.js)."""

    name = "pm2"

    def boot(self) -> None:
        self.home = self.tmp / "pm2home"
        self.home.mkdir()
        (self.home / "touch").write_text("0")  # first run done: no banner, no version check
        self.env = {
            **os.environ,
            "PM2_HOME": str(self.home),
            "PM2_MODULE": str(NODE_DIR / "pm2"),
            "PM2_DISABLE_VERSION_CHECK": "1",
            "PM2_DISCRETE_MODE": "1",
        }
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node not found: install nodejs (apt-get install nodejs npm)")
        self.driver = subprocess.Popen(
            [node, str(HERE / "pm2_driver.js")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=self.env,
            text=True,
            cwd=self.tmp,
        )
        self.call(op="connect")

    def call(self, **message: Any) -> dict[str, Any]:
        assert self.driver.stdin is not None and self.driver.stdout is not None
        self.driver.stdin.write(json.dumps(message) + "\n")
        self.driver.stdin.flush()
        while True:
            line = self.driver.stdout.readline()
            if not line:
                raise RuntimeError(f"pm2 driver exited; see {self.log.name}")
            if line.startswith("@@"):  # pm2 prints its own chatter on stdout too
                reply: dict[str, Any] = json.loads(line[2:])
                if not reply["ok"]:
                    raise RuntimeError(f"pm2 {message['op']}: {reply['error']}")
                return reply

    def root(self) -> psutil.Process:
        return psutil.Process(int((self.home / "pm2.pid").read_text()))

    def running(self) -> int:
        return sum(1 for p in self.call(op="list")["procs"] if p["status"] == "online")

    def start(self) -> None:
        self.call(op="start", name="app", argv=self.wl.argv, n=self.n)
        wait_until(lambda: self.running() == self.n, 300, "pm2 reporting all online", 0.01)

    def stop(self) -> None:
        self.call(op="stop", name="app")

    def rolling(self) -> None:
        self.call(op="restart_each", name="app")
        wait_until(lambda: self.running() == self.n, 300, "pm2 reporting all online", 0.01)

    def status_api(self) -> int:
        return self.running()

    def status_cli(self) -> tuple[list[str], dict[str, str] | None]:
        return [str(NODE_DIR / ".bin" / "pm2"), "jlist"], self.env

    def teardown(self) -> None:
        with contextlib.suppress(Exception):
            daemon = self.root()
        with contextlib.suppress(Exception):
            self.call(op="delete", name="app")
            self.call(op="kill")
        with contextlib.suppress(Exception):
            self.driver.wait(30)
        if self.driver.poll() is None:
            self.driver.kill()
        with contextlib.suppress(Exception):
            daemon.wait(10)
        with contextlib.suppress(Exception):
            daemon.kill()
        self.log.close()


PEERS: dict[str, type[Peer]] = {p.name: p for p in (Supervisor, Circus, Honcho, Pm2)}


def own_processes(peer: Peer) -> list[psutil.Process]:
    root = peer.root()
    procs = [root, *root.children(recursive=True)]
    workload = {p.pid for p in peer.wl.procs()}
    return [p for p in procs if p.pid not in workload]


def pss_mib(procs: list[psutil.Process]) -> float:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss
    return total / 2**20


def cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def run_once(name: str, n: int, ops: set[str], idle_window: float) -> dict[str, Any]:
    wl = Workload()
    out: dict[str, Any] = {"peer": name, "n": n}
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        peer = PEERS[name](Path(tmp), wl, n)
        try:
            peer.boot()
            if peer.proc is not None or name == "pm2":
                out["pss_empty_mib"] = pss_mib(own_processes(peer)) if name != "honcho" else None
            started = time.perf_counter()
            peer.start()
            wait_until(lambda: wl.count() == n, 300, f"{name}: {n} sleepers running")
            out["start_s"] = time.perf_counter() - started
            if "idle" in ops:
                time.sleep(1.0)
                procs = own_processes(peer)
                before = cpu_s(procs)
                time.sleep(idle_window)
                out["idle_cpu_pct"] = (cpu_s(procs) - before) / idle_window * 100
                out["idle_pss_mib"] = pss_mib(procs)
            if "status" in ops and name != "honcho":
                samples = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    count = peer.status_api()
                    samples.append(time.perf_counter() - t0)
                    if count != n:
                        raise RuntimeError(f"{name} status reported {count} running, expected {n}")
                out["status_api_ms"] = statistics.median(samples) * 1000
                argv, env = peer.status_cli()
                cli = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    subprocess.run(argv, env=env, capture_output=True, check=False, timeout=120)
                    cli.append(time.perf_counter() - t0)
                out["status_cli_s"] = statistics.median(cli)
            if "rolling" in ops and peer.can_roll:
                old = {p.pid for p in wl.procs()}
                t0 = time.perf_counter()
                peer.rolling()
                wait_until(
                    lambda: wl.count() == n and not (old & {p.pid for p in wl.procs()}),
                    600,
                    f"{name}: all {n} replicas replaced",
                )
                out["rolling_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            peer.stop()
            wait_until(lambda: wl.count() == 0, 300, f"{name}: every sleeper gone")
            out["stop_s"] = time.perf_counter() - t0
        finally:
            peer.teardown()
            wl.kill_all()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer", required=True, choices=sorted(PEERS))
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--ops", default="start,idle,status,stop")
    parser.add_argument("--idle-window", type=float, default=3.0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    ops = set(args.ops.split(","))
    runs = [run_once(args.peer, args.n, ops, args.idle_window) for _ in range(args.repeat)]
    args.json.write_text(json.dumps(runs))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks: no leftovers
    main()
