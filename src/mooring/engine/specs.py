"""Translate a service of a snapshot into what the runtime and the prober need for one instance.

The engine is the one place that knows both the manifest's shape and the drivers' inputs.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shlex
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mooring.engine.accounts import resolve_account
from mooring.engine.secret_files import CONTAINER_DIR
from mooring.engine.templates import expand_instance_vars, render_templates
from mooring.health import ProbeSpec
from mooring.manifest.durations import parse_duration
from mooring.manifest.reach import container_address
from mooring.manifest.snapshot import reveal_env
from mooring.paths import instance_root
from mooring.runtime.container import ContainerSpec, Mount
from mooring.runtime.container.spec import container_name
from mooring.runtime.record import InstanceRecord
from mooring.runtime.spec import InstanceSpec, Resources
from mooring.runtime.swarm import Healthcheck, SwarmSecretFile, SwarmSpec

# What an instance inherits from the engine's own environment; everything else comes from the manifest.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "LOGNAME", "TMPDIR")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SECRETS_DIR_ENV = "MOORING_SECRETS_DIR"
# Defaults the manifest's env may override: Python's block-buffered stdout would hide what an
# instance prints from its logs until it exits or fills a buffer.
DEFAULT_ENV = {"PYTHONUNBUFFERED": "1"}


def new_instance_id(service: str, replica: int) -> str:
    """``web-2-a1b2c3``: the slot plus a random suffix, so each started version has its own id."""
    return f"{service}-{replica}-{secrets.token_hex(3)}"


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port the kernel says is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def assign_ports(service: Mapping[str, Any]) -> dict[int, int]:
    """Declared instance port -> the ephemeral port this instance listens on.

    No instance binds a published host port: the engine's proxy does, and forwards to the
    instances' own ports, so old and new instances of a slot can overlap during a cutover.
    """
    return {mapping["port"]: free_port() for mapping in service.get("ports", [])}


def published_addr(service: Mapping[str, Any]) -> str | None:
    """``host:port`` where dependents reach a service, if it publishes one."""
    for mapping in service.get("ports", []):
        if mapping["host_port"] is not None:
            host = mapping["host_ip"] or "127.0.0.1"
            if host in ("0.0.0.0", "::"):
                host = "127.0.0.1"
            return f"{host}:{mapping['host_port']}"
    return None


def env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def command_argv(command: str | list[str] | None) -> tuple[str, ...]:
    if command is None:
        raise ValueError("a process service needs a command")
    if isinstance(command, str):
        return ("/bin/sh", "-c", command)
    return tuple(command)


@dataclass(frozen=True)
class InstancePlan:
    """Everything needed to start and watch one instance."""

    spec: InstanceSpec | ContainerSpec | SwarmSpec
    ports: dict[int, int]
    probe: ProbeSpec | None


def identity_env(app: str, name: str, replica: int, instance_id: str, release_id: str) -> dict[str, str]:
    """Who an instance is, in its environment: the same for host processes and containers."""
    return {
        "MOORING_APP": app,
        "MOORING_SERVICE": name,
        "MOORING_REPLICA": str(replica),
        "MOORING_INSTANCE": instance_id,
        "MOORING_RELEASE": release_id,
    }


def build_instance(
    app: str,
    name: str,
    replica: int,
    snapshot: Mapping[str, Any],
    secret_values: Mapping[str, str],
    release_id: str,
    spec_hash: str,
    instance_id: str | None = None,
    named_secrets: Mapping[str, str] | None = None,
    secrets_dir: str | None = None,
) -> InstancePlan:
    """``named_secrets`` (secret name -> value) are the workload's ``secrets``; their files were
    written to ``secrets_dir`` (engine/secret_files.py)."""
    service = snapshot["service"][name]
    instance_id = instance_id or new_instance_id(name, replica)
    if runs_on_cluster(snapshot, name):
        return build_swarm(
            app,
            name,
            replica,
            snapshot,
            secret_values,
            release_id,
            spec_hash,
            instance_id,
            named_secrets or {},
        )
    if service.get("image"):
        return build_container(
            app,
            name,
            replica,
            snapshot,
            secret_values,
            release_id,
            spec_hash,
            instance_id,
            named_secrets or {},
            secrets_dir,
        )
    ports = assign_ports(service)
    env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(DEFAULT_ENV)
    env.update(reveal_env(service.get("env", {}), secret_values))
    env.update(secret_env(service, named_secrets or {}))
    if secrets_dir:
        env[SECRETS_DIR_ENV] = secrets_dir
    for declared, actual in ports.items():
        env[f"MOORING_PORT_{declared}"] = str(actual)
    if ports:
        env["PORT"] = str(next(iter(ports.values())))
    for dep in service.get("depends_on", []):
        dep_service = snapshot["service"].get(dep)
        addr = published_addr(dep_service) if dep_service else None
        if addr:
            env[f"MOORING_{env_name(dep)}_ADDR"] = addr
    env.update(identity_env(app, name, replica, instance_id, release_id))
    account = resolve_account(service)
    if account is not None:
        for key, value in account.env.items():  # the user's own, unless the manifest sets them
            if key not in (service.get("env") or {}):
                env[key] = value
    instance_dir = str(instance_root() / instance_id) if service.get("template") else None
    if instance_dir:
        env["MOORING_INSTANCE_DIR"] = instance_dir
    if service.get("data_dir"):
        env["MOORING_DATA_DIR"] = service["data_dir"]
    files = render_templates(name, service.get("template") or [], env)
    resources = service.get("resources") or {}
    spec = InstanceSpec(
        instance_id=instance_id,
        app=app,
        service=name,
        replica=replica,
        release_id=release_id,
        spec_hash=spec_hash,
        command=expand_instance_vars(command_argv(service.get("command")), env),
        env=env,
        working_dir=service.get("working_dir") or os.getcwd(),
        restart=service["restart"],
        max_restarts=int(service["max_restarts"]),
        stop_signal=int(signal.Signals[service["stop_signal"]]),
        stop_timeout=parse_duration(service["stop_timeout"]),
        resources=Resources(
            cpu=resources.get("cpu"), memory=resources.get("memory"), pids=resources.get("pids")
        ),
        uid=account.uid if account else None,
        gid=account.gid if account else None,
        groups=account.groups if account else None,
        instance_dir=instance_dir,
        files=files,
        data_dir=service.get("data_dir"),
    )
    return InstancePlan(spec=spec, ports=ports, probe=probe_spec(service, ports, env, spec.working_dir))


def build_container(
    app: str,
    name: str,
    replica: int,
    snapshot: Mapping[str, Any],
    secret_values: Mapping[str, str],
    release_id: str,
    spec_hash: str,
    instance_id: str,
    named_secrets: Mapping[str, str],
    secrets_dir: str | None,
) -> InstancePlan:
    """A service with ``image``: every declared port is published on an ephemeral 127.0.0.1 port.

    The container sees only the manifest's env (not the engine's: the image brings its own PATH),
    ``PORT`` as the first declared container port, ``MOORING_<DEP>_ADDR`` of each dependency it can
    reach (manifest/reach.py), and the ``MOORING_*`` identity variables.
    """
    service = snapshot["service"][name]
    ports = {mapping["port"]: free_port() for mapping in service.get("ports", [])}
    env = {**DEFAULT_ENV, **reveal_env(service.get("env", {}), secret_values)}
    env.update(secret_env(service, named_secrets))
    if ports:
        env.setdefault("PORT", str(next(iter(ports))))
    for dep in service.get("depends_on", []):  # the dependency's published port, as the bridge reaches it
        published = [p for p in (snapshot["service"].get(dep) or {}).get("ports", []) if p["host_port"]]
        addr = container_address(published[0]["host_ip"], published[0]["host_port"]) if published else None
        if addr:  # a loopback-only one is unreachable: the manifest check warns at validate and up
            env[f"MOORING_{env_name(dep)}_ADDR"] = addr
    env.update(identity_env(app, name, replica, instance_id, release_id))
    mounts = []
    for volume in service.get("volumes", []):
        source = str(volume["source"])
        if source.startswith(("/", "./", "../", "~")) or source in (".", ".."):
            if not source.startswith("/"):
                raise ValueError(
                    f"service.{name}.volumes: bind mount source {source!r} must be an absolute host path"
                    " for a container (the engine does not resolve it against the manifest's directory)"
                )
            mounts.append(Mount("bind", source, volume["target"], bool(volume.get("read_only"))))
        else:
            # named volumes are engine volumes prefixed by the app, so two apps' "data" never mix
            mounts.append(Mount("volume", f"{app}_{source}", volume["target"], bool(volume.get("read_only"))))
    if secrets_dir:
        env[SECRETS_DIR_ENV] = CONTAINER_DIR
        for ref in (service.get("secrets") or {}).values():
            if ref.get("file"):
                source = f"{secrets_dir}/{ref['file']}"
                mounts.append(Mount("bind", source, f"{CONTAINER_DIR}/{ref['file']}", True))
    resources = service.get("resources") or {}
    command = service.get("command")
    spec = ContainerSpec(
        instance_id=instance_id,
        app=app,
        service=name,
        replica=replica,
        release_id=release_id,
        spec_hash=spec_hash,
        image=service["image"],
        # a string is split like a shell would (docs/manifest.md): an image need not have /bin/sh
        command=(tuple(shlex.split(command)) if isinstance(command, str) else tuple(command))
        if command is not None
        else None,
        env=env,
        working_dir=service.get("working_dir"),
        ports=ports,
        mounts=tuple(mounts),
        restart=service["restart"],
        max_restarts=int(service["max_restarts"]),
        stop_signal=int(signal.Signals[service["stop_signal"]]),
        stop_timeout=parse_duration(service["stop_timeout"]),
        resources=Resources(
            cpu=resources.get("cpu"), memory=resources.get("memory"), pids=resources.get("pids")
        ),
        user=":".join(filter(None, [service.get("user"), service.get("group")])) or None,
        group_add=tuple(service.get("groups") or ()),
        image_id=service.get("image_id"),
    )
    probe = probe_spec(
        service, ports, env, spec.working_dir or "/", container=container_name(app, instance_id)
    )
    return InstancePlan(spec=spec, ports=ports, probe=probe)


def secret_env(workload: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """The variables a workload's ``secrets`` set (names whose value is missing are left out)."""
    return {
        ref["env"]: values[name]
        for name, ref in (workload.get("secrets") or {}).items()
        if ref.get("env") and name in values
    }


