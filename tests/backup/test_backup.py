"""`mooring backup` / `mooring restore`: an online copy taken during a rollout restores into a fresh
home with its history, releases, events, secrets and the secret store's key; damage is caught."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine.conftest import Mooring, mooring, wait_until  # noqa: F401 - the per-test engine fixture
from tests.engine.releases_kit import _get, setup

SECRET = "restore-me-0f3c9a1b7e"
MANIFEST = f"""
[app]
name = "bk"

[service.web]
command = ["python3", "versioned.py"]
ports = ["8000"]
replicas = 3
env = {{ V = "${{V:-1}}", DB_PASSWORD = "{SECRET}" }}

[service.web.health_check]
type = "http"
path = "/health"
interval = "200ms"
timeout = "200ms"
retries = 3
start_period = "10s"  # a slow start on a loaded machine is not judged unhealthy

[service.web.rollout]
parallelism = 1
min_ready = "1s"
delay_between_batches = "1s"
"""


def _releases(m: Mooring) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _get(m, "/v1/apps/bk/releases")
    return result


def _stop_engine(m: Mooring) -> None:
    pid = m.engine_pid()
    if pid:
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: m.engine_pid() is None, timeout=30, what="the engine to stop")


@contextlib.contextmanager
def _other_home(base: Mooring, home: Path) -> Iterator[Mooring]:
    """A second mooring home on the same work directory, torn down like the fixture's."""
    other = Mooring(home=home, env={**base.env, "MOORING_HOME": str(home)}, cwd=base.cwd)
    try:
        yield other
    finally:
        with contextlib.suppress(Exception):
            other.run("down", "--app", "bk", timeout=60)
        pid = other.engine_pid()
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        other.kill_leftovers()


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().partition("=")[::2] for item in raw if item)


def test_backup_during_a_rollout_restores_into_a_fresh_home(mooring: Mooring, tmp_path: Path) -> None:  # noqa: F811
    setup(mooring, MANIFEST)
    mooring.run("up", check=True)
    key = os.urandom(32)  # the secret store's key file: a backup carries every *.key of the home
    (mooring.home / "secrets.key").write_bytes(key)
    rollout = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json"],
        env={**mooring.env, "V": "2"}, cwd=mooring.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(
            lambda: any(r["status"] == "in_progress" for r in _releases(mooring)),
            timeout=60,
            what="release 2 rolling",
        )
        backup = tmp_path / "state.tar.gz"
        made = mooring.run("backup", "-o", str(backup), "--json", check=True)
        index = json.loads(made.stdout)
        assert index["counts"]["releases"] == 2 and "secrets.key" in index["home_files"]
        _, err = rollout.communicate(timeout=180)
    finally:
        if rollout.poll() is None:
            rollout.kill()
    assert rollout.returncode == 0, err
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    original = {r["id"]: r["status"] for r in _releases(mooring)}
    # The host is lost: its apps and engine go away. A new home gets the backup.
    mooring.run("down", "--app", "bk", check=True)
    _stop_engine(mooring)
    with _other_home(mooring, tmp_path / "home2") as fresh:
        verified = fresh.run("restore", str(backup), "--verify", "--json")
        assert verified.returncode == 0, verified.stderr
        assert json.loads(verified.stdout)["counts"] == index["counts"]
        assert not (fresh.home / "state.db").exists()  # --verify changes nothing
        fresh.run("restore", str(backup), check=True)
        assert (fresh.home / "secrets.key").read_bytes() == key
        assert oct((fresh.home / "secrets.key").stat().st_mode & 0o777) == "0o600"
        with contextlib.closing(sqlite3.connect(fresh.home / "state.db")) as db:
            statuses = dict(db.execute("SELECT id, status FROM releases").fetchall())
            events = db.execute("SELECT count(*) FROM events").fetchone()[0]
            secrets = [row[0] for row in db.execute("SELECT value FROM secret_values")]
        assert set(statuses) == set(original)
        assert sorted(statuses.values()) == ["completed", "in_progress"]  # the moment of the backup
        assert events == index["counts"]["events"]
        # the value came back encrypted at rest (never in clear in a backup); line 141 shows the restored
        # engine decrypts it with the restored key into the instances' environment
        assert secrets and all(v.startswith("enc1:") for v in secrets) and SECRET not in secrets
        # The restored engine resumes the interrupted rollout from its journal, with the secret.
        history = fresh.run("history", "--app", "bk", "--json", check=True)
        assert {r["id"] for r in json.loads(history.stdout)} == set(original)
        wait_until(
            lambda: all(r["status"] == "completed" for r in _releases(fresh)),
            timeout=120,
            what="release 2 resumed",
        )
        rows = [r for r in fresh.ps("bk") if r["state"] == "running"]
        assert len(rows) == 3
        assert all(_environ(r["pid"])["DB_PASSWORD"] == SECRET for r in rows)
        timeline = fresh.run("events", "--app", "bk", "--json", check=True).stdout.splitlines()
        assert len(timeline) > events


def _backup_of_a_fresh_store(mooring: Mooring, tmp_path: Path, *args: str) -> Path:  # noqa: F811
    mooring.write("mooring.toml", '[service.s]\ncommand = "sleep 600"\nenv = { API_TOKEN = "t0k" }\n')
    mooring.run("up", check=True)
    path = tmp_path / "b.tar.gz"
    mooring.run("backup", "-o", str(path), *args, check=True)
    return path


