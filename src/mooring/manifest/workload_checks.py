"""Rules about who runs a workload and what state it owns: the host accounts exist, a service that
owns state never runs two instances on it."""

from __future__ import annotations

import grp
import pwd

from mooring.manifest.errors import Issue
from mooring.manifest.models import Manifest

KINDS = ("service", "worker", "cron")


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, OverflowError):
        return name.isdigit()  # a bare uid need not have an account (as for setpriv, docker)
    return True


def _group_exists(name: str) -> bool:
    try:
        grp.getgrgid(int(name)) if name.isdigit() else grp.getgrnam(name)
    except (KeyError, OverflowError):
        return name.isdigit()
    return True


def account_issues(manifest: Manifest, file: str) -> list[Issue]:
    """A host process's ``user``, ``group`` and ``groups`` must exist on this host.

    Containers are not checked: their users live in the image's /etc/passwd.
    """
    issues = []
    for kind in KINDS:
        for name, workload in getattr(manifest, kind).items():
            if workload.image is not None or workload.user is None:
                continue
            where = f"{kind}.{name}"
            if not _user_exists(workload.user):
                issues.append(
                    Issue(
                        file,
                        f"{where}.user",
                        f"user {workload.user!r} does not exist on this host",
                        f"create it (useradd --system {workload.user}) or name an existing user",
                    )
                )
            wanted = [("group", workload.group)] if workload.group else []
            wanted += [(f"groups[{i}]", g) for i, g in enumerate(workload.groups)]
            for key, group in wanted:
                if not _group_exists(group):
                    issues.append(
                        Issue(
                            file,
                            f"{where}.{key}",
                            f"group {group!r} does not exist on this host",
                            f"create it (groupadd --system {group}) or name an existing group",
                        )
                    )
    return issues


def state_issues(manifest: Manifest, file: str) -> list[Issue]:
    """Two instances on the same state lose or corrupt it (redis reloading an old dump, PostgreSQL's
    postmaster.pid lock): errors for a stateful service that would, a warning for a likely one."""
    issues = []
    for name, service in manifest.service.items():
        where = f"service.{name}"
        why = "stateful = true" if service.stateful else f"data_dir = {service.data_dir!r}"
        if service.owns_state:
            if service.replicas > 1:
                issues.append(
                    Issue(
                        file,
                        f"{where}.replicas",
                        f"is {service.replicas}, but the service owns state ({why}): "
                        "each replica would run on the same data",
                        "set replicas = 1, or run one service per copy of the data",
                    )
                )
            if service.rollout.order == "start_first":
                issues.append(
                    Issue(
                        file,
                        f"{where}.rollout.order",
                        f'is "start_first", but the service owns state ({why}): '
                        "the new instance would start on the data the old one still uses",
                        'remove rollout.order (a stateful service cuts over "stop_first")',
                    )
                )
            continue
        writable = [m for m in service.volumes if not m.read_only]
        if writable and service.replicas == 1 and service.rollout.order == "start_first":
            issues.append(
                Issue(
                    file,
                    f"{where}.rollout.order",
                    f"is start_first while the service writes to volume {writable[0].source!r}: "
                    "during a cutover the old and the new instance share it",
                    'set stateful = true (stop-first cutover) or rollout.order = "stop_first"',
                    "warning",
                )
            )
    return issues
