"""Release retention: the newest N per app, and never the current or the prev-ok release."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mooring.images.retention import ReleaseImages, plan_retention, snapshot_images


def rel(
    number: int, image: str, status: str = "completed", app: str = "shop", manifest: str | None = None
) -> ReleaseImages:
    return ReleaseImages(f"{app}{number}", app, number, status, manifest or image, frozenset({image}))


def test_keeps_the_newest_n_and_drops_images_only_old_releases_name() -> None:
    plan = plan_retention([rel(1, "web:1"), rel(2, "web:2"), rel(3, "web:3"), rel(4, "web:4")], keep=2)
    assert plan.retained == {"shop": {"shop4": "current", "shop3": "prev-ok"}}
    assert plan.dropped_images == {"web:1": ["shop1"], "web:2": ["shop2"]}
    assert set(plan.kept_images) == {"web:3", "web:4"}


def test_prev_ok_is_kept_even_beyond_n() -> None:
    # 2 and 3 failed; prev-ok is 1, far past keep=1
    plan = plan_retention([rel(1, "web:1"), rel(2, "web:2", "failed"), rel(3, "web:3", "failed")], keep=1)
    assert plan.retained == {"shop": {"shop3": "current", "shop1": "prev-ok"}}
    assert plan.dropped_images == {"web:2": ["shop2"]}


def test_an_image_a_retained_release_names_is_never_dropped() -> None:
    plan = plan_retention(
        [rel(1, "web:1", manifest="a"), rel(2, "web:2"), rel(3, "web:1", manifest="b")], keep=1
    )
    assert "web:1" not in plan.dropped_images and plan.dropped_images == {}


def test_apps_are_counted_apart() -> None:
    plan = plan_retention([rel(1, "a:1", app="a"), rel(2, "a:2", app="a"), rel(1, "b:1", app="b")], keep=1)
    assert plan.retained == {"a": {"a2": "current", "a1": "prev-ok"}, "b": {"b1": "current"}}


def test_keep_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_retention([], keep=0)


def test_snapshot_images_reads_services_workers_and_crons() -> None:
    snapshot = json.dumps(
        {
            "service": {"a": {"image": "x:1", "image_id": "sha256:aa"}, "p": {"image": None}},
            "worker": {"w": {"image": "y"}},
            "cron": {"c": {"image": "z"}},
        }
    )
    assert snapshot_images(snapshot) == ({"x:1", "y", "z"}, {"sha256:aa"})


def test_the_documented_releases_table_is_read(tmp_path: Path) -> None:
    import re

    from mooring.images import configured_keep
    from tests.conftest import REPO

    block = re.search(r"```toml\n(.*?\[releases\].*?)```", (REPO / "docs/images.md").read_text(), re.S)
    assert block
    (tmp_path / "engine.toml").write_text(block.group(1))
    assert configured_keep(tmp_path) == 10
    (tmp_path / "engine.toml").write_text("[releases]\nkeep = 0\n")
    with pytest.raises(Exception, match=r"engine.toml: releases.keep: must be an integer >= 1"):
        configured_keep(tmp_path)
