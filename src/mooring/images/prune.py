"""``mooring images prune``: remove the images that only releases past retention reference.

An image is removed only when (1) some release of this store named it, (2) no retained release
names it, by reference or by the image id it resolves to, and (3) no container on the engine (any
container, mooring's or not) uses it. Images mooring never ran are never looked at.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound

from mooring.errors import MooringError
from mooring.images.retention import (
    DEFAULT_KEEP,
    ReleaseImages,
    Retention,
    plan_retention,
    snapshot_images,
)
from mooring.paths import mooring_home
from mooring.runtime.container.address import resolve_address
from mooring.store import Store, open_store


class ImagesError(MooringError):
    code = "images_error"


@dataclass(frozen=True)
class ImageAction:
    image: str
    image_id: str | None
    releases: list[str]
    action: str  # "remove", "removed", "kept: in use by container X", "absent", "failed: ..."

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "id": self.image_id, "releases": self.releases, "action": self.action}


def configured_keep(home: Path) -> int:
    """``[releases] keep`` of ``$MOORING_HOME/engine.toml`` (default 10)."""
    path = home / "engine.toml"
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return DEFAULT_KEEP
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ImagesError(f"{path}: cannot read it: {exc}") from None
    keep = (data.get("releases") or {}).get("keep", DEFAULT_KEEP)
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ImagesError(f"{path}: releases.keep: must be an integer >= 1 (got {keep!r})")
    return keep


def all_release_images(store: Store) -> list[ReleaseImages]:
    found = []
    for app in store.list_apps():
        before: int | None = None
        while True:
            page = store.list_releases(app.name, limit=200, before_number=before)
            found += [
                ReleaseImages(
                    r.id,
                    r.app,
                    r.number,
                    r.status,
                    r.manifest_hash,
                    *snapshot_images(r.snapshot),
                )
                for r in page
            ]
            if len(page) < 200:
                break
            before = page[-1].number
    return found


def prune_images(
    store: Store, home: Path, keep: int, *, dry_run: bool
) -> tuple[Retention, list[ImageAction]]:
    retention = plan_retention(all_release_images(store), keep)
    try:
        client = docker.APIClient(base_url=resolve_address(home).url, version="auto", timeout=60)
        kept_ids = {_image_id(client, image) for image in retention.kept_images} - {None}
        kept_ids |= retention.kept_pins
        in_use = {str(c["ImageID"]): str(c["Names"][0]).lstrip("/") for c in client.containers(all=True)}
    except (DockerException, OSError, ValueError) as exc:
        raise ImagesError(
            f"cannot reach the container engine: {exc}", hint="`mooring doctor` says why"
        ) from None
    actions = []
    for image, releases in retention.dropped_images.items():
        image_id = _image_id(client, image)
        if image_id is None:
            action = "absent"
        elif image_id in kept_ids:
            action = "kept: a retained release runs the same image (under another name, or pinned by id)"
        elif image_id in in_use:
            action = f"kept: in use by container {in_use[image_id]}"
        elif dry_run:
            action = "remove"
        else:
            try:
                client.remove_image(image)
                action = "removed"
            except APIError as exc:
                action = f"failed: {exc.explanation or exc}"
        actions.append(ImageAction(image, image_id, releases, action))
    return retention, actions


def _image_id(client: docker.APIClient, image: str) -> str | None:
    try:
        return str(client.inspect_image(image)["Id"])
    except ImageNotFound:
        return None


def prune_here(keep: int | None, *, dry_run: bool) -> tuple[int, Retention, list[ImageAction]]:
    """Prune against this host's store and container engine; ``keep`` None reads engine.toml."""
    home = mooring_home()
    count = keep or configured_keep(home)
    store = open_store()
    try:
        retention, actions = prune_images(store, home, count, dry_run=dry_run)
    finally:
        store.close()
    return count, retention, actions
