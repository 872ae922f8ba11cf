"""`make demo` / `make test` set up a fresh Debian machine: scripts/setup-debian.sh finds what is
missing and installs it as root, or stops at once with the one command to run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "setup-debian.sh"
EVERYTHING = (
    "postgresql util-linux openssl docker.io busybox-static iproute2 wrk redis-server nginx-light chromium"
    " chromium-driver pebble haproxy"
)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A scratch directory another user can enter (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="mooring-setup-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def bare_path(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only these tools: a machine where nothing of the test kit is installed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(mode=0o755)
    (bin_dir / "python3").symlink_to(os.path.realpath(sys.executable))  # the interpreter, not a shim
    for tool in ("sh", "ls", "grep", "id", *tools):
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run this test"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def run(
    tmp_path: Path, *args: str, path: str, user: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "setup-debian.sh"
    shutil.copy(SCRIPT, script)
    script.chmod(0o755)
    command = ["sh", str(script), *args]
    if user:
        command = [shutil.which("runuser") or "runuser", "-u", user, "--", *command]
    full_env = {"PATH": path, "SETUP_ROOT": str(tmp_path / "empty-root"), **env}
    return subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=60)


def test_a_bare_machine_needs_the_whole_test_kit(tmp_path: Path) -> None:
    result = run(tmp_path, "test", path=bare_path(tmp_path), SETUP_DRY_RUN="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"would run: apt-get update && apt-get install -y --no-install-recommends {EVERYTHING}"
    )


def test_the_demo_needs_python_and_haproxy(tmp_path: Path) -> None:
    result = run(tmp_path, "demo", path=bare_path(tmp_path), SETUP_DRY_RUN="1")
    assert result.returncode == 0, result.stderr  # python3 here has venv; the published port needs HAProxy
    assert (
        result.stdout.strip()
        == "would run: apt-get update && apt-get install -y --no-install-recommends haproxy"
    )


def test_not_root_stops_at_once_with_the_one_command_to_run(tmp_path: Path) -> None:
    path = bare_path(tmp_path, "apt-get")
    result = run(tmp_path, "test", path=path, user="nobody")
    assert result.returncode == 1, result.stdout + result.stderr
    # (nobody cannot run root's Python here, so python3-venv may lead the list)
    assert "make test needs these Debian packages:" in result.stderr and EVERYTHING in result.stderr
    assert "sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends " in result.stderr
    assert f"{EVERYTHING}'" in result.stderr, result.stderr


def test_this_machine_has_everything_and_skip_means_skip(tmp_path: Path) -> None:
    here = subprocess.run(
        ["sh", str(SCRIPT), "test"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SETUP_DRY_RUN": "1"},
    )
    assert here.returncode == 0 and here.stdout == "", here.stdout  # CI installed it all already
    skipped = run(tmp_path, "test", path=bare_path(tmp_path), MOORING_SKIP_SETUP="1")
    assert skipped.returncode == 0 and skipped.stdout == skipped.stderr == ""


def test_the_makefile_and_ci_call_it() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "test: setup-test lint typecheck pytest" in makefile and "demo: setup-demo install" in makefile
    ci = (REPO / ".ci" / "run").read_text()
    assert "apt-get install" in ci and "postgresql" not in ci  # only make itself; the rest is make's
