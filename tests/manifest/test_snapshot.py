"""The canonical snapshot: byte-identical for the same manifest, whatever the order it was written in."""

import json
import os
import random
import subprocess
import sys

import tomli_w

from mooring.manifest.snapshot import build_snapshot
from tests.manifest.helpers import load

DOC = {
    "app": {"name": "shop"},
    "service": {
        "web": {
            "command": ["python3", "-m", "http.server"],
            "ports": ["8080:80"],
            "replicas": 2,
            "env": {"B": "2", "A": "1", "DB_PASSWORD": "hunter2"},
            "depends_on": ["db", "cache"],
            "health_check": {"type": "http", "path": "/health", "interval": "1s"},
            "rollout": {"strategy": "canary", "parallelism": 2},
        },
        "db": {"command": "sleep 100"},
        "cache": {"command": "sleep 100"},
    },
    "cron": {"report": {"command": "true", "every": "5m"}},
}


def shuffled(value, rng):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    return value


def test_same_manifest_same_bytes_across_orderings() -> None:
    texts = set()
    for seed in range(20):
        doc = shuffled(DOC, random.Random(seed))
        texts.add(build_snapshot(load(tomli_w.dumps(doc)).manifest).text)
    assert len(texts) == 1


def test_same_bytes_across_processes(tmp_path) -> None:
    (tmp_path / "m.toml").write_text(tomli_w.dumps(DOC))
    code = (
        "import sys; from mooring.manifest import load_manifest; from mooring.manifest.snapshot import build_snapshot;"
        "sys.stdout.write(build_snapshot(load_manifest(sys.argv[1], environ={}).manifest).text)"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "m.toml")],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
        ).stdout
        for seed in (1, 2, 3)
    }
    assert len(outputs) == 1


def test_snapshot_is_sorted_compact_json_with_sha256() -> None:
    snap = build_snapshot(load(tomli_w.dumps(DOC)).manifest)
    assert snap.text == json.dumps(
        json.loads(snap.text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert snap.hash.startswith("sha256:") and len(snap.hash) == 7 + 64


def test_secret_values_never_in_snapshot() -> None:
    snap = build_snapshot(load(tomli_w.dumps(DOC)).manifest)
    assert "hunter2" not in snap.text
    ref = snap.data["service"]["web"]["env"]["DB_PASSWORD"]
    assert ref.startswith("secret:sha256:") and snap.secrets[ref] == "hunter2"


def test_changing_a_secret_changes_the_hash() -> None:
    a = build_snapshot(load(tomli_w.dumps(DOC)).manifest)
    doc = json.loads(json.dumps(DOC))
    doc["service"]["web"]["env"]["DB_PASSWORD"] = "hunter3"
    b = build_snapshot(load(tomli_w.dumps(doc)).manifest)
    assert a.hash != b.hash


def test_defaults_and_normalisation_recorded() -> None:
    web = build_snapshot(load(tomli_w.dumps(DOC)).manifest).data["service"]["web"]
    assert web["depends_on"] == ["cache", "db"]
    assert web["health_check"]["port"] == 80
    assert web["rollout"]["health_check_timeout"] == "1m"
    assert web["stop_timeout"] == "10s"
    assert web["driver"] == "process"
