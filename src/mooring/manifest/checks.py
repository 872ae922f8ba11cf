"""Cross-field rules pydantic cannot see: names, dependencies, cycles, host ports, volumes."""

from __future__ import annotations

import ipaddress

from mooring.manifest.errors import Issue, did_you_mean
from mooring.manifest.fields import PortMapping, check_name
from mooring.manifest.graph import find_cycle
from mooring.manifest.models import Manifest
from mooring.manifest.reach import container_address
from mooring.manifest.redact import is_secret_key
from mooring.manifest.routes import route_issues
from mooring.manifest.workload_checks import account_issues, state_issues

KINDS = ("service", "worker", "cron")


def semantic_issues(manifest: Manifest, file: str) -> list[Issue]:
    issues: list[Issue] = []
    issues += _name_issues(manifest, file)
    issues += _dependency_issues(manifest, file)
    issues += _host_port_issues(manifest, file)
    issues += _health_port_issues(manifest, file)
    issues += route_issues(file, manifest.service)
    issues += _volume_issues(manifest, file)
    issues += account_issues(manifest, file)
    issues += state_issues(manifest, file)
    issues += _warnings(manifest, file)
    if not (manifest.service or manifest.worker or manifest.cron):
        issues.append(
            Issue(
                file, "", "defines no workload", 'add a [service.NAME] with command = "..." or image = "..."'
            )
        )
    return issues


def _name_issues(manifest: Manifest, file: str) -> list[Issue]:
    issues = []
    owner: dict[str, str] = {}
    for kind in (*KINDS, "volume"):
        for name in getattr(manifest, kind):
            try:
                check_name(kind, name)
            except ValueError as exc:
                issues.append(Issue(file, f"{kind}.{name}", str(exc)))
            if kind != "volume":
                if name in owner:
                    issues.append(
                        Issue(
                            file,
                            f"{kind}.{name}",
                            f"the name {name!r} is already used by [{owner[name]}.{name}]",
                            "names must be unique across services, workers and crons",
                        )
                    )
                owner.setdefault(name, kind)
    return issues


def dependency_edges(manifest: Manifest) -> dict[str, tuple[str, ...]]:
    """``depends_on`` of every service and worker, keyed by name."""
    edges: dict[str, tuple[str, ...]] = {name: s.depends_on for name, s in manifest.service.items()}
    edges.update({name: w.depends_on for name, w in manifest.worker.items()})
    return edges


def _dependency_issues(manifest: Manifest, file: str) -> list[Issue]:
    issues = []
    edges = dependency_edges(manifest)
    for kind in ("service", "worker"):
        for name, workload in getattr(manifest, kind).items():
            for index, dep in enumerate(workload.depends_on):
                key = f"{kind}.{name}.depends_on[{index}]"
                if dep == name:
                    issues.append(
                        Issue(file, key, f"{name!r} depends on itself", "remove it from depends_on")
                    )
                elif dep in manifest.cron:
                    issues.append(
                        Issue(file, key, f"{dep!r} is a cron; only services and workers can be depended on")
                    )
                elif dep not in edges:
                    hint = did_you_mean(dep, edges) or "known: " + (", ".join(sorted(edges)) or "none")
                    issues.append(Issue(file, key, f"depends on {dep!r}, which is not defined", hint))
            if len(set(workload.depends_on)) != len(workload.depends_on):
                issues.append(Issue(file, f"{kind}.{name}.depends_on", "lists the same dependency twice"))
    acyclic = {n: tuple(d for d in deps if d != n) for n, deps in edges.items()}
    cycle = find_cycle(acyclic)
    if cycle:
        kind = "service" if cycle[0] in manifest.service else "worker"
        issues.append(
            Issue(
                file,
                f"{kind}.{cycle[0]}.depends_on",
                "dependency cycle: " + " -> ".join(cycle),
                "remove one of these dependencies",
            )
        )
    return issues


def _covers(a: PortMapping, b: PortMapping) -> bool:
    wildcard = {None, "0.0.0.0", "::"}
    if a.host_ip in wildcard or b.host_ip in wildcard:
        return True
    return bool(ipaddress.ip_address(a.host_ip or "0.0.0.0") == ipaddress.ip_address(b.host_ip or "0.0.0.0"))


