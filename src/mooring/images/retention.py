"""Which releases stay rollback targets, and so whose images are kept (pure; docs/images.md).

Per app: the newest ``keep`` releases, plus always the current release (the newest) and prev-ok
(the newest completed release before it whose manifest differs: what ``mooring rollback`` restores).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mooring.manifest.snapshot import ReleaseSnapshot

DEFAULT_KEEP = 10


@dataclass(frozen=True)
class ReleaseImages:
    """What retention needs of one release."""

    id: str
    app: str
    number: int
    status: str
    manifest_hash: str
    images: frozenset[str]
    pins: frozenset[str] = frozenset()  # the content ids it pinned its images to (engine/image_pins.py)


@dataclass(frozen=True)
class Retention:
    """Releases kept per app (and why), and every image reference with the releases that name it."""

    retained: dict[str, dict[str, str]]  # app -> release id -> why ("current", "prev-ok", "newest N")
    kept_images: dict[str, list[str]] = field(default_factory=dict)  # image -> retained release ids
    dropped_images: dict[str, list[str]] = field(default_factory=dict)  # image -> only non-retained ids
    kept_pins: frozenset[str] = frozenset()  # content ids retained releases run, whatever tags name now


def snapshot_images(snapshot: str) -> tuple[frozenset[str], frozenset[str]]:
    """The images a release's snapshot runs (services, workers, crons), and the content ids it
    pinned its services' images to (engine/image_pins.py)."""
    decoded = ReleaseSnapshot.decode(snapshot)
    found, pins = set(), set()
    for kind in ("service", "worker", "cron"):
        for workload in decoded.of_kind(kind).values():
            if isinstance(workload, dict) and workload.get("image"):
                found.add(str(workload["image"]))
                if workload.get("image_id"):
                    pins.add(str(workload["image_id"]))
    return frozenset(found), frozenset(pins)


def prev_ok(releases: Sequence[ReleaseImages]) -> ReleaseImages | None:
    """The newest completed release before the newest one, with a different manifest."""
    ordered = sorted(releases, key=lambda r: r.number, reverse=True)
    if not ordered:
        return None
    latest = ordered[0]
    return next(
        (r for r in ordered[1:] if r.status == "completed" and r.manifest_hash != latest.manifest_hash), None
    )


def plan_retention(releases: Iterable[ReleaseImages], keep: int = DEFAULT_KEEP) -> Retention:
    if keep < 1:
        raise ValueError("keep must be at least 1 (the current release is always kept)")
    by_app: dict[str, list[ReleaseImages]] = {}
    for release in releases:
        by_app.setdefault(release.app, []).append(release)
    retained: dict[str, dict[str, str]] = {}
    kept: dict[str, set[str]] = {}
    dropped: dict[str, set[str]] = {}
    pins: set[str] = set()
    for app, items in by_app.items():
        ordered = sorted(items, key=lambda r: r.number, reverse=True)
        why = {r.id: f"newest {keep}" for r in ordered[:keep]}
        why[ordered[0].id] = "current"
        previous = prev_ok(ordered)
        if previous is not None:
            why[previous.id] = "prev-ok"
        retained[app] = why
        for release in ordered:
            if release.id in why:
                pins.update(release.pins)
            bucket = kept if release.id in why else dropped
            for image in release.images:
                bucket.setdefault(image, set()).add(release.id)
    return Retention(
        retained=retained,
        kept_pins=frozenset(pins),
        kept_images={image: sorted(ids) for image, ids in sorted(kept.items())},
        dropped_images={image: sorted(ids) for image, ids in sorted(dropped.items()) if image not in kept},
    )