def secret_files(workload: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, str]:
    """File name -> value, for the workload's ``secrets`` that ask for a file."""
    return {
        ref["file"]: values[name]
        for name, ref in (workload.get("secrets") or {}).items()
        if ref.get("file") and name in values
    }


def runs_on_cluster(snapshot: Mapping[str, Any], name: str) -> bool:
    """A service with an image runs on the Swarm when it says ``cluster = true``, or when its app
    does and the service does not say ``cluster = false``."""
    service = snapshot["service"][name]
    if not service.get("image"):
        return False
    own = service.get("cluster")
    return bool(own if own is not None else (snapshot.get("app") or {}).get("cluster", False))


def build_swarm(
    app: str,
    name: str,
    replica: int,
    snapshot: Mapping[str, Any],
    secret_values: Mapping[str, str],
    release_id: str,
    spec_hash: str,
    instance_id: str,
    named_secrets: Mapping[str, str] | None = None,
) -> InstancePlan:
    """A cluster slot: the container of :func:`build_container`, placed by Swarm.

    Ports are published in host mode on whichever node runs the task (0 here: the node picks); the
    probe of an http/tcp/grpc check is pointed at that node and port once the task runs
    (:func:`point_probe`). An exec check becomes the task's Docker healthcheck: Swarm keeps the task
    ``starting`` until it passes and replaces it when it fails, so no engine-side probe runs.
    """
    service = snapshot["service"][name]
    named = named_secrets or {}
    # file secrets become Swarm secrets (the engine host's tmpfs is not on the other nodes)
    secret_files = tuple(
        SwarmSecretFile(str(ref["file"]), app, secret, int(ref.get("version") or 0), named[secret])
        for secret, ref in sorted((service.get("secrets") or {}).items())
        if ref.get("file") and secret in named
    )
    plan = build_container(
        app,
        name,
        replica,
        snapshot,
        secret_values,
        release_id,
        spec_hash,
        instance_id,
        named_secrets or {},
        None,
    )
    assert isinstance(plan.spec, ContainerSpec)
    ports = {port: 0 for port in plan.spec.ports}
    env = dict(plan.spec.env)
    if secret_files:
        env[SECRETS_DIR_ENV] = CONTAINER_DIR  # where Swarm mounts them, as a local container has them
    container = dataclasses.replace(plan.spec, ports=ports, env=env)
    placement = service.get("placement") or {}
    check = service.get("health_check") or {}
    healthcheck = None
    probe = plan.probe
    if check.get("type") == "exec":
        healthcheck = Healthcheck(
            command=command_argv(check["command"]),
            interval=parse_duration(check["interval"]),
            timeout=parse_duration(check["timeout"]),
            retries=int(check["retries"]),
            start_period=parse_duration(check["start_period"]),
        )
        probe = None
    spec = SwarmSpec(
        container=container,
        constraints=tuple(placement.get("constraints") or ()),
        spread=tuple(placement.get("spread") or ()),
        network=f"mooring-{app}",
        healthcheck=healthcheck,
        secret_files=secret_files,
    )
    return InstancePlan(spec=spec, ports=ports, probe=probe)


