"""The hot commands print the same bytes and exit the same way on the fast path as through typer,
against a real engine, and the fast path imports neither typer, httpx, pydantic nor rich."""
# one engine for both checks: starting one is most of the test's time

from __future__ import annotations

import re
import subprocess
import sys

from tests.engine.conftest import Mooring, wait_until
from tests.engine.conftest import mooring as mooring

TYPER = "import sys; from mooring.cli.main import main; sys.argv[0] = 'mooring'; main()"
MANIFEST = """
[app]
name = "shop"
[service.web]
command = ["python3", "-c", "import time; print('web up', flush=True); time.sleep(600)"]
replicas = 2
[service.web.rollout]
health_check_timeout = "0s"
"""
# what moves between two runs a second apart: uptimes, cpu and memory samples
MOVING = re.compile(r"\b\d+(\.\d+)?(s|m\d+s|h\d+m|d\d+h|%|B|KiB|MiB|GiB)(?!\w)")


def run_typer(m: Mooring, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", TYPER, *args],
        capture_output=True,
        text=True,
        env=m.env,
        cwd=m.cwd,
        timeout=120,
    )


def same(m: Mooring, *args: str, moving: bool = False) -> subprocess.CompletedProcess[str]:
    fast = m.run(*args)
    slow = run_typer(m, *args)

    def mask(text: str) -> str:
        # click names the program after how it was started: `python -m mooring` here, `mooring` there
        text = text.replace("python -m mooring", "mooring")
        return re.sub(" +", " ", MOVING.sub("N", text)) if moving else text  # and the columns' widths

    assert (fast.returncode, mask(fast.stdout), mask(fast.stderr)) == (
        slow.returncode,
        mask(slow.stdout),
        mask(slow.stderr),
    ), args
    return fast


def test_hot_commands_print_as_typer_prints_them(mooring: Mooring) -> None:
    m = mooring
    m.write("mooring.toml", MANIFEST)
    m.run("up", check=True)
    wait_until(lambda: "web up" in m.run("logs", "web").stdout, 30, "the web instances' first line")
    release = m.run("history", "--json", check=True).stdout.split('"id": "')[1].split('"')[0]
    for args in [
        ("apps",),
        ("apps", "--json"),
        ("apps", "--failed"),
        ("history",),
        ("history", "--app", "shop", "--limit", "1"),
        ("history", release),
        ("history", release, "--json"),
        ("status", "--explain"),
        ("logs", "web", "-n", "1"),
        ("logs", "--app", "shop"),
        ("status", "--app", "nope"),  # exit 10, naming the apps there are
        ("history", "nope"),
        ("logs", "--app", "shop", "mooring.toml"),  # a manifest where a service belongs
        ("ps", "--app", "shop", "extra"),  # typer's usage error, on both paths
    ]:
        same(m, *args)
    assert same(m, "status", "--app", "nope").returncode == 10
    for args in [("ps",), ("ps", "--app", "shop", "--wide"), ("status",), ("status", "-f", "mooring.toml")]:
        same(m, *args, moving=True)
    # without --app the manifest names the app: validating it takes pydantic, so those have --app
    for args in [
        ("ps",),
        ("ps", "--json"),
        ("status", "--app", "shop"),
        ("status", "--app", "shop", "--explain"),
        ("apps",),
        ("history", "--app", "shop"),
        ("history", release),
        ("logs", "web", "--app", "shop", "-n", "1"),
    ]:
        assert_imports_no_heavy_package(m, *args)


def assert_imports_no_heavy_package(m: Mooring, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mooring", *args],
        capture_output=True,
        text=True,
        env=m.env,
        cwd=m.cwd,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}
    heavy = sorted(n for n in imported if n.split(".")[0] in ("typer", "click", "httpx", "pydantic", "rich"))
    assert heavy == [], (args, heavy)
