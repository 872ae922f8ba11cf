"""A real multi-node Docker Swarm on one machine: one dockerd per network namespace.

Each node is a network namespace joined by a veth to a bridge the fixture makes in the host's
namespace (so the engine on the host reaches every node's address, as an engine on a cluster's
network would; no existing interface or address of the host is touched), running its own dockerd with its own data root, exec root, socket and cgroup parent. The
test image is ``docker import``-ed on node 1 and ``docker load``-ed on the others (no registry here).
Teardown goes by pid and by what the fixture made, never by name pattern of things it did not make.

What this kernel lacks: IPVS, so there is no routing mesh and no service VIP: services use
``endpoint_mode = dnsrr`` and host-mode published ports (see docs/cluster.md when it lands).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker

from mooring.runtime.swarm.tasks import TaskView, awaits_reaper
from tests.container.private_dockerd import build_image, require_tools


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


@dataclass
class SwarmNode:
    index: int
    netns: str
    address: str
    root: Path
    process: subprocess.Popen[bytes] | None = None
    killed: bool = False  # by a test, on purpose (kill_node)

    @property
    def socket(self) -> Path:
        return self.root / "d.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def cgroup_parent(self) -> str:
        return f"/{self.root.name}-{self.netns}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, version="auto", timeout=60)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "dockerd.log").read_text().splitlines()[-lines:])
        return ""

    def pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            return int((self.root / "dockerd.pid").read_text().strip())
        return None


@dataclass
class Swarm:
    root: Path
    tag: str
    bridge: str
    subnet: str  # the first three octets, e.g. "10.251.7"
    nodes: list[SwarmNode] = field(default_factory=list)

    @property
    def manager(self) -> SwarmNode:
        return self.nodes[0]


def _start_dockerd(node: SwarmNode, timeout: float = 60.0) -> None:
    node.root.mkdir(parents=True, exist_ok=True)
    log = open(node.root / "dockerd.log", "ab")  # noqa: SIM115 - dockerd writes to it for its whole life
    # nsenter --net, not `ip netns exec`: the latter remounts /sys and hides the cgroup hierarchy.
    node.process = subprocess.Popen(
        [
            "nsenter", f"--net=/run/netns/{node.netns}", "unshare", "--uts", "sh", "-c",
            f'hostname {node.netns} && exec dockerd --data-root "$0/data" --exec-root "$0/exec" '
            f'--pidfile "$0/dockerd.pid" -H "unix://$0/d.sock" --bridge=none --iptables=true '
            f"--ip-forward=true --cgroup-parent={node.cgroup_parent}",
            str(node.root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        if node.process.poll() is not None:
            raise RuntimeError(f"dockerd of {node.netns} exited:\n{node.log_tail()}")
        if node.socket.exists():
            with contextlib.suppress(Exception):
                node.client().ping()
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd of {node.netns} did not answer in {timeout:g}s:\n{node.log_tail()}")
        time.sleep(0.1)


def _add_node(swarm: Swarm, index: int) -> SwarmNode:
    netns = f"{swarm.tag}n{index}"
    node = SwarmNode(index, netns, f"{swarm.subnet}.{index}", swarm.root / f"n{index}")
    swarm.nodes.append(node)
    veth_node, veth_host = f"{swarm.tag}v{index}", f"{swarm.tag}b{index}"
    _run("ip", "netns", "add", netns)
    _run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
    _run("ip", "link", "add", veth_node, "netns", netns, "type", "veth", "peer", "name", veth_host)
    _run("ip", "netns", "exec", netns, "ip", "link", "set", veth_node, "name", "eth0")
    _run("ip", "netns", "exec", netns, "ip", "addr", "add", f"{node.address}/24", "dev", "eth0")
    _run("ip", "netns", "exec", netns, "ip", "link", "set", "eth0", "up")
    _run("ip", "link", "set", veth_host, "master", swarm.bridge)
    _run("ip", "link", "set", veth_host, "up")
    _start_dockerd(node)
    return node


def start_swarm(root: Path, nodes: int = 3, managers: int = 1) -> Swarm:
    """Build a swarm of ``nodes`` nodes (the first ``managers`` of them managers; use 1 or 3)."""
    require_tools()
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux"), ("unshare", "util-linux")):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} not found: install the Debian package {package}")
    tag = secrets.token_hex(2)
    swarm = Swarm(
        root, f"msw{tag}", f"mswbr{tag}", f"10.{random.randrange(200, 250)}.{random.randrange(256)}"
    )
    root.mkdir(parents=True, exist_ok=True)
    try:
        _run("ip", "link", "add", swarm.bridge, "type", "bridge")
        _run("ip", "addr", "add", f"{swarm.subnet}.254/24", "dev", swarm.bridge)
        _run("ip", "link", "set", swarm.bridge, "up")
        for index in range(1, nodes + 1):
            _add_node(swarm, index)
        manager = swarm.manager.client()
        manager.swarm.init(advertise_addr=swarm.manager.address, listen_addr=f"{swarm.manager.address}:2377")
        tokens = manager.swarm.attrs["JoinTokens"]
        for node in swarm.nodes[1:]:
            token = tokens["Manager"] if node.index <= managers else tokens["Worker"]
            node.client().swarm.join(
                remote_addrs=[f"{swarm.manager.address}:2377"],
                join_token=token,
                advertise_addr=node.address,
                listen_addr=f"{node.address}:2377",
            )
        wait_nodes_ready(swarm, nodes)
    except BaseException:
        stop_swarm(swarm)
        raise
    return swarm


def wait_nodes_ready(swarm: Swarm, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ready = [n for n in swarm.manager.client().nodes.list() if n.attrs["Status"]["State"] == "ready"]
        if len(ready) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(ready)} of {count} swarm nodes ready after {timeout:g}s")
        time.sleep(0.2)


def load_image(swarm: Swarm, version: str) -> str:
    """Build the test image on node 1 and load the same image (same id) on every other node."""
    first = swarm.manager.client()
    reference = build_image(first.api, version)
    data = b"".join(first.api.get_image(reference))
    for node in swarm.nodes[1:]:
        node.client().images.load(data)
    return reference


def remove_services(swarm: Swarm, label: str, timeout: float = 90.0) -> None:
    """Remove the services carrying ``label`` (``key=value``) as mooring does: scaled to 0 first, removed
    once no task of theirs runs or waits for Swarm's task reaper. A plain remove can race the reaper
    and crash Docker 20.10's manager (docs/cluster.md), and tasks still shutting down keep their
    host-mode ports from the next test."""
    client = swarm.manager.client()
    services = client.services.list(filters={"label": label})
    for service in services:
        with contextlib.suppress(docker.errors.NotFound):
            service.scale(0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tasks = [
            TaskView.of(t) for service in services for t in client.api.tasks(filters={"service": service.id})
        ]
        if not any(t.state in ("running", "starting", "preparing") or awaits_reaper(t) for t in tasks):
            break
        time.sleep(0.2)
    for service in services:
        with contextlib.suppress(docker.errors.NotFound):
            service.remove()


def kill_node(node: SwarmNode) -> None:
    """kill -9 the node's dockerd (its containers keep running under their shims, as on a real host)."""
    node.killed = True
    pid = node.pid()
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if node.process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            node.process.wait(10)


