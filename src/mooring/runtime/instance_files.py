"""An instance's own files: its directory of rendered templates and its data directory, owned by
the user it runs as and readable by that user only."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

from .spec import InstanceSpec


def owner_of(spec: InstanceSpec) -> tuple[int, int] | None:
    """``(uid, gid)`` the instance's files belong to, or None to keep the engine's."""
    if spec.uid is None:
        return None
    return spec.uid, spec.gid if spec.gid is not None else -1


def _own(path: Path | int, owner: tuple[int, int] | None, mode: int) -> None:
    if isinstance(path, int):
        if owner is not None:
            os.fchown(path, *owner)
        os.fchmod(path, mode)
        return
    if owner is not None:
        os.chown(path, *owner, follow_symlinks=False)
    os.chmod(path, mode)


def prepare(spec: InstanceSpec) -> None:
    """Render the instance's files (anew for every run: a restart starts from the release's text)
    and make its data directory if missing. Raises OSError naming the path on failure."""
    owner = owner_of(spec)
    if spec.data_dir and not os.path.isdir(spec.data_dir):
        os.makedirs(spec.data_dir, mode=0o700)
        _own(Path(spec.data_dir), owner, 0o700)
    if not spec.instance_dir:
        return
    root = Path(spec.instance_dir)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _own(root, owner, 0o700)
    if owner is not None:
        # the user must reach its directory: the root of instance dirs and mooring's home become
        # traversable (0711: entering, not listing); every instance dir stays its owner's alone
        for parent in (root.parent, root.parent.parent):
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(parent, (mode & 0o7777) | stat.S_IXOTH)
    for relative, content in spec.files.items():
        target = root / relative
        for parent in reversed(target.relative_to(root).parents[:-1]):
            (root / parent).mkdir(exist_ok=True, mode=0o700)
            _own(root / parent, owner, 0o700)
        temporary = target.with_name(f".{target.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            _own(fd, owner, 0o600)
            os.write(fd, content.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(temporary, target)  # whole or not at all, even if the instance reads it now


def remove(instance_dir: str | None) -> None:
    """Delete the instance's directory (its rendered files go with it)."""
    if instance_dir:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(instance_dir)
