"""Thin, blocking calls to a Swarm manager (docker SDK's low-level ``APIClient``).

The driver runs them with ``asyncio.to_thread``; kept apart so the driver reads as policy.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Any

import docker
import docker.errors
from docker.types import (
    ContainerSpec as DockerContainerSpec,
)
from docker.types import (
    EndpointSpec,
    Healthcheck,
    Placement,
    Resources,
    RestartPolicy,
    SecretReference,
    ServiceMode,
    TaskTemplate,
)
from docker.types import (
    Mount as DockerMount,
)

from mooring.runtime.container.address import EngineAddress
from mooring.runtime.container.errors import ContainerEngineUnreachable
from mooring.runtime.container.spec import LABEL_APP, LABEL_HOME, LABEL_INSTANCE

from .spec import SwarmSpec

API_TIMEOUT = 60
NANO = 1_000_000_000


def connect(address: EngineAddress) -> docker.APIClient:
    """A client of a Swarm manager; ``ContainerEngineUnreachable`` says why not."""
    try:
        client = docker.APIClient(base_url=address.url, version="auto", timeout=API_TIMEOUT)
        info = client.info()
    except Exception as exc:
        raise ContainerEngineUnreachable(
            f"no Swarm manager answers at {address.describe()}: {exc}",
            hint="point [cluster] manager in $MOORING_HOME/engine.toml (or MOORING_SWARM_HOST) at a manager's"
            " Docker API; `docker node ls` there must work",
        ) from None
    swarm = info.get("Swarm") or {}
    if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
        raise ContainerEngineUnreachable(
            f"the Docker engine at {address.describe()} is not a Swarm manager"
            f" (node state {swarm.get('LocalNodeState') or 'inactive'})",
            hint="run `docker swarm init` there, or point mooring at a manager node",
        )
    return client


def ensure_network(client: docker.APIClient, name: str, app: str) -> None:
    """The app's overlay network: tasks need one for host-mode ports, and it joins an app's services."""
    if client.networks(names=[name]):
        return
    with contextlib.suppress(docker.errors.APIError):  # created meanwhile by a concurrent start
        client.create_network(name, driver="overlay", attachable=True, labels={LABEL_APP: app})


def restart_policy(spec: SwarmSpec) -> RestartPolicy:
    """mooring's restart policy in Swarm's words. Swarm, not mooring, restarts tasks on the cluster:
    only it can move a task off a node that is gone."""
    container = spec.container
    if container.restart == "no" or (container.restart == "on-failure" and container.max_restarts == 0):
        return RestartPolicy(condition="none")
    condition = "any" if container.restart == "always" else "on-failure"
    return RestartPolicy(condition=condition, delay=NANO, max_attempts=container.max_restarts)


def ensure_secrets(client: docker.APIClient, spec: SwarmSpec, home_label: str) -> list[SecretReference]:
    """The slot's secret files as Swarm secrets (created once per pinned version), referenced by id."""
    refs = []
    for secret in spec.secret_files:
        name = secret.swarm_name(home_label)
        exact = [s for s in client.secrets(filters={"name": name}) if s["Spec"]["Name"] == name]
        if exact:
            secret_id = str(exact[0]["ID"])
        elif not secret.value:  # a spec restored from a record: the secret must already be there
            raise docker.errors.NotFound(f"Swarm secret {name} is gone and its value is not at hand")
        else:
            labels = {LABEL_APP: spec.container.app, LABEL_HOME: home_label}
            try:
                secret_id = str(client.create_secret(name, secret.value.encode(), labels=labels)["ID"])
            except docker.errors.APIError as exc:  # created meanwhile by a concurrent start
                again = [s for s in client.secrets(filters={"name": name}) if s["Spec"]["Name"] == name]
                if not again:
                    raise exc from None
                secret_id = str(again[0]["ID"])
        refs.append(SecretReference(secret_id, name, filename=secret.file, mode=0o444))
    return refs


def remove_unused_secrets(client: docker.APIClient, app: str, home_label: str) -> None:
    """The app's Swarm secrets no service uses any more (Swarm refuses to remove one in use)."""
    for secret in client.secrets(filters={"label": [f"{LABEL_APP}={app}", f"{LABEL_HOME}={home_label}"]}):
        with contextlib.suppress(docker.errors.APIError):
            client.remove_secret(secret["ID"])


