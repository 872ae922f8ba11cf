"""A throwaway dockerd of our own (own data root, exec root, pidfile and socket) and a test image.

Shared by the container tests and bench/container_bench.py. No registry is reachable here, so the
image is ``docker import`` of a busybox-static root filesystem made on the spot: busybox ``httpd``
serves a versioned page and ``/bin/sh`` runs exec checks.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "httpd", "echo", "sleep", "cat", "test", "true", "false", "ls", "kill", "wget")
IMAGE = "mooring-test/web"


@dataclass
class PrivateDockerd:
    root: Path
    process: subprocess.Popen[bytes]
    bridge: str

    @property
    def socket(self) -> Path:
        return self.root / "d.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def client(self) -> docker.APIClient:
        return docker.APIClient(base_url=self.url, version="auto", timeout=120)

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.root / "dockerd.log").read_text().splitlines()[-lines:])
        return ""


def require_tools() -> None:
    """Fail loudly, naming the Debian package, when a prerequisite is missing."""
    if shutil.which("dockerd") is None:
        raise RuntimeError(
            "dockerd not found: install the Debian package docker.io (apt-get install docker.io)"
        )
    if not BUSYBOX.exists():
        raise RuntimeError(
            f"{BUSYBOX} not found: install the Debian package busybox-static (the test image is made from it)"
        )
    if b"ld-linux" in BUSYBOX.read_bytes()[:8192]:  # the image has no libc: busybox must be static
        raise RuntimeError(f"{BUSYBOX} is dynamically linked: install the Debian package busybox-static")


def make_bridge() -> str:
    """A bridge and subnet of our own: two dockerds sharing docker0 hand out the same container
    IPs, and a published port of one then reaches a container of the other."""
    if shutil.which("ip") is None:
        raise RuntimeError("ip not found: install the Debian package iproute2")
    name = f"mbr-{secrets.token_hex(3)}"
    subnet = f"10.{random.randrange(200, 250)}.{random.randrange(0, 256)}.1/24"
    for command in (
        ["ip", "link", "add", name, "type", "bridge"],
        ["ip", "addr", "add", subnet, "dev", name],
        ["ip", "link", "set", name, "up"],
    ):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            remove_bridge(name)
            raise RuntimeError(f"{' '.join(command)} failed (needs root): {done.stderr.strip()}")
    return name


def remove_bridge(name: str) -> None:
    subprocess.run(["ip", "link", "del", name], capture_output=True)


def start_dockerd(root: Path, timeout: float = 60.0) -> PrivateDockerd:
    """Start dockerd with everything under ``root`` and its own bridge; returns once it answers ``/_ping``.

    No iptables rules, masquerading or forwarding: published ports go through docker-proxy on
    127.0.0.1, which is all mooring needs, and the host's firewall is left alone.
    """
    require_tools()
    root.mkdir(parents=True, exist_ok=True)
    bridge = make_bridge()
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - dockerd writes to it for its whole life
    process = subprocess.Popen(
        [
            "dockerd",
            "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "dockerd.pid"),
            "-H", f"unix://{root / 'd.sock'}",
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--bridge", bridge,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    daemon = PrivateDockerd(root, process, bridge)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"dockerd exited with {process.returncode}:\n{daemon.log_tail()}")
        if daemon.socket.exists():
            with contextlib.suppress(Exception):
                daemon.client().ping()
                return daemon
        if time.monotonic() > deadline:
            stop_dockerd(daemon)
            raise RuntimeError(f"dockerd did not answer within {timeout:g}s:\n{daemon.log_tail()}")
        time.sleep(0.1)


def stop_dockerd(daemon: PrivateDockerd, *, remove: bool = True) -> None:
    """Remove every container, stop dockerd (SIGTERM, then SIGKILL of its group) and delete its root."""
    with contextlib.suppress(Exception):
        client = daemon.client()
        for row in client.containers(all=True):
            client.remove_container(row["Id"], force=True)
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.process.pid, signal.SIGKILL)
            daemon.process.wait(10)
    remove_bridge(daemon.bridge)
    if remove:
        # overlay mounts are gone once dockerd stopped; what is left is plain files
        shutil.rmtree(daemon.root, ignore_errors=True)


def rootfs_tar(version: str) -> bytes:
    """A root filesystem: static busybox, its applets, and /www/index.html saying ``version``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add_dir(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for directory in ("bin", "www", "tmp", "data"):
            add_dir(directory)
        add_file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        add_file("www/index.html", version.encode())
        add_file("www/health", b"ok")
    return buffer.getvalue()


def build_image(client: docker.APIClient, version: str, repository: str = IMAGE) -> str:
    """``docker import`` the rootfs as ``repository:version``; returns the reference."""
    client.import_image_from_data(rootfs_tar(version), repository=repository, tag=version)
    return f"{repository}:{version}"


@contextlib.contextmanager
def private_dockerd(root: Path) -> Iterator[PrivateDockerd]:
    daemon = start_dockerd(root)
    try:
        yield daemon
    finally:
        stop_dockerd(daemon)
