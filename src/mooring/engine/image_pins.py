"""A container service's image pinned to its content id in the release's snapshot.

A tag is a name that moves (``app:latest``, a re-pushed ``app:v2``). An apply records the id the tag
names at that moment (``image_id``) in the service's snapshot, the release's containers are created
from that id, and a tag that names another image at the next ``up`` is a change like any other: its
instances are replaced, and ``up --dry-run`` shows ``image_id: sha256:… -> sha256:…``. A rollback
restores the recorded ids, so it runs the very image that served, wherever the tag went since.

An image the host lacks is pulled by the apply, before anything is recorded or stopped: a pull that
fails is the apply's error, as Compose and Kamal pull before they deploy. A dry-run never pulls.
Services on a Swarm cluster are left to the cluster (each node pulls for itself).
"""

from __future__ import annotations

import time
from typing import Any

from mooring.engine.journal import Journal
from mooring.engine.specs import runs_on_cluster
from mooring.errors import MooringError
from mooring.runtime.dispatch import Drivers

NOT_PULLED = "not on this host: up pulls it"  # a dry-run's stand-in for the id of an absent image


class ImagePinError(MooringError):
    """An apply could not pin a container service's image (pull failed, engine unreachable)."""

    code = "image_pull_failed"
    exit_code = 1


async def pin_images(
    journal: Journal, drivers: Drivers, app: str, snapshot: dict[str, Any], *, pull: bool
) -> dict[str, Any]:
    """``snapshot`` with ``image_id`` set on each local container service (in place, and returned).

    ``pull``: pull an absent image (an apply); else leave a stand-in (a dry-run changes nothing).
    A pull is the app's news before a release exists: its events go to the journal (``events -f``).
    """
    services = snapshot.get("service")
    if not isinstance(services, dict):
        return snapshot  # not a snapshot: the planner reports it
    pinned = [
        (name, section)
        for name, section in sorted(services.items())
        if isinstance(section, dict) and section.get("image") and not runs_on_cluster(snapshot, name)
    ]
    if not pinned:
        return snapshot
    for name, section in pinned:
        section["image_id"] = await _image_id(journal, drivers, app, name, str(section["image"]), pull)
    return snapshot


async def _image_id(
    journal: Journal, drivers: Drivers, app: str, service: str, image: str, pull: bool
) -> str:
    pulling = False
    try:
        driver = drivers.container
        found = await driver.image_id(image)
        if found is None and pull:
            pulling = True
            journal.append_event(app, "image.pulling", {"service": service, "image": image})
            started = time.monotonic()
            await driver.ensure_image(image)
            found = await driver.image_id(image)
            journal.append_event(
                app,
                "image.pulled",
                {"service": service, "image": image, "seconds": round(time.monotonic() - started, 3)},
            )
    except MooringError as exc:
        if pulling:
            journal.append_event(
                app, "image.pull_failed", {"service": service, "image": image, "error": exc.message}
            )
        raise ImagePinError(
            f"service {service}: {exc.message}; nothing was changed",
            hint=exc.hint or "check the image name, or `docker load` it on this host",
        ) from None
    except Exception as exc:  # the docker SDK's own errors, a broken engine.toml
        raise ImagePinError(
            f"service {service}: cannot resolve image {image!r}: {exc}; nothing was changed",
            hint="`mooring doctor` checks the container engine",
        ) from None
    return found or NOT_PULLED
