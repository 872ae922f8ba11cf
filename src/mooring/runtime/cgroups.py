"""Which cgroups this host offers, and making one per instance with its limits applied.

Two layouts are supported, detected once at start from ``/proc/self/mountinfo``:

- **v2 with controllers** (one tree, e.g. at ``/sys/fs/cgroup``): one directory per instance
  carries the limits, the membership and ``cgroup.kill``.
- **v1 controllers** (``/sys/fs/cgroup/{cpu,memory,pids}``), usually with a v2 tree without
  controllers beside it (``/sys/fs/cgroup/unified``): limits live in the v1 directories, the v2
  directory groups the processes and offers ``cgroup.kill``.

Each controller is taken from v2 when v2 offers it, else from v1, else it is missing; a missing
controller is *reported* on the instance (``limits_note``), never faked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .instance_cgroup import CgroupDir, InstanceCgroup, read_text, write_text
from .spec import Resources, check_name

CONTROLLERS = ("cpu", "memory", "pids")
CPU_PERIOD_US = 100_000

# Every instance's directory names the controllers it uses: one shared frozenset per distinct set
# instead of one per instance and hierarchy (~0.2 KiB each).
_INTERNED: dict[frozenset[str], frozenset[str]] = {}


def _intern(controllers: frozenset[str]) -> frozenset[str]:
    return _INTERNED.setdefault(controllers, controllers)


@dataclass(frozen=True)
class Hierarchy:
    """One mounted cgroup hierarchy and where this process sits in it."""

    version: int  # 1 or 2
    mount: Path
    mount_root: str  # the hierarchy path shown at the mount point ("/" unless in a container)
    controllers: frozenset[str]  # v1: bound to the hierarchy; v2: offered at our base directory
    own_path: str  # this process's cgroup in the hierarchy, from /proc/self/cgroup

    def base(self, nest_in_own_cgroup: bool) -> Path:
        """The directory under which mooring makes its tree."""
        if not nest_in_own_cgroup:
            return self.mount
        rel = self.own_path
        if self.mount_root != "/" and rel.startswith(self.mount_root):
            rel = rel[len(self.mount_root) :]
        return self.mount / rel.lstrip("/")


def parse_mountinfo(text: str) -> list[tuple[str, str, str, frozenset[str]]]:
    """``(mount_root, mount_point, fstype, super_options)`` of every cgroup mount."""
    mounts = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        pre_fields, post_fields = pre.split(), post.split()
        if len(pre_fields) < 5 or len(post_fields) < 3 or post_fields[0] not in ("cgroup", "cgroup2"):
            continue
        point = pre_fields[4].replace("\\040", " ")
        mounts.append((pre_fields[3], point, post_fields[0], frozenset(post_fields[2].split(","))))
    return mounts


def parse_own_cgroups(text: str) -> dict[str, str]:
    """This process's cgroup per v1 controller (and ``""`` for the v2 tree), from /proc/self/cgroup."""
    own: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for name in parts[1].split(",") if parts[1] else [""]:
            own[name] = parts[2]
    return own


