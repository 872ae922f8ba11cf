"""`mooring init`'s starter comes up healthy as written; instances print unbuffered."""

from __future__ import annotations

import urllib.request

from tests.engine.conftest import Mooring, free_port, wait_until


def test_init_starter_comes_up_healthy_as_written(mooring: Mooring) -> None:
    port = free_port()
    mooring.env["WEB_PORT"] = str(port)  # the starter's ${WEB_PORT:-8080}: 8080 may be taken here
    mooring.run("init", check=True)
    up = mooring.run("up")
    assert up.returncode == 0, up.stdout + up.stderr
    rows = mooring.ps()
    assert [(r["service"], r["state"], r["health"]) for r in rows] == [
        ("web", "running", "healthy"),
        ("web", "running", "healthy"),
    ]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        assert reply.status == 200 and "mooring.toml" in reply.read().decode()


def test_python_instances_print_unbuffered_unless_the_manifest_says_otherwise(mooring: Mooring) -> None:
    mooring.write("chatty.py", "import time\nprint('hello from chatty')\ntime.sleep(1000)\n")
    mooring.write(
        "mooring.toml",
        """
[app]
name = "chatty"
[service.talk]
command = ["python3", "chatty.py"]
[service.quiet]
command = ["python3", "chatty.py"]
env = { PYTHONUNBUFFERED = "" }
""",
    )
    mooring.run("up", check=True)
    wait_until(
        lambda: "hello from chatty" in mooring.run("logs", "talk", "--app", "chatty").stdout,
        what="the line printed without flush in the logs",
    )
    assert "hello from chatty" not in mooring.run("logs", "quiet", "--app", "chatty").stdout
