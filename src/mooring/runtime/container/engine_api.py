"""Thin, blocking calls to the Docker Engine API (docker SDK's low-level ``APIClient``).

Every function here blocks; the driver runs them with ``asyncio.to_thread`` so the engine's event
loop never waits on dockerd. Kept separate so the driver reads as policy, not as HTTP plumbing.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import docker
import docker.errors
from docker.types import Mount as DockerMount

from .address import EngineAddress
from .errors import ContainerEngineUnreachable, ImagePullFailed
from .spec import LABEL_APP, LABEL_HOME, LABEL_INSTANCE, ContainerSpec

API_TIMEOUT = 60  # seconds for one API call; a stop waits stop_timeout on top of it


def connect(address: EngineAddress) -> docker.APIClient:
    """A client that answered ``/_ping``; ``ContainerEngineUnreachable`` names the address otherwise."""
    try:
        client = docker.APIClient(base_url=address.url, version="auto", timeout=API_TIMEOUT)
        client.ping()
    except Exception as exc:
        raise ContainerEngineUnreachable(
            f"no container engine answers at {address.describe()}: {exc}",
            hint="start dockerd (Debian package docker.io) or podman's `system service`, or point"
            " DOCKER_HOST / [engine] docker_host in $MOORING_HOME/engine.toml at one; `mooring doctor` checks",
        ) from None
    return client


def image_present(client: docker.APIClient, image: str) -> bool:
    try:
        client.inspect_image(image)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_id(client: docker.APIClient, image: str) -> str | None:
    """The content id (``sha256:…``) the reference names on this engine now; None when absent."""
    try:
        return str(client.inspect_image(image)["Id"])
    except docker.errors.ImageNotFound:
        return None


def pull(client: docker.APIClient, image: str) -> None:
    """Pull ``image``; the engine reports failures inside the progress stream, so read it all."""
    repository, tag = split_reference(image)
    try:
        for event in client.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ImagePullFailed(f"cannot pull image {image!r}: {event['error']}")
    except docker.errors.APIError as exc:
        raise ImagePullFailed(
            f"cannot pull image {image!r}: {exc.explanation or exc}",
            hint="check the image name and that the registry is reachable, or `docker load` it on this host",
        ) from None
    if not image_present(client, image):
        raise ImagePullFailed(f"pulled {image!r} but the engine still does not list it")


def split_reference(image: str) -> tuple[str, str | None]:
    """``registry:5000/a/b:tag`` -> (``registry:5000/a/b``, ``tag``); digests stay in the repository."""
    if "@" in image:
        return image, None
    name, _, tag = image.rpartition(":")
    if name and "/" not in tag:
        return name, tag
    return image, "latest"


def ensure_volume(client: docker.APIClient, name: str, app: str) -> None:
    try:
        client.inspect_volume(name)
    except docker.errors.NotFound:
        client.create_volume(name, labels={LABEL_APP: app})


def create(client: docker.APIClient, spec: ContainerSpec, home_label: str) -> str:
    """Create the container of ``spec`` (replacing a leftover of the same name); returns its id."""
    remove_by_name(client, spec.container_name)
    for mount in spec.mounts:
        if mount.kind == "volume":
            ensure_volume(client, mount.source, spec.app)
    limits = spec.resources
    host_config = client.create_host_config(
        port_bindings={f"{port}/tcp": ("127.0.0.1", host) for port, host in spec.ports.items()},
        mounts=[DockerMount(m.target, m.source, type=m.kind, read_only=m.read_only) for m in spec.mounts],
        nano_cpus=int(limits.cpu * 1e9) if limits.cpu is not None else None,
        mem_limit=limits.memory,
        pids_limit=limits.pids,
        init=True,  # an init process as PID 1, so SIGTERM reaches the app and zombies are reaped
        restart_policy={"Name": "no"},  # mooring restarts (see driver.py)
        # the host, as the container's bridge reaches it: where dependencies' published ports are
        extra_hosts={"host.docker.internal": "host-gateway"},
        group_add=list(spec.group_add) or None,
    )
    created = client.create_container(
        spec.image_id or spec.image,  # the id the release pinned: a tag moved since runs nothing new
        command=list(spec.command) if spec.command is not None else None,
        name=spec.container_name,
        labels={**spec.labels, LABEL_HOME: home_label},
        environment=dict(spec.env),
        working_dir=spec.working_dir,
        user=spec.user or "",
        ports=[(port, "tcp") for port in spec.ports],
        host_config=host_config,
        stop_signal=signal.Signals(spec.stop_signal).name,
        stop_timeout=max(1, round(spec.stop_timeout)),
        detach=True,
    )
    return str(created["Id"])


def remove_by_name(client: docker.APIClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.remove_container(name, force=True)


def start(client: docker.APIClient, container_id: str) -> None:
    client.start(container_id)


def stop(client: docker.APIClient, container_id: str, timeout: float) -> None:
    """Send the stop signal, SIGKILL after ``timeout`` seconds; a container already gone is fine."""
    with contextlib.suppress(docker.errors.NotFound):
        client.stop(container_id, timeout=max(0, round(timeout)))


def remove(client: docker.APIClient, container_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.remove_container(container_id, force=True)


@dataclass(frozen=True)
class ContainerState:
    """What ``inspect`` says about one container's current or last run."""

    container_id: str
    running: bool
    exit_code: int | None
    oom_killed: bool
    started_at: float | None
    error: str
    labels: dict[str, str]


