"""`mooring backup` / `restore` on PostgreSQL: a pg_dump of the live store restores into another
database with its releases, events and secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mooring.store import open_store
from tests.store.conftest import PostgresServer

pytestmark = pytest.mark.postgres


def _mooring(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOORING_HOME": str(home), "MOORING_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "mooring", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_postgres_backup_restores_into_another_database(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    source = postgres_server.create_database("mooring_backup_source")
    with open_store(source) as store:
        release = store.create_release("shop", snapshot='{"service": {}}', manifest_hash="sha256:ab")
        for n in range(5):
            store.append_event("shop", "release.note", {"n": n}, release_id=release.id)
        store.put_secret("secret:sha256:00ff", "pg-secret-value")
    home = tmp_path / "home"
    home.mkdir()
    (home / "secrets.key").write_bytes(b"k" * 32)
    backup = tmp_path / "pg.tar.gz"
    made = _mooring(home, source, "backup", "-o", str(backup), "--json")
    assert made.returncode == 0, made.stderr
    index = json.loads(made.stdout)
    assert index["database"] == "postgresql" and index["counts"]["events"] == 5
    verified = _mooring(home, source, "restore", str(backup), "--verify")
    assert verified.returncode == 0, verified.stderr

    target = postgres_server.create_database("mooring_backup_target")
    refused = _mooring(tmp_path / "home2", target, "restore", str(backup))
    assert refused.returncode == 1 and "pass --force" in refused.stderr
    done = _mooring(tmp_path / "home2", target, "restore", str(backup), "--force")
    assert done.returncode == 0, done.stderr
    with open_store(target) as restored:
        assert restored.get_release(release.id).manifest_hash == "sha256:ab"
        assert [e.payload["n"] for e in restored.release_events(release.id)] == list(range(5))
        assert restored.get_secrets(["secret:sha256:00ff"]) == {"secret:sha256:00ff": "pg-secret-value"}
    assert (tmp_path / "home2" / "secrets.key").read_bytes() == b"k" * 32

    sqlite_home = tmp_path / "home3"
    crossed = subprocess.run(
        [sys.executable, "-m", "mooring", "restore", str(backup), "--force"],
        env={**{k: v for k, v in os.environ.items() if k != "MOORING_DATABASE_URL"}, "MOORING_HOME": str(sqlite_home)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert crossed.returncode == 1 and "holds a PostgreSQL dump" in crossed.stderr
