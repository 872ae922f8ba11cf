"""redis-server from Debian as a stateful process service: a key set before a roll survives it."""

from __future__ import annotations

import pwd
import subprocess

from tests.engine.conftest import Mooring, free_port
from tests.workloads.conftest import kill_engine_and_adopt, need, owner_of, running, up

CONFIG = """port ${PORT}
bind 127.0.0.1
dir ${MOORING_DATA_DIR}
dbfilename dump.rdb
save 3600 1
appendonly no
protected-mode no
maxmemory MAXMEMORY
"""


def manifest(host_port: int) -> str:
    return f"""
[app]
name = "cache"

[service.redis]
command = ["{need("redis-server", "redis-server")}", "$${{MOORING_INSTANCE_DIR}}/redis.conf"]
user = "redis"
data_dir = "./redis-data"
ports = ["127.0.0.1:{host_port}:6379"]
health_check = {{ type = "exec", command = "redis-cli -p \\"$PORT\\" ping | grep -q PONG", interval = "200ms", timeout = "2s", retries = 2, start_period = "15s" }}
rollout = {{ health_check_timeout = "30s" }}

[[service.redis.template]]
source = "redis.conf.tmpl"
destination = "redis.conf"
"""


def cli(port: int, *args: str) -> str:
    done = subprocess.run(
        [need("redis-cli", "redis-tools"), "-p", str(port), *args], capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_redis_keeps_a_key_across_a_config_roll_and_an_engine_kill(wmooring: Mooring) -> None:
    host_port = free_port()
    wmooring.write("redis.conf.tmpl", CONFIG.replace("MAXMEMORY", "64mb"))
    wmooring.write("mooring.toml", manifest(host_port))
    valid = wmooring.run("validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    up(wmooring)
    (first,) = running(wmooring, "cache").values()
    redis = pwd.getpwnam("redis")
    assert owner_of(first["pid"]) == (redis.pw_uid, redis.pw_gid)
    data = wmooring.cwd / "redis-data"
    assert data.stat().st_uid == redis.pw_uid  # made for it, owned by it
    assert cli(host_port, "SET", "greeting", "survives") == "OK"

    # The config change: a stateful service cuts over stop-first, so the old server saves its
    # dump on SIGTERM before the new one loads it (start-first lost the key silently).
    wmooring.write("redis.conf.tmpl", CONFIG.replace("MAXMEMORY", "128mb"))
    up(wmooring)
    (second,) = running(wmooring, "cache").values()
    assert second["id"] != first["id"]
    assert cli(host_port, "CONFIG", "GET", "maxmemory").splitlines()[-1] == str(128 * 1024 * 1024)
    assert cli(host_port, "GET", "greeting") == "survives"

    kill_engine_and_adopt(wmooring, "cache")
    assert cli(host_port, "GET", "greeting") == "survives"
    wmooring.run("down", "--app", "cache", check=True)
