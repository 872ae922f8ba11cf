"""Everything one run needs before its process exists (pipes, executable, cgroup), then the spawn."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from . import instance_files
from .cgroups import CgroupHost
from .instance_cgroup import InstanceCgroup
from .logs import InstanceLog
from .process import ProcessHandle, StartFailure, preflight, spawn
from .spec import InstanceSpec


@dataclass
class Launched:
    """A process that was exec'd (or is about to be) in its cgroup, and what its limits are."""

    handle: ProcessHandle
    cgroup: InstanceCgroup
    executable: str
    limits_applied: bool
    limits_note: str


async def launch(spec: InstanceSpec, log: InstanceLog, cgroups: CgroupHost, kill_timeout: float) -> Launched:
    """Prepare and spawn one run of ``spec``; raises :class:`StartFailure` with the reason.

    The cgroup is made (or re-checked, its limits rewritten) for every run, and processes left in
    it by a crashed engine are killed first: they are mooring's by construction.
    """
    cgroup: InstanceCgroup | None = None
    try:
        log.ensure_fifos()
        log.attach()
        executable = preflight(spec)
        instance_files.prepare(spec)
        log.own(instance_files.owner_of(spec))
        cgroup = cgroups.create(spec.app, spec.instance_id, spec.resources)
        if stale := cgroup.members():
            await cgroup.kill_all(kill_timeout)
            log.event(f"killed {len(stale)} leftover process(es) found in the instance's cgroup")
        log.event(f"starting: {shlex.join([executable, *spec.command[1:]])}")
        out, err = log.open_for_child()
        try:
            spawned = await spawn(spec, executable, out, err, cgroup.procs_files)
        finally:
            os.close(out)
            os.close(err)
    except (StartFailure, OSError) as exc:
        if cgroup is not None:
            cgroup.remove()  # nothing runs in it; a retry makes it again
        if isinstance(exc, OSError):
            what = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
            raise StartFailure(f"cannot prepare its files or output pipes ({what})") from exc
        log.event(f"failed to start: {exc}")
        raise
    applied, note = cgroup.limits_applied, cgroup.limits_note
    if spawned.join_failures:
        applied = False
        joined = ", ".join(spawned.join_failures)
        note = "; ".join(
            filter(None, [note, f"the process could not join {joined}: it runs outside those limits"])
        )
    log.event(f"running as pid {spawned.handle.pid}")
    return Launched(spawned.handle, cgroup, executable, applied, note)
