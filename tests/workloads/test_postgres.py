"""PostgreSQL 15 from Debian as a process service running as ``postgres`` (no wrapper): rows written
while a config change rolls out are all there afterwards, and after an engine kill -9."""

from __future__ import annotations

import os
import pwd
import subprocess
import threading
import time
from pathlib import Path

import psycopg

from tests.engine.conftest import Mooring, free_port, wait_until
from tests.workloads.conftest import kill_engine_and_adopt, need, owner_of, running, up

BIN = Path("/usr/lib/postgresql/15/bin")


def initdb(data: Path) -> None:
    """A fresh cluster in ``data``, made as ``postgres`` (the server refuses to run as root)."""
    need(str(BIN / "initdb"), "postgresql")
    owner = pwd.getpwnam("postgres")
    data.mkdir(mode=0o700)
    os.chown(data, owner.pw_uid, owner.pw_gid)
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", str(BIN / "initdb"), "--pgdata", str(data), "--username",
         "postgres", "--auth", "trust", "--encoding", "UTF8", "--no-sync", "--no-instructions"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def manifest(host_port: int, data: Path, work_mem: str) -> str:
    return f"""
[app]
name = "db"

[service.postgres]
command = ["{BIN / "postgres"}", "-D", "{data}", "-p", "$${{PORT}}", "-c", "listen_addresses=127.0.0.1",
           "-c", "unix_socket_directories=", "-c", "work_mem={work_mem}"]
user = "postgres"
data_dir = "{data}"
ports = ["127.0.0.1:{host_port}:5432"]
stop_signal = "SIGINT"   # fast shutdown: a connected client does not hold the stop up
stop_timeout = "30s"
health_check = {{ type = "exec", command = "pg_isready -q -h 127.0.0.1 -p \\"$PORT\\"", interval = "200ms", timeout = "2s", retries = 2, start_period = "15s" }}
rollout = {{ health_check_timeout = "60s" }}
"""


def connect(port: int) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True, connect_timeout=2
    )


class Writer(threading.Thread):
    """Inserts numbered rows until stopped, reconnecting through the cutover; remembers what was
    acknowledged (committed) so the test can check that every one of them survived."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.acked: list[int] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = connect(self.port)
                n += 1
                conn.execute("INSERT INTO rows (n) VALUES (%s)", (n,))
                self.acked.append(n)
                time.sleep(0.01)
            except psycopg.Error:
                self.failures += 1
                conn = None
                time.sleep(0.1)


def stored(port: int) -> set[int]:
    with connect(port) as conn:
        return {row[0] for row in conn.execute("SELECT n FROM rows")}  # type: ignore[misc]


def test_postgres_runs_as_postgres_keeps_rows_written_during_a_roll_and_an_engine_kill(
    wmooring: Mooring,
) -> None:
    host_port = free_port()
    data = wmooring.cwd / "pgdata"
    initdb(data)
    wmooring.write("mooring.toml", manifest(host_port, data, "4MB"))
    up(wmooring)
    (first,) = running(wmooring, "db").values()
    postgres = pwd.getpwnam("postgres")
    assert owner_of(first["pid"]) == (postgres.pw_uid, postgres.pw_gid)
    with connect(host_port) as conn:
        conn.execute("CREATE TABLE rows (n integer PRIMARY KEY)")

    writer = Writer(host_port)
    writer.start()
    try:
        wait_until(lambda: len(writer.acked) >= 20, what="rows written before the roll")
        wmooring.write("mooring.toml", manifest(host_port, data, "8MB"))
        up(wmooring)  # stop-first (data_dir): never two postmasters on one data dir
        during = len(writer.acked)
        wait_until(lambda: len(writer.acked) >= during + 20, timeout=30, what="rows written after the roll")
    finally:
        writer.stop.set()
        writer.join(10)
    (second,) = running(wmooring, "db").values()
    assert second["id"] != first["id"]
    with connect(host_port) as conn:
        assert conn.execute("SHOW work_mem").fetchone() == ("8MB",)
    assert writer.failures > 0, "the writer never saw the cutover: no roll happened under it"
    assert set(writer.acked) <= stored(host_port), "acknowledged rows were lost by the roll"

    kill_engine_and_adopt(wmooring, "db")
    assert set(writer.acked) <= stored(host_port)
    wmooring.run("down", "--app", "db", check=True)
