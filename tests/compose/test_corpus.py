"""The importer on Compose files written by other projects (tests/compose/corpus, ORIGINS.md).

Each file converts, through the real CLI, to a manifest that `mooring validate` accepts, or the
import fails with a report that names the key. The report is checked against the file itself, read
here without the importer: every Compose key the manifest has no place for is in the report, and
every key the report names is in the file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

CORPUS = Path(__file__).parent / "corpus"
DIRS = sorted(p for p in CORPUS.iterdir() if p.is_dir())
# Service keys with a place in the manifest (docs/compose.md, "What maps to what"); any other key of
# a service must be reported. Written out here, not imported, so the test is not the code's mirror.
MAPPED = {
    "image", "command", "environment", "env_file", "ports", "expose", "volumes", "depends_on",
    "healthcheck", "restart", "deploy", "scale", "cpus", "mem_limit", "pids_limit", "stop_signal",
    "stop_grace_period", "working_dir", "profiles", "extends",
}  # fmt: skip
TOP_MAPPED = {"services", "volumes", "name"}
# Files whose import must fail, and the key the report must name.
EXPECTED_FAILURES = {"plausible-root": "services.plausible.env_file[0]"}


def _compose_file(directory: Path) -> Path:
    return next(p for p in sorted(directory.iterdir()) if p.name.endswith(("compose.yaml", "compose.yml")))


def _mooring(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}  # no stray variables
    return subprocess.run(
        [sys.executable, "-m", "mooring", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _raw(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe", pure=True).load(path.read_text())
    assert isinstance(data, dict)
    return data


def test_the_corpus_holds_at_least_30_files_from_other_projects() -> None:
    origins = (CORPUS / "ORIGINS.md").read_text()
    assert len(DIRS) >= 30
    for directory in DIRS:
        assert f"| {directory.name} |" in origins, f"{directory.name} has no line in ORIGINS.md"


@pytest.mark.parametrize("directory", DIRS, ids=[d.name for d in DIRS])
def test_corpus_file_converts_to_a_valid_manifest_or_names_the_key_and_reports_what_it_holds(
    directory: Path, tmp_path: Path
) -> None:
    compose = _compose_file(directory)
    out = tmp_path / "mooring.toml"
    result = _mooring("import", "compose", str(compose), "-o", str(out), "--json", cwd=directory)
    assert result.returncode in (0, 2), result.stderr
    report = json.loads(result.stdout)
    assert out.is_file()
    validate = _mooring("validate", "-f", str(out), "--json", cwd=tmp_path)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    raw = _raw(compose)
    if directory.name in EXPECTED_FAILURES:
        assert result.returncode == 2
        assert EXPECTED_FAILURES[directory.name] in {f["key"] for f in errors}, report["findings"]
        _report_matches_the_file(report, raw, compose.name)
        return
    assert result.returncode == 0, (errors, report["manifest_errors"])
    assert validate.returncode == 0, validate.stdout
    manifest = json.loads(validate.stdout)
    active = {n for n, s in raw["services"].items() if not (s or {}).get("profiles")}
    assert len(manifest["services"]) + len(manifest["workers"]) == len(active)
    _report_matches_the_file(report, raw, compose.name)


def _report_matches_the_file(report: dict[str, Any], raw: dict[str, Any], name: str) -> None:
    reported = {f["key"] for f in report["findings"]}
    must = {
        f"services.{name}.{key}"
        for name, svc in raw["services"].items()
        for key in (svc or {})
        if key not in MAPPED
    }
    must |= {key for key in raw if key not in TOP_MAPPED and not raw[key]}
    for section in ("networks", "secrets", "configs"):
        must |= {f"{section}.{name}" for name in raw.get(section) or {}}  # each one, by name
    must |= {key for key in raw if key not in (*TOP_MAPPED, "networks", "secrets", "configs")}
    missing = must - reported
    assert not missing, f"keys in {name} that the report leaves out: {sorted(missing)}"
    for key in reported:
        assert _exists(raw, key), f"the report names {key}, which {name} does not contain"


def _exists(raw: dict[str, Any], key: str) -> bool:
    """Whether a reported key path (``services.web.ports[1]``, ``volumes.db.driver``) is in the file."""
    node: Any = raw
    for part in key.replace("[", ".[").split("."):
        if part.startswith("[") and isinstance(node, list):
            index = int(part[1:-1])
            if index >= len(node):
                return False
            node = node[index]
        elif isinstance(node, list) and part in [str(item).partition("=")[0] for item in node]:
            node = part  # depends_on: [db] as depends_on.db, environment: [A=1] as environment.A
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and any(str(k) == part for k in node):
            node = next(v for k, v in node.items() if str(k) == part)
        else:
            return False
    return True
