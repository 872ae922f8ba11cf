"""After ``down``: what of the app still runs, recorded or not, so ``down`` never reports a false success.

A process instance is provably this engine's when its stdout or stderr is one of the output FIFOs
under this engine's log directory (``$MOORING_HOME/logs/<instance>.stdout.fifo``): no other engine
and no foreign program writes there. A container is by its ``mooring.home`` and ``mooring.app``
labels. Both catch instances the book lost (never journaled, or journaled by an older engine).
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

FIFO_SUFFIXES = (".stdout.fifo", ".stderr.fifo")


@dataclass(frozen=True)
class Survivor:
    """Something of the app that still runs after ``down`` stopped everything it knew."""

    instance_id: str
    service: str
    pid: int | None = None
    container_id: str | None = None

    def describe(self) -> str:
        where = f"pid {self.pid}" if self.pid else f"container {(self.container_id or '')[:12]}"
        return f"{self.instance_id} ({self.service}, {where})"

    def view(self) -> dict[str, object]:
        return {
            "instance_id": self.instance_id,
            "service": self.service,
            "pid": self.pid,
            "container_id": self.container_id,
        }


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _fifo_instance(pid: int, fifo_dir: str) -> str | None:
    """The instance whose output FIFO (under ``fifo_dir``) this process writes to, if any."""
    for fd in (1, 2):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        head, _, name = target.rpartition("/")
        if head == fifo_dir:
            for suffix in FIFO_SUFFIXES:
                if name.endswith(suffix):
                    return name[: -len(suffix)]
    return None


def running_processes(fifo_dir: Path, app: str, services: Collection[str] | None) -> list[Survivor]:
    """Live processes of ``app`` writing to this engine's FIFOs (one per instance: its leader or any)."""
    found: dict[str, Survivor] = {}
    own = os.getpid()
    directory = str(fifo_dir.resolve())
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        pid = int(entry.name)
        instance = _fifo_instance(pid, directory)
        if instance is None:
            continue
        env = _environ(pid)
        if env.get("MOORING_APP") != app:
            continue
        service = env.get("MOORING_SERVICE", "?")
        if services and service not in services:
            continue
        if _is_zombie(pid):
            continue
        known = found.get(instance)
        if known is None or (known.pid or 0) > pid:
            found[instance] = Survivor(instance, service, pid=pid)
    return sorted(found.values(), key=lambda s: s.instance_id)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def message(app: str, survivors: list[Survivor]) -> str:
    listed = ", ".join(s.describe() for s in survivors)
    return f"app {app}: {len(survivors)} instance(s) still run after down: {listed}"
