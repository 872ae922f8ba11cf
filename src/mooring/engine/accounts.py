"""The host account a process instance runs as: names from the manifest resolved to ids."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Account:
    uid: int
    gid: int
    groups: tuple[int, ...]
    env: Mapping[str, str] = field(default_factory=dict)  # HOME, USER, LOGNAME of that user


def _gid(name: str) -> int:
    return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid


def resolve_account(section: Mapping[str, Any]) -> Account | None:
    """``user``/``group``/``groups`` of a workload as ids; None when it runs as the engine's user.

    The primary group defaults to the user's, the supplementary groups to every group the user is
    a member of (as ``su``/``runuser`` do); ``groups`` replaces them. Raises ValueError naming the
    account when it does not exist on this host (validate checks this too).
    """
    user = section.get("user")
    if not user:
        return None
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        if not user.isdigit():
            raise ValueError(f"user {user!r} does not exist on this host") from None
        entry = None
    uid = entry.pw_uid if entry else int(user)
    group = section.get("group")
    try:
        gid = _gid(group) if group else (entry.pw_gid if entry else uid)
        if section.get("groups"):
            groups = tuple(_gid(g) for g in section["groups"])
        elif entry is not None:
            groups = tuple(os.getgrouplist(entry.pw_name, gid))
        else:
            groups = ()
    except KeyError as exc:
        raise ValueError(f"group {exc.args[0]!r} does not exist on this host") from None
    env = {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name} if entry else {}
    return Account(uid, gid, groups, env)
