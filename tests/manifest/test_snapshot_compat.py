"""Snapshots recorded before the snapshot was decoded into types still load, byte for byte.

``data/compat.snapshot.json`` was built by main (at the commit before ReleaseSnapshot) from
``data/compat.toml``; a store holds exactly such text, and its hash is the release's manifest hash.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mooring.manifest import load_manifest_text
from mooring.manifest.snapshot import ReleaseSnapshot, SnapshotError, build_snapshot
from mooring.release.batches import Policy, make_batches
from mooring.release.plan import make_plan

DATA = Path(__file__).parent / "data"
RECORDED = (DATA / "compat.snapshot.json").read_text().strip()
RECORDED_HASH = "sha256:565835fac826d2f5e9ad8f83a942755e21b26046b4a3827a060e69c6fd5ca5f9"


def test_a_recorded_snapshot_decodes_to_the_same_text_and_hash() -> None:
    decoded = ReleaseSnapshot.decode(RECORDED)
    assert decoded.text == RECORDED
    assert decoded.hash == RECORDED_HASH


def test_the_same_manifest_still_snapshots_to_the_recorded_bytes() -> None:
    loaded = load_manifest_text((DATA / "compat.toml").read_text(), environ={})
    snapshot = build_snapshot(loaded.manifest)
    assert snapshot.text == RECORDED
    assert snapshot.hash == RECORDED_HASH


def test_rollout_durations_decode_to_seconds_by_the_manifest_model() -> None:
    decoded = ReleaseSnapshot.decode(RECORDED)
    web = decoded.rollout("web")
    assert (web.strategy, web.parallelism, web.order, web.failure_action) == (
        "canary",
        2,
        "stop_first",
        "rollback",
    )
    assert (web.delay_between_batches, web.drain_timeout, web.max_failure_ratio) == (90.0, 2.0, 0.34)
    db = decoded.rollout("db")
    assert (db.health_check_timeout, db.min_ready) == (120.0, 0.5)
    assert decoded.rollout("no-such-service") == decoded.rollout("migrate")  # the defaults
    assert Policy.from_rollout(decoded.rollout("nothing")) == Policy()


def test_batches_of_a_recorded_snapshot_carry_its_policies() -> None:
    decoded = ReleaseSnapshot.decode(RECORDED)
    batches = make_batches(make_plan(decoded.data, []), decoded.data)
    assert [(b.service, len(b.targets)) for b in batches] == [("db", 1), ("web", 1), ("web", 2)]
    assert batches[1].policy == Policy.from_rollout(decoded.rollout("web"))


def test_text_that_is_not_json_says_so() -> None:
    with pytest.raises(SnapshotError, match="the snapshot is not JSON"):
        ReleaseSnapshot.decode("{not json")