def _host_port_issues(manifest: Manifest, file: str) -> list[Issue]:
    issues = []
    seen: list[tuple[str, PortMapping]] = []
    for name, service in manifest.service.items():
        for index, mapping in enumerate(service.ports):
            if mapping.host_port is None:
                continue
            for other_key, other in seen:
                if other.host_port == mapping.host_port and _covers(other, mapping):
                    issues.append(
                        Issue(
                            file,
                            f"service.{name}.ports[{index}]",
                            f"host port {mapping.host_port} is already published by {other_key}",
                            "give each published port its own host port",
                        )
                    )
                    break
            seen.append((f"service.{name}.ports[{index}]", mapping))
    return issues


def _health_port_issues(manifest: Manifest, file: str) -> list[Issue]:
    issues = []
    for name, service in manifest.service.items():
        declared = [p.port for p in service.ports]
        if len(set(declared)) != len(declared):
            issues.append(Issue(file, f"service.{name}.ports", "declares the same instance port twice"))
        check = service.health_check
        if check is None or check.type == "exec":
            continue
        if check.port is None and not declared:
            issues.append(
                Issue(
                    file,
                    f"service.{name}.health_check.port",
                    f'is required for a "{check.type}" check when the service declares no ports',
                    'declare ports = ["8080"] on the service or set health_check.port',
                )
            )
        elif check.port is not None and declared and check.port not in declared:
            issues.append(
                Issue(
                    file,
                    f"service.{name}.health_check.port",
                    f"{check.port} is not one of the declared ports {declared}",
                    "health checks name the instance-side port (the right-hand side of a mapping)",
                )
            )
    return issues


def _volume_issues(manifest: Manifest, file: str) -> list[Issue]:
    issues = []
    for kind in KINDS:
        for name, workload in getattr(manifest, kind).items():
            for index, mount in enumerate(workload.volumes):
                if not mount.is_bind and mount.source not in manifest.volume:
                    hint = did_you_mean(mount.source, manifest.volume) or (
                        f"declare it as [volume.{mount.source}] or use a path such as ./{mount.source}"
                    )
                    issues.append(
                        Issue(
                            file,
                            f"{kind}.{name}.volumes[{index}]",
                            f"named volume {mount.source!r} is not declared",
                            hint,
                        )
                    )
    return issues


def _secret_env_warnings(manifest: Manifest, file: str) -> list[Issue]:
    """Secret-looking env values work (encrypted, fingerprinted), but belong in the secret store."""
    issues = []
    for kind in ("service", "worker", "cron"):
        for name, workload in getattr(manifest, kind).items():
            for key, value in workload.env.items():
                if value and is_secret_key(key):
                    issues.append(
                        Issue(
                            file,
                            f"{kind}.{name}.env.{key}",
                            "looks like a secret written in the manifest (its value travels with every up)",
                            f"move it into the engine's store: `mooring secret set {key} --app "
                            f'{manifest.app_name} < value-file`, then secrets = ["{key}"] '
                            f"in {kind}.{name} instead of env (docs/secrets.md)",
                            "warning",
                        )
                    )
    return issues


def _warnings(manifest: Manifest, file: str) -> list[Issue]:
    issues = _container_reach_warnings(manifest, file) + _secret_env_warnings(manifest, file)
    for name, service in manifest.service.items():
        check = service.health_check
        if check is not None and check.timeout > check.interval:
            issues.append(
                Issue(
                    file,
                    f"service.{name}.health_check.timeout",
                    "is longer than interval; probes will overlap",
                    "make timeout <= interval",
                    "warning",
                )
            )
        if service.rollout.strategy == "canary" and service.replicas == 1:
            issues.append(
                Issue(
                    file,
                    f"service.{name}.rollout.strategy",
                    "canary with one replica is a plain rolling update",
                    "raise replicas to get a real canary",
                    "warning",
                )
            )
    return issues


def _container_reach_warnings(manifest: Manifest, file: str) -> list[Issue]:
    """A container depending on a service published only on loopback gets no address for it."""
    issues = []
    for name, service in manifest.service.items():
        if service.image is None:
            continue
        for dep in service.depends_on:
            target = manifest.service.get(dep)
            published = [p for p in target.ports if p.host_port is not None] if target else []
            if not published or container_address(published[0].host_ip, published[0].host_port or 0):
                continue
            env = "MOORING_" + dep.upper().replace("-", "_") + "_ADDR"
            issues.append(
                Issue(
                    file,
                    f"service.{name}.depends_on",
                    f"{dep} is published on {published[0].render()}, a loopback address a container cannot "
                    f"reach; {env} is not set inside {name}'s containers",
                    f'publish {dep} on every address ("{published[0].host_port}:{published[0].port}") or on '
                    "an address of the host the container's bridge reaches (docs/containers.md)",
                    "warning",
                )
            )
    return issues