def inspect(client: docker.APIClient, container: str) -> ContainerState | None:
    try:
        data = client.inspect_container(container)
    except docker.errors.NotFound:
        return None
    state = data.get("State") or {}
    return ContainerState(
        container_id=str(data["Id"]),
        running=bool(state.get("Running")),
        exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        started_at=parse_time(state.get("StartedAt")),
        error=state.get("Error") or "",
        labels=dict((data.get("Config") or {}).get("Labels") or {}),
    )


def parse_time(text: str | None) -> float | None:
    """Docker's RFC 3339 with nanoseconds -> epoch seconds; ``None`` for its zero time."""
    if not text or text.startswith("0001-"):
        return None
    head, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    return seconds + (float("0." + frac[:6]) if frac else 0.0)


def find_instance(client: docker.APIClient, instance_id: str, home_label: str) -> ContainerState | None:
    """The container labelled as this instance of this engine, whatever its name or id now."""
    rows = client.containers(
        all=True, filters={"label": [f"{LABEL_INSTANCE}={instance_id}", f"{LABEL_HOME}={home_label}"]}
    )
    return inspect(client, rows[0]["Id"]) if rows else None


def labelled(client: docker.APIClient, label: str) -> list[dict[str, Any]]:
    """Every container (running or not) carrying ``label`` (``key`` or ``key=value``)."""
    return list(client.containers(all=True, filters={"label": label}))


def stats(client: docker.APIClient, container_id: str) -> dict[str, Any]:
    """One stats sample without the engine's one-second wait for a second sample."""
    return dict(client.stats(container_id, stream=False, one_shot=True))


def logs(
    client: docker.APIClient,
    container_id: str,
    *,
    stdout: bool,
    stderr: bool,
    tail: int | str = "all",
    since: float | None = None,
) -> bytes:
    data = client.logs(container_id, stdout=stdout, stderr=stderr, timestamps=True, tail=tail, since=since)
    return bytes(data)


def follow_logs(
    client: docker.APIClient, container_id: str, *, stdout: bool, stderr: bool
) -> Iterator[bytes]:
    """New output from now on, as chunks; close the returned stream to stop it."""
    stream: Iterator[bytes] = client.logs(
        container_id, stdout=stdout, stderr=stderr, timestamps=True, stream=True, follow=True, tail=0
    )
    return stream


def exec_run(client: docker.APIClient, container: str, command: list[str]) -> tuple[int | None, bytes]:
    """Run ``command`` inside the running container; its exit code and combined output."""
    created = client.exec_create(container, command, stdout=True, stderr=True)
    output = client.exec_start(created["Id"])
    code = client.exec_inspect(created["Id"]).get("ExitCode")
    return code, bytes(output)


def version(client: docker.APIClient) -> dict[str, Any]:
    return dict(client.version())