def test_verify_fails_clearly_on_a_damaged_backup(mooring: Mooring, tmp_path: Path) -> None:  # noqa: F811
    path = _backup_of_a_fresh_store(mooring, tmp_path)
    assert mooring.run("restore", str(path), "--verify").returncode == 0
    blob = bytearray(path.read_bytes())
    # bytes flipped in the middle: gzip's CRC or the tar structure breaks
    torn = tmp_path / "torn.tar.gz"
    torn.write_bytes(
        bytes(blob[: len(blob) // 2])
        + bytes(b ^ 0xFF for b in blob[len(blob) // 2 : len(blob) // 2 + 64])
        + bytes(blob[len(blob) // 2 + 64 :])
    )
    result = mooring.run("restore", str(torn), "--verify")
    assert result.returncode == 1
    assert f"{torn} is damaged" in result.stderr and "use another copy" in result.stderr
    # a well-formed archive whose database was changed after the fact: the checksum catches it
    members = {}
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(bytes(blob)))) as tar:
        for info in tar.getmembers():
            members[info.name] = tar.extractfile(info).read()  # type: ignore[union-attr]
    db = bytearray(members["state.db"])
    db[len(db) // 2] ^= 0x01
    members["state.db"] = bytes(db)
    tampered = tmp_path / "tampered.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tampered.write_bytes(gzip.compress(buffer.getvalue()))
    result = mooring.run("restore", str(tampered), "--verify")
    assert result.returncode == 1
    assert "is damaged: state.db has sha256" in result.stderr
    # and a file that is no backup at all
    (tmp_path / "notes.txt").write_text("hello")
    result = mooring.run("restore", str(tmp_path / "notes.txt"), "--verify")
    assert result.returncode == 1 and "not a readable mooring backup" in result.stderr


def test_restore_is_refused_onto_a_running_engine(mooring: Mooring, tmp_path: Path) -> None:  # noqa: F811
    path = _backup_of_a_fresh_store(mooring, tmp_path)
    pid = mooring.engine_pid()
    result = mooring.run("restore", str(path), "--force")
    assert result.returncode == 1
    assert f"a mooring engine (pid {pid}) is running" in result.stderr
    assert f"kill -TERM {pid}" in result.stderr


def test_restore_will_not_replace_a_store_without_force(mooring: Mooring, tmp_path: Path) -> None:  # noqa: F811
    path = _backup_of_a_fresh_store(mooring, tmp_path)
    mooring.run("down", "--app", mooring.cwd.name.lower(), check=True)
    _stop_engine(mooring)
    result = mooring.run("restore", str(path))
    assert result.returncode == 1 and "pass --force" in result.stderr
    done = mooring.run("restore", str(path), "--force", "--json", check=True)
    kept = json.loads(done.stdout)["previous_kept_as"]
    assert kept and Path(kept).is_file()


def test_encrypted_backup_needs_its_passphrase(mooring: Mooring, tmp_path: Path) -> None:  # noqa: F811
    phrase = tmp_path / "pass"
    phrase.write_text("correct horse battery staple\n")
    path = _backup_of_a_fresh_store(mooring, tmp_path, "--passphrase-file", str(phrase))
    assert b"t0k" not in path.read_bytes() and not path.read_bytes().startswith(b"\x1f\x8b")
    result = mooring.run("restore", str(path), "--verify")
    assert result.returncode == 1 and "is encrypted" in result.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    result = mooring.run("restore", str(path), "--verify", "--passphrase-file", str(wrong))
    assert result.returncode == 1 and "cannot be decrypted" in result.stderr
    assert mooring.run("restore", str(path), "--verify", "--passphrase-file", str(phrase)).returncode == 0


def test_scheduled_backups_rotate_and_each_verifies(mooring: Mooring, tmp_path: Path) -> None:  # noqa: F811
    target = tmp_path / "backups"
    mooring.home.mkdir(parents=True, exist_ok=True)
    (mooring.home / "engine.toml").write_text(f'[backup]\nevery = "1s"\nkeep = 2\ndir = "{target}"\n')
    mooring.write("mooring.toml", '[service.s]\ncommand = "sleep 600"\n')
    mooring.run("up", check=True)
    seen: set[str] = set()
    copy = tmp_path / "scheduled.tar.gz"

    def rotated() -> bool:
        names = {p.name for p in target.glob("mooring-backup-*")} if target.is_dir() else set()
        seen.update(names)
        if len(seen) >= 4 and len(names) == 2:
            with contextlib.suppress(FileNotFoundError):  # the next run may rotate it away meanwhile
                copy.write_bytes((target / min(names)).read_bytes())
                return True
        return False

    wait_until(rotated, timeout=60, what="four scheduled backups, two kept")
    assert mooring.run("restore", str(copy), "--verify").returncode == 0


@pytest.mark.parametrize("every", ["0s", "soon"])
def test_a_bad_schedule_is_named(tmp_path: Path, every: str) -> None:
    from mooring.backup import BackupError
    from mooring.backup.schedule import read_schedule

    (tmp_path / "engine.toml").write_text(f'[backup]\nevery = "{every}"\n')
    with pytest.raises(BackupError, match=r"engine.toml: backup.every"):
        read_schedule(tmp_path)


def test_the_documented_schedule_is_read_as_written(tmp_path: Path) -> None:
    import re

    from mooring.backup.schedule import read_schedule
    from tests.conftest import REPO

    block = re.search(r"```toml\n(\[backup\].*?)```", (REPO / "docs/backup.md").read_text(), re.S)
    assert block
    (tmp_path / "engine.toml").write_text(block.group(1))
    schedule = read_schedule(tmp_path)
    assert schedule is not None
    assert (schedule.every, schedule.keep, str(schedule.directory)) == (6 * 3600, 7, "/var/backups/mooring")
    assert str(schedule.passphrase_file) == "/etc/mooring/backup.pass"
