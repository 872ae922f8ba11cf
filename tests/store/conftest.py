"""Fixtures: every store test runs against SQLite in a temp dir and against a real PostgreSQL."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from mooring.store import Store, open_store
from mooring.store.tables import Base


@dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL cluster listening only on a unix socket in ``socket_dir``."""

    socket_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        with psycopg.connect(
            host=str(self.socket_dir), user="postgres", dbname="postgres", autocommit=True
        ) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _postgres_bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail(
            "PostgreSQL server binaries are missing (no /usr/lib/postgresql/*/bin/initdb), so the "
            "postgres-marked store tests cannot run. Install them: `apt-get install postgresql`",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _as_postgres_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        pytest.fail(
            f"{what} failed ({' '.join(command)}):\n{result.stdout}\n{result.stderr}\n{server_log}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a PostgreSQL cluster for the session (fsync off, socket only) and remove it afterwards."""
    bin_dir = _postgres_bin_dir()
    # Not under pytest's tmp dir: that is 0700 root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="mooring-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log = root / "data", root / "server.log"
    initdb = [str(bin_dir / "initdb"), "--pgdata", str(data), "--username", "postgres", "--auth", "trust"]
    _run(_as_postgres_user([*initdb, "--encoding", "UTF8", "--no-sync", "--no-instructions"]), "initdb")
    options = (
        f"-k {root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = str(bin_dir / "pg_ctl")
    _run(
        _as_postgres_user([pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
        "pg_ctl start",
        log,
    )
    try:
        yield PostgresServer(socket_dir=root)
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_shared_url(postgres_server: PostgresServer) -> str:
    """One database reused by most PostgreSQL tests, emptied before each (CREATE DATABASE takes 0.25 s)."""
    return postgres_server.create_database("mooring_shared")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each store test runs once per backend."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of a fresh, empty, never-migrated database: for tests of opening and migrating."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"mooring_test_{next(_database_numbers)}")


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An open store with no data in it, closed after the test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres_shared_url")
    with open_store(url, key_file=tmp_path / "secret.key") as opened:
        if backend == "postgres":
            _empty_every_table(opened)
        yield opened


def _empty_every_table(store: Store) -> None:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
