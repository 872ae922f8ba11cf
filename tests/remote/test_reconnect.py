"""A remote apply never gives up on its rollout: the engine restarting under it is a reconnect, not an error."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

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


TICKER = """
[service.ticker]
command = ["sh", "-c", "n=0; while true; do n=$$((n+1)); echo tick $$n; sleep 0.1; done"]
"""


def test_remote_logs_follow_resumes_after_an_engine_restart_without_repeating_or_losing(
    served: Served,
) -> None:
    setup(served.host, manifest(replicas=1, extra_service=TICKER))
    assert up(served.client(token=served.token("write")))[0] == 0
    cli = served.client(token=served.token("read"))
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mooring",
            "logs",
            "ticker",
            "--app",
            "rel",
            "--follow",
            "--server",
            cli.server,
        ],
        cwd=cli.cwd,
        env=cli.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(follower.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def ticks() -> list[int]:
        return [int(line.split()[-1]) for line in list(seen) if line.split()[-2:-1] == ["tick"]]

    def ticking() -> list[int]:
        if follower.poll() is not None:
            raise AssertionError(f"logs -f exited {follower.returncode}: {follower.stderr.read()}")  # type: ignore[union-attr]
        return ticks()

    try:
        first = wait_until(ticking, what="the ticker's first lines")[-1]
        wait_until(lambda: ticking()[-1] >= first + 3, what="lines written after the stream opened")
        served.kill()  # the follower loses its stream; the ticker goes on writing
        assert follower.poll() is None, "logs -f gave up when the engine went away"
        at_kill = ticks()[-1]
        served.start()
        wait_until(lambda: ticking()[-1] >= at_kill + 20, what="lines after the engine came back")
    finally:
        follower.terminate()
        _, err = follower.communicate(timeout=10)
    # what the follower printed is exactly a stretch of the instance's log, as the engine has it
    printed = [line.rstrip("\n") for line in seen]
    logged = served.host.run("logs", "ticker", "--app", "rel", "--tail", "100000", check=True).stdout
    whole = logged.splitlines()
    assert printed and printed[0] in whole, f"{printed[:3]} not in the log:\n{logged}"
    start = whole.index(printed[0])
    assert printed == whole[start : start + len(printed)], (
        f"lines lost or repeated across the restart (killed after tick {at_kill}):\n"
        + "\n".join(printed)
        + f"\n--- the log:\n{logged}\n--- stderr:\n{err}"
    )
    assert ticks()[-1] >= at_kill + 20
    assert f"lost the engine at http://{served.address}" in err, err
    assert f"reconnected to the engine at http://{served.address}; resuming the logs" in err, err
