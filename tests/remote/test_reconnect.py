"""A remote apply never gives up on its rollout: the engine restarting under it is a reconnect, not an error."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.engine.conftest import wait_until
from tests.engine.releases_kit import manifest, release, served_versions, setup, up
from tests.remote.conftest import Served


def test_remote_apply_follows_its_release_through_an_engine_restart(served: Served) -> None:
    setup(served.host, manifest(replicas=3, parallelism=1, min_ready="1s"))
    cli = served.client(token=served.token("write"))
    assert up(cli)[0] == 0
    applying = subprocess.Popen(
        [sys.executable, "-m", "mooring", "up", "--json", "--server", cli.server],
        cwd=cli.cwd,
        env={**cli.env, "V": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def releases() -> list[dict]:  # type: ignore[type-arg]
        return list(json.loads(served.host.run("history", "--app", "rel", "--json").stdout or "[]"))

    release_id = wait_until(lambda: len(rows := releases()) == 2 and rows[0]["id"], what="release 2")
    wait_until(
        lambda: any(t["state"] == "ready" for t in release(served.host, release_id)["targets"]),
        what="the first target of release 2 to be ready",
    )
    served.kill()  # mid-rollout: the client loses its connection
    assert applying.poll() is None, "the client gave up when the engine went away"
    served.start()
    out, err = applying.communicate(timeout=120)
    assert applying.returncode == 0, out + err
    final = json.loads(out)
    assert final["id"] == release_id and final["status"] == "completed"
    assert f"lost the engine at http://{served.address}" in err and "reconnecting (for up to 60s)" in err
    assert f"reconnected to the engine at http://{served.address}" in err
    assert served_versions(cli) == {1: "2", 2: "2", 3: "2"}