def point_probe(
    probe: ProbeSpec | None, declared_port: int | None, record: InstanceRecord
) -> ProbeSpec | None:
    """A cluster instance's probe, aimed at the node and host-mode port its running task got."""
    if probe is None or probe.kind == "exec" or record.host is None:
        return probe
    port = record.host_ports.get(str(declared_port)) if declared_port is not None else None
    if port is None and record.host_ports:
        port = next(iter(record.host_ports.values()))
    return dataclasses.replace(probe, host=record.host, port=port or probe.port)


def probe_spec(
    service: Mapping[str, Any],
    ports: Mapping[int, int],
    env: Mapping[str, str],
    cwd: str,
    container: str | None = None,
) -> ProbeSpec | None:
    check = service.get("health_check")
    if not check:
        return None
    timing: dict[str, Any] = {
        "interval": parse_duration(check["interval"]),
        "timeout": parse_duration(check["timeout"]),
        "retries": int(check["retries"]),
        "start_period": parse_duration(check["start_period"]),
    }
    if check["type"] == "exec":
        if container is not None:  # runs inside the container, with its own env and working dir
            return ProbeSpec(
                kind="exec", command=command_argv(check["command"]), container=container, **timing
            )
        return ProbeSpec(kind="exec", command=command_argv(check["command"]), env=env, cwd=cwd, **timing)
    declared = check["port"]
    port = ports.get(declared, declared)
    if check["type"] == "http":
        expected = check.get("expected_status")
        return ProbeSpec(
            kind="http",
            port=port,
            path=check.get("path") or "/",
            http_host=check.get("host"),
            expected_status=tuple(expected) if expected else None,
            **timing,
        )
    if check["type"] == "grpc":
        return ProbeSpec(kind="grpc", port=port, grpc_service=check.get("service") or "", **timing)
    return ProbeSpec(kind="tcp", port=port, **timing)
