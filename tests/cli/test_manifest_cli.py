"""The manifest commands as a user runs them: a real subprocess, exit codes, text and JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema

from tests.conftest import REPO

MOORING = [sys.executable, "-m", "mooring"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MOORING, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_validate_valid_example() -> None:
    result = run("validate", "-f", str(REPO / "examples/quickstart/mooring.toml"))
    assert result.returncode == 0, result.stderr
    assert "is valid: app quickstart, 2 services" in result.stdout


def test_validate_invalid_exits_2_and_names_key(tmp_path: Path) -> None:
    bad = tmp_path / "mooring.toml"
    bad.write_text('[service.web]\ncommand = "x"\n[service.web.rollout]\nparalelism = 2\n')
    result = run("validate", "-f", str(bad))
    assert result.returncode == 2
    assert (
        "service.web.rollout.paralelism" in result.stderr and "did you mean 'parallelism'?" in result.stderr
    )


def test_validate_json_and_quiet(tmp_path: Path) -> None:
    bad = tmp_path / "mooring.toml"
    bad.write_text('[service.web]\nreplicas = 0\ncommand = "x"\n')
    result = run("validate", "-f", str(bad), "--json")
    assert result.returncode == 2
    body = json.loads(result.stdout)
    assert body["valid"] is False and body["errors"][0]["key"] == "service.web.replicas"
    quiet = run("validate", "-f", str(bad), "-q")
    assert quiet.returncode == 2 and quiet.stdout == "" and quiet.stderr == ""
    good = run("validate", "-f", str(REPO / "examples/shop/mooring.toml"), "--json")
    body = json.loads(good.stdout)
    assert good.returncode == 0 and body["valid"] and body["manifest_hash"].startswith("sha256:")


def test_init_writes_a_manifest_that_validates(tmp_path: Path) -> None:
    result = run("init", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert run("validate", cwd=tmp_path).returncode == 0
    again = run("init", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_schema_accepts_the_examples() -> None:
    result = run("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for example in sorted((REPO / "examples").glob("*/mooring.toml")):
        jsonschema.validate(tomllib.loads(example.read_text()), schema)
    try:
        jsonschema.validate({"service": {"web": {"command": "x", "replicas": "many"}}}, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("the schema accepted replicas = 'many'")


def test_dry_run_prints_plan(tmp_path: Path) -> None:
    """No engine runs under this home: the plan is made against an empty host, and none is started."""
    env = {**os.environ, "MOORING_HOME": str(tmp_path / "home")}
    manifest = str(REPO / "examples/quickstart/mooring.toml")
    result = subprocess.run(
        [*MOORING, "up", "--dry-run", "-f", manifest], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "against an empty host" in result.stdout and "scope fresh: 2 create" in result.stdout
    assert [line.split()[:2] for line in result.stdout.splitlines() if line.startswith("  api-1")] == [
        ["api-1", "create"]
    ]
    as_json = subprocess.run(
        [*MOORING, "up", "--dry-run", "--json", "-f", manifest],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    plan = json.loads(as_json.stdout)
    assert plan["against"] == "empty_host"
    assert [t["target"] for t in plan["targets"]] == ["api-1", "web-1"]
    assert not (tmp_path / "home" / "engine.sock").exists()


def test_unknown_option_is_usage_error_exit_1() -> None:
    result = run("validate", "--bogus")
    assert result.returncode == 1
