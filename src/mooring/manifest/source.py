"""The content digest of the files a process service runs, so that a code change is a change.

A process service runs what is in its ``working_dir``; its snapshot carries ``source``, a sha256 over
the relative path, the executable bit and the bytes of every file there, except what
``.mooringignore`` (gitignore-like: ``name``, ``dir/``, ``*.log``, ``build/**``, ``# comment``)
excludes. A ``source = ["*.py", "templates/**"]`` list in the manifest replaces the walk with those
globs. The walk is bounded (files, bytes, seconds) so a service started from ``/`` or a huge data
directory fails loudly with what to do, instead of hanging an apply.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IGNORE_FILE = ".mooringignore"
# never code: version control, caches, virtual environments, state a service writes (logs, pids,
# sockets, databases); and the manifest itself, whose changes the snapshot already tells field by
# field (an edit of one service must not restart all)
DEFAULT_IGNORES = (
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    ".venv/",
    "node_modules/",
    ".mypy_cache/",
    ".pytest_cache/",
    "*.log",
    "*.pid",
    "*.sock",
    "*.db",
    "*.sqlite",
    "*.sqlite3",
    "mooring.toml",
    "*.mooring.toml",
)
MAX_FILES = 20_000
MAX_BYTES = 512 * 1024 * 1024
MAX_SECONDS = 20.0


class SourceError(ValueError):
    """The source of a service cannot be digested (too big, too slow, unreadable)."""


@dataclass(frozen=True)
class Limits:
    files: int = MAX_FILES
    bytes: int = MAX_BYTES
    seconds: float = MAX_SECONDS


def read_ignores(root: Path, extra: Sequence[str] = ()) -> list[str]:
    """The patterns of ``root/.mooringignore`` after the defaults; blank lines and comments dropped."""
    patterns = [*DEFAULT_IGNORES, *extra]
    path = root / IGNORE_FILE
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    return patterns


def ignored(relative: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    """gitignore's common cases: a pattern without ``/`` matches any path component's name; one with
    ``/`` matches the path from the root; a trailing ``/`` matches directories only; ``!`` re-includes."""
    name = relative.rsplit("/", 1)[-1]
    verdict = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        if not pattern or (dir_only and not is_dir):
            continue
        if "/" in pattern:
            pattern = pattern.lstrip("/")
            hit = fnmatch.fnmatchcase(relative, pattern) or fnmatch.fnmatchcase(relative, pattern + "/**")
        else:
            hit = fnmatch.fnmatchcase(name, pattern)
        if hit:
            verdict = not negate
    return verdict


def _walk(root: Path, patterns: Sequence[str]) -> Iterator[str]:
    for current, dirs, files in os.walk(root, followlinks=False):
        base = Path(current).relative_to(root).as_posix()
        prefix = "" if base == "." else base + "/"
        dirs[:] = sorted(d for d in dirs if not ignored(prefix + d, True, patterns))
        for name in sorted(files):
            if not ignored(prefix + name, False, patterns):
                yield prefix + name


def _globbed(root: Path, globs: Sequence[str]) -> Iterator[str]:
    seen: set[str] = set()
    for pattern in globs:
        for match in sorted(root.glob(pattern)):
            # a directory (`templates`, or what `templates/**` matches) stands for every file in it
            for path in sorted(match.rglob("*")) if match.is_dir() else [match]:
                relative = path.relative_to(root).as_posix()
                if path.is_file() and relative not in seen:
                    seen.add(relative)
                    yield relative


def digest(
    root: Path, globs: Sequence[str] | None = None, limits: Limits = Limits(), skip: Sequence[str] = ()
) -> str:
    """``sha256:<hex>`` of the service's files under ``root`` (``globs`` instead of the ignore-file walk;
    ``skip``: more patterns to ignore, e.g. the service's env files, whose values the snapshot holds)."""
    where = f"working_dir {root}"
    if not root.is_dir():
        raise SourceError(f"{where} is not a directory")
    started = time.monotonic()
    paths = sorted(_globbed(root, globs) if globs else _walk(root, read_ignores(root, skip)))
    total = hashlib.sha256()
    size = 0
    for count, relative in enumerate(paths, 1):
        if count > limits.files:
            raise SourceError(
                f"{where}: more than {limits.files} files to digest",
                # the fix is to say what the code is, not to raise the bound
            )
        if time.monotonic() - started > limits.seconds:
            raise SourceError(f"{where}: digesting the source took more than {limits.seconds:g}s")
        path = root / relative
        try:
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path).encode()
            elif stat.S_ISREG(info.st_mode):
                size += info.st_size
                if size > limits.bytes:
                    raise SourceError(f"{where}: more than {limits.bytes // 2**20} MiB of files to digest")
                content = path.read_bytes()
            else:
                continue
        except OSError as exc:
            raise SourceError(f"{where}: cannot read {relative}: {exc.strerror or exc}") from None
        executable = "x" if info.st_mode & stat.S_IXUSR else "-"
        total.update(f"{relative}\0{executable}\0{len(content)}\0".encode())
        total.update(content)
    return "sha256:" + total.hexdigest()


HINT = (
    f'list the service\'s code with source = ["*.py", ...] in the manifest, or exclude data and build '
    f"output in {IGNORE_FILE} in its working_dir"
)


def stamp_sources(snapshot: Mapping[str, Any], limits: Limits = Limits()) -> dict[str, Any]:
    """A copy of ``snapshot`` whose process services carry ``source``: the digest of their files.

    Raises SourceError naming the service; a service whose working_dir does not exist here is left
    without a digest (it fails to start anyway, with its own error)."""
    out = dict(snapshot)
    services = dict(out.get("service", {}))
    for name, service in services.items():
        if service.get("driver") != "process" or not service.get("working_dir"):
            continue
        root = Path(service["working_dir"])
        if not root.is_dir():
            continue
        env_files = [_relative(root, f) for f in service.get("env_file") or ()]
        try:
            value = digest(root, service.get("source_globs"), limits, [f for f in env_files if f])
        except SourceError as exc:
            raise SourceError(f"service.{name}: {exc}; {HINT}") from None
        services[name] = {**service, "source": value}
    out["service"] = services
    return out


def _relative(root: Path, path: str) -> str | None:
    """``path`` as an anchored ignore pattern if it lies under ``root``."""
    try:
        return "/" + (root / path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None
