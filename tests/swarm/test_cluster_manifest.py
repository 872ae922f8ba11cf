"""The cluster keys of the manifest: docs/cluster.md's example validates, bad uses are refused by name,
and a manifest that does not use them snapshots exactly as before they existed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mooring.manifest.loader import load_manifest
from mooring.manifest.snapshot import build_snapshot

DOC = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"


def validate(tmp_path: Path, text: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    path = tmp_path / "mooring.toml"
    path.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "mooring", "validate", "-f", str(path), "--json"],
        capture_output=True,
        text=True,
    )
    return done.returncode, json.loads(done.stdout)


def test_the_documented_example_validates(tmp_path: Path) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    example = next(b for b in blocks if "[service.web]" in b)
    code, report = validate(tmp_path, example)
    assert code == 0, report


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('[service.web]\ncommand = ["x"]\ncluster = true\n', 'cluster = true needs "image"'),
        (
            '[service.web]\nimage = "a:1"\ncluster = true\nvolumes = ["/srv:/data"]\n',
            "bind-mount a host path",
        ),
        (
            '[service.web]\nimage = "a:1"\ncluster = true\nplacement = { constraints = ["node.role"] }\n',
            "not a placement constraint",
        ),
        (
            '[service.web]\nimage = "a:1"\ncluster = false\nplacement = { spread = ["node.labels.z"] }\n',
            "cluster services only",
        ),
    ],
)
def test_bad_cluster_uses_are_refused_naming_the_service(tmp_path: Path, body: str, says: str) -> None:
    code, report = validate(tmp_path, '[app]\nname = "shop"\n' + body)
    assert code == 2, report
    assert any(says in e["message"] and e["key"].startswith("service.web") for e in report["errors"]), report


def test_a_manifest_without_cluster_keys_snapshots_as_before(tmp_path: Path) -> None:
    path = tmp_path / "mooring.toml"
    path.write_text('[app]\nname = "shop"\n[service.web]\nimage = "a:1"\nports = ["80"]\n')
    snapshot = build_snapshot(load_manifest(path).manifest)
    assert "cluster" not in snapshot.data["app"] and "cluster" not in snapshot.data["service"]["web"]
    assert "placement" not in snapshot.data["service"]["web"]
    path.write_text('[app]\nname = "shop"\ncluster = true\n[service.web]\nimage = "a:1"\nports = ["80"]\n')
    assert build_snapshot(load_manifest(path).manifest).data["app"]["cluster"] is True
