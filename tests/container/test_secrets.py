"""A container gets its secrets as env and as a read-only file at /run/secrets (private dockerd)."""

from __future__ import annotations

import secrets
import subprocess
import sys

from tests.container.kit import manifest, up
from tests.container.private_dockerd import PrivateDockerd
from tests.engine.conftest import Mooring


def test_a_container_reads_its_secret_file_read_only_and_its_env(
    cmooring: Mooring, dockerd: PrivateDockerd
) -> None:
    value = "container-pw-" + secrets.token_hex(8)
    cmooring.write(
        "mooring.toml",
        manifest(
            replicas=1, extra='secrets = { DB_PASSWORD = { env = "DB_PASSWORD", file = "db_password" } }'
        ),
    )
    done = subprocess.run(
        [sys.executable, "-m", "mooring", "secret", "set", "DB_PASSWORD", "--app", "box"],
        input=value, capture_output=True, text=True, env=cmooring.env, cwd=cmooring.cwd, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    code, rel = up(cmooring)
    assert code == 0, rel
    client = dockerd.client()
    (row,) = client.containers(filters={"label": f"mooring.home={cmooring.home}"})
    info = client.inspect_container(row["Id"])
    assert f"DB_PASSWORD={value}" in info["Config"]["Env"]
    assert "MOORING_SECRETS_DIR=/run/secrets" in info["Config"]["Env"]
    (mount,) = [m for m in info["Mounts"] if m["Destination"] == "/run/secrets/db_password"]
    assert mount["Type"] == "bind" and mount["RW"] is False
    exec_id = client.exec_create(row["Id"], ["cat", "/run/secrets/db_password"])
    assert client.exec_start(exec_id).decode() == value
    write = client.exec_create(row["Id"], ["sh", "-c", "echo x > /run/secrets/db_password"])
    client.exec_start(write)
    assert client.exec_inspect(write)["ExitCode"] != 0  # read-only
