"""Secret files of instances: one directory per instance on tmpfs, never on a disk.

``/dev/shm/mooring-<uid>/<engine>/<instance id>/`` (mode 0700; ``$MOORING_SECRETS_RUN_DIR``
overrides the base, which must be a tmpfs). A process reads its files there (mode 0400,
``$MOORING_SECRETS_DIR``); a container gets each file mounted read-only at ``/run/secrets/<file>``
(mode 0444 inside: the image's user may not be the engine's, and the 0700 directory keeps other host
users out). The directory is removed when the engine forgets the instance.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

RUN_DIR_ENV = "MOORING_SECRETS_RUN_DIR"
DEFAULT_BASE = "/dev/shm"
MEMORY_FILESYSTEMS = ("tmpfs", "ramfs")
CONTAINER_DIR = "/run/secrets"


class SecretFileError(Exception):
    """The secrets directory cannot be made (not a tmpfs, not writable)."""


def secrets_root(home: Path) -> Path:
    """This engine's directory of instance secrets (engines with different homes never share one)."""
    return _secrets_root(home, os.environ.get(RUN_DIR_ENV) or str(DEFAULT_BASE), os.geteuid())


@functools.lru_cache(maxsize=16)
def _secrets_root(home: Path, base: str, uid: int) -> Path:
    # computed once per home: resolving the home and hashing it at every instance's end was ~7 % of
    # stopping 500 (docs/performance.md)
    engine = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path(base) / f"mooring-{uid}" / engine


def filesystem_of(path: Path) -> str:
    """The filesystem type of the mount that holds ``path`` (from /proc/self/mounts)."""
    best, kind = "", "unknown"
    target = str(path.resolve())
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) < 3:
                continue
            point = fields[1].replace("\\040", " ")
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def write_secret_files(home: Path, instance_id: str, files: Mapping[str, str], container: bool) -> Path:
    """Write ``files`` (name -> value) for one instance; the directory that holds them."""
    root = secrets_root(home)
    root.parent.parent.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root.parent, 0o700)
    kind = filesystem_of(root)
    if kind not in MEMORY_FILESYSTEMS:
        raise SecretFileError(
            f"secret files must live in memory, but {root} is on {kind}; "
            f"set {RUN_DIR_ENV} to a tmpfs directory (e.g. /run/user/$UID)"
        )
    folder = root / instance_id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    for name, value in files.items():
        path = folder / name
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, value.encode("utf-8"))
            os.fchmod(fd, 0o444 if container else 0o400)
        finally:
            os.close(fd)
    return folder


def remove_secret_files(home: Path, instance_id: str) -> None:
    """Remove an instance's secret files, if it had any."""
    if not instance_id or "/" in instance_id:
        return
    shutil.rmtree(secrets_root(home) / instance_id, ignore_errors=True)