def _stop_node(node: SwarmNode) -> None:
    pid = node.pid()
    if pid and node.process is not None and node.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            node.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(10)
    # Shims and container processes left by a killed dockerd: found by this node's own paths.
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(node.root) in cmdline:
                os.kill(int(proc_dir.name), signal.SIGKILL)
    for hierarchy in Path("/sys/fs/cgroup").glob("*"):
        group = hierarchy / node.cgroup_parent.lstrip("/")
        for procs in group.rglob("cgroup.procs") if group.is_dir() else ():
            with contextlib.suppress(OSError):
                for pid_text in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid_text), signal.SIGKILL)
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(node.root))), key=len, reverse=True):
        _run("umount", "-l", mount, check=False)
    for hierarchy in Path("/sys/fs/cgroup").glob("*"):
        group = hierarchy / node.cgroup_parent.lstrip("/")
        if group.is_dir():
            for sub in sorted(group.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                group.rmdir()
    _run("ip", "netns", "delete", node.netns, check=False)


def stop_swarm(swarm: Swarm) -> None:
    if os.environ.get("MOORING_SWARM_DEBUG"):
        for node in swarm.nodes:
            code = None if node.process is None else node.process.poll()
            print(
                f"--- {node.netns} pid={node.pid()} exit={code} (a negative exit is the signal that ended it)"
            )
            print(node.log_tail(40))
    for node in reversed(swarm.nodes):
        _stop_node(node)
    _run("ip", "link", "delete", swarm.bridge, check=False)
    shutil.rmtree(swarm.root, ignore_errors=True)


def crashed_nodes(swarm: Swarm) -> list[str]:
    """The nodes whose dockerd ended though no test killed it, each with the end of its log."""
    return [
        f"dockerd of {node.netns} exited {node.process.returncode} on its own:\n{node.log_tail(40)}"
        for node in swarm.nodes
        if node.process is not None and node.process.poll() is not None and not node.killed
    ]


@contextlib.contextmanager
def swarm_cluster(root: Path, nodes: int = 3, managers: int = 1) -> Iterator[Swarm]:
    """A swarm for the block; a dockerd that crashed meanwhile (a Swarm panic) fails it loudly."""
    swarm = start_swarm(root, nodes, managers)
    try:
        yield swarm
        crashed = crashed_nodes(swarm)
        if crashed:
            raise RuntimeError("\n\n".join(crashed))
    finally:
        stop_swarm(swarm)


@contextlib.contextmanager
def swarm_with_images(root: Path, versions: tuple[str, ...] = ("1", "2")) -> Iterator[Swarm]:
    """A 3-node Swarm with the test image's ``versions`` on every node (a module's fixture)."""
    with swarm_cluster(root) as cluster:
        for version in versions:
            load_image(cluster, version)
        yield cluster