@dataclass(frozen=True)
class CgroupHost:
    """The cgroup layout of this host and where mooring keeps its groups (``<prefix>/<app>/<id>``).

    ``nest_in_own_cgroup`` puts the tree under the engine's own cgroup instead of each hierarchy's
    root: useful when the engine itself runs inside a delegated or limited cgroup (and in tests).
    """

    prefix: str = "mooring"
    nest_in_own_cgroup: bool = False
    unified: Hierarchy | None = None
    v1: Mapping[str, Hierarchy] = field(default_factory=dict)

    @classmethod
    def detect(
        cls,
        prefix: str = "mooring",
        *,
        nest_in_own_cgroup: bool = False,
        proc_root: str = "/proc/self",
    ) -> CgroupHost:
        """Read the mounts and our own cgroups; hierarchies we cannot use are simply left out."""
        for part in prefix.split("/"):
            check_name("cgroup prefix part", part)
        try:
            mounts = parse_mountinfo(Path(proc_root, "mountinfo").read_text())
            own = parse_own_cgroups(Path(proc_root, "cgroup").read_text())
        except OSError:
            return cls(prefix, nest_in_own_cgroup)
        unified: Hierarchy | None = None
        v1: dict[str, Hierarchy] = {}
        for mount_root, point, fstype, options in mounts:
            if fstype == "cgroup2" and unified is None and "" in own:
                h = Hierarchy(2, Path(point), mount_root, frozenset(), own[""])
                offered = read_text(h.base(nest_in_own_cgroup) / "cgroup.controllers")
                if offered is None:
                    continue
                controllers = frozenset(offered.split()) & frozenset(CONTROLLERS)
                unified = Hierarchy(2, Path(point), mount_root, controllers, own[""])
            elif fstype == "cgroup":
                for name in CONTROLLERS:
                    if name in options and name not in v1 and name in own:
                        bound = frozenset(options) & frozenset((*CONTROLLERS, "cpuacct"))
                        v1[name] = Hierarchy(1, Path(point), mount_root, bound, own[name])
        return cls(prefix, nest_in_own_cgroup, unified, v1)

    def home(self, controller: str) -> Hierarchy | None:
        """The hierarchy that serves ``controller``: v2 when it offers it, else v1, else none."""
        if self.unified is not None and controller in self.unified.controllers:
            return self.unified
        return self.v1.get(controller)

    @property
    def available(self) -> bool:
        """Whether any cgroup can be made at all (else instances run as process groups only)."""
        return self.unified is not None or bool(self.v1)

    def describe(self) -> str:
        """One line for ``mooring status`` / the engine's start-up log."""
        if not self.available:
            return "no usable cgroups: instances are tracked by process group only; no resource limits"
        parts = []
        for name in CONTROLLERS:
            h = self.home(name)
            parts.append(f"{name}: v{h.version} at {h.mount}" if h else f"{name}: none")
        if self.unified is not None:
            parts.append(f"grouping and kill: v2 at {self.unified.mount}")
        return "cgroups: " + ", ".join(parts)

    def _hierarchies(self) -> list[Hierarchy]:
        """Every hierarchy an instance gets a directory in: the v2 tree first, then v1 (deduplicated)."""
        found: list[Hierarchy] = [self.unified] if self.unified is not None else []
        for name in CONTROLLERS:
            h = self.v1.get(name)
            if h is not None and h not in found and self.home(name) is h:
                found.append(h)
        return found

    def app_dirs(self, app: str) -> list[Path]:
        """The ``<prefix>/<app>`` directory in every hierarchy."""
        return [h.base(self.nest_in_own_cgroup) / self.prefix / app for h in self._hierarchies()]

    def prefix_dirs(self) -> list[Path]:
        """The ``<prefix>`` directory in every hierarchy (what an uninstall or a test removes)."""
        return [h.base(self.nest_in_own_cgroup) / self.prefix for h in self._hierarchies()]

    def expected_paths(self, app: str, instance_id: str) -> list[str]:
        """Where :meth:`create` puts the instance's directories (to find leftovers of a crashed engine)."""
        return [str(d / instance_id) for d in self.app_dirs(app)]

    def _used(self, h: Hierarchy) -> frozenset[str]:
        """The controllers an instance uses in ``h`` (one shared set per hierarchy and host)."""
        return _intern(frozenset(c for c in CONTROLLERS if self.home(c) is h))

    def create(self, app: str, instance_id: str, resources: Resources) -> InstanceCgroup:
        """Make (or reuse) the instance's directories and apply its limits; report what failed."""
        if not self.available:
            note = "no usable cgroups on this host: tracked by process group only"
            if resources.requested:
                return InstanceCgroup([], False, f"limits not applied: {note}")
            return InstanceCgroup([], True, note)
        notes: list[str] = []
        dirs: list[CgroupDir] = []
        for h in self._hierarchies():
            made = self._make_dir(h, app, instance_id, self._used(h), notes)
            if made is not None:
                dirs.append(made)
        group = InstanceCgroup(dirs, True, "")
        applied = self._apply_limits(group, resources, notes)
        return InstanceCgroup(dirs, applied, "; ".join(notes))

    def open(self, paths: list[str]) -> InstanceCgroup:
        """The recorded directories of an instance, for adoption (limits are already in place)."""
        dirs: list[CgroupDir] = []
        for raw in paths:
            path = Path(raw)
            for h in self._hierarchies():
                if path.is_relative_to(h.mount):
                    dirs.append(CgroupDir(raw, h.version, self._used(h), h.controllers))
                    break
        return InstanceCgroup(dirs, True, "")

    def _make_dir(
        self, h: Hierarchy, app: str, instance_id: str, wanted: frozenset[str], notes: list[str]
    ) -> CgroupDir | None:
        base = h.base(self.nest_in_own_cgroup)
        levels = [base, base / self.prefix, base / self.prefix / app]
        leaf = f"{levels[-1]}/{instance_id}"
        try:
            os.mkdir(leaf)
        except FileExistsError:
            pass
        except FileNotFoundError:  # the app's directory (or the prefix's) is made once, here
            try:
                os.makedirs(leaf, exist_ok=True)
            except OSError as exc:
                notes.append(f"cannot create cgroup {leaf}: {exc.strerror}")
                return None
        except OSError as exc:
            notes.append(f"cannot create cgroup {leaf}: {exc.strerror}")
            return None
        enabled = wanted
        if h.version == 2 and wanted:
            # v2 hands a controller down one level at a time, through each parent's subtree_control.
            for level in levels:
                enabled = self._enable_v2(level, enabled, notes)
        return CgroupDir(leaf, h.version, _intern(enabled), h.controllers)

    @staticmethod
    def _enable_v2(level: Path, wanted: frozenset[str], notes: list[str]) -> frozenset[str]:
        current = set((read_text(level / "cgroup.subtree_control") or "").split())
        enabled = set(wanted & current)
        for name in sorted(wanted - current):
            error = write_text(level / "cgroup.subtree_control", f"+{name}")
            if error is None:
                enabled.add(name)
            else:
                notes.append(f"cannot enable the {name} controller in {level}: {error}")
        return frozenset(enabled)

    def _apply_limits(self, group: InstanceCgroup, resources: Resources, notes: list[str]) -> bool:
        applied = True

        def put(name: str, what: str, writes: list[tuple[str, str]], optional: tuple[str, ...] = ()) -> None:
            nonlocal applied
            target = group.dir_for(name)
            if target is None:
                applied = False
                notes.append(f"{what} limit not applied: no {name} controller available")
                return
            for filename, value in writes:
                if filename in optional and not os.path.exists(target.file(filename)):
                    continue
                error = write_text(target.file(filename), value)
                if error is not None:
                    applied = False
                    notes.append(f"{what} limit not applied: writing {target.file(filename)}: {error}")
                    return

        if resources.cpu is not None:
            quota = max(1000, int(resources.cpu * CPU_PERIOD_US))
            if (h := self.home("cpu")) is not None and h.version == 2:
                put("cpu", "cpu", [("cpu.max", f"{quota} {CPU_PERIOD_US}")])
            else:
                put(
                    "cpu",
                    "cpu",
                    [("cpu.cfs_period_us", str(CPU_PERIOD_US)), ("cpu.cfs_quota_us", str(quota))],
                )
        if resources.memory is not None:
            size = str(resources.memory)
            if (h := self.home("memory")) is not None and h.version == 2:
                # Swap would let a process blow past its limit slowly instead of being OOM-killed.
                put(
                    "memory", "memory", [("memory.max", size), ("memory.swap.max", "0")], ("memory.swap.max",)
                )
            else:
                writes = [("memory.limit_in_bytes", size), ("memory.memsw.limit_in_bytes", size)]
                put("memory", "memory", writes, ("memory.memsw.limit_in_bytes",))
        if resources.pids is not None:
            put("pids", "pids", [("pids.max", str(resources.pids))])
        return applied