def create_service(client: docker.APIClient, spec: SwarmSpec, home_label: str) -> str:
    container = spec.container
    labels = {**container.labels, LABEL_HOME: home_label}
    secret_refs = ensure_secrets(client, spec, home_label)
    health = None
    if spec.healthcheck is not None:
        h = spec.healthcheck
        health = Healthcheck(
            test=["CMD", *h.command],
            interval=int(h.interval * NANO),
            timeout=int(h.timeout * NANO),
            retries=h.retries,
            start_period=int(h.start_period * NANO),
        )
    limits = container.resources
    template = TaskTemplate(
        container_spec=DockerContainerSpec(
            container.image,
            command=list(container.command) if container.command is not None else None,
            env=dict(container.env),
            workdir=container.working_dir,
            labels=labels,
            mounts=[
                DockerMount(m.target, m.source, type=m.kind, read_only=m.read_only) for m in container.mounts
            ],
            stop_signal=signal.Signals(container.stop_signal).name,
            stop_grace_period=int(container.stop_timeout * NANO),
            healthcheck=health,
            init=True,
            secrets=secret_refs or None,
        ),
        resources=Resources(
            cpu_limit=int(limits.cpu * NANO) if limits.cpu is not None else None,
            mem_limit=limits.memory,
        ),
        restart_policy=restart_policy(spec),
        placement=Placement(
            constraints=list(spec.constraints) or None,
            preferences=[("spread", label) for label in spec.spread] or None,
        ),
        networks=[spec.network] if spec.network else None,
    )
    ports = [
        {"Protocol": "tcp", "TargetPort": port, "PublishedPort": 0, "PublishMode": "host"}
        for port in container.ports
    ]
    created = client.create_service(
        template,
        name=spec.service_name,
        labels=labels,
        mode=ServiceMode("replicated", replicas=1),
        # no IPVS on many hosts (and none here): no virtual IP, no routing mesh; the edge routes to nodes
        endpoint_spec=EndpointSpec(mode="dnsrr", ports=ports),
    )
    return str(created["ID"])


def scale(client: docker.APIClient, service_id: str, replicas: int) -> bool:
    """Set the service's replica count; ``False`` when the service is gone."""
    try:
        data = client.inspect_service(service_id)
    except docker.errors.NotFound:
        return False
    version = data["Version"]["Index"]
    spec = data["Spec"]
    if ((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") == replicas:
        return True  # already so: no new version, no orchestrator pass
    spec["Mode"] = {"Replicated": {"Replicas": replicas}}
    client.update_service(service_id, version, **_update_args(spec))
    return True


def _update_args(spec: dict[str, Any]) -> dict[str, Any]:
    """The low-level client's ``update_service`` takes the spec in parts."""
    return {
        "task_template": spec.get("TaskTemplate"),
        "name": spec.get("Name"),
        "labels": spec.get("Labels"),
        "mode": spec.get("Mode"),
        "endpoint_spec": spec.get("EndpointSpec"),
        "fetch_current_spec": False,
    }


def remove_service(client: docker.APIClient, service_id: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.remove_service(service_id)


def services(client: docker.APIClient, home_label: str) -> list[dict[str, Any]]:
    """Every service of this engine on the cluster (by label)."""
    return list(client.services(filters={"label": f"{LABEL_HOME}={home_label}"}))


def find_service(client: docker.APIClient, instance_id: str, home_label: str) -> dict[str, Any] | None:
    rows = client.services(
        filters={"label": [f"{LABEL_INSTANCE}={instance_id}", f"{LABEL_HOME}={home_label}"]}
    )
    return dict(rows[0]) if rows else None


def tasks(client: docker.APIClient) -> list[dict[str, Any]]:
    """Every task of the cluster, in one call (grouped by service by the caller)."""
    return list(client.tasks())


def tasks_of(client: docker.APIClient, service_id: str) -> list[dict[str, Any]]:
    """The tasks of one service (filtered by the manager)."""
    return list(client.tasks(filters={"service": service_id}))


def nodes(client: docker.APIClient) -> list[dict[str, Any]]:
    return list(client.nodes())


def set_availability(client: docker.APIClient, node: str, availability: str) -> None:
    data = client.inspect_node(node)
    spec = dict(data["Spec"])
    spec["Availability"] = availability
    client.update_node(data["ID"], data["Version"]["Index"], spec)


def service_logs(
    client: docker.APIClient,
    service_id: str,
    *,
    stdout: bool,
    stderr: bool,
    tail: int | str = "all",
    since: float | None = None,
) -> bytes:
    try:
        data = client.service_logs(
            service_id,
            details=False,
            stdout=stdout,
            stderr=stderr,
            timestamps=True,
            tail=tail,
            since=int(since) if since is not None else None,
            follow=False,
        )
        return b"".join(data)
    except docker.errors.NotFound:
        return b""
