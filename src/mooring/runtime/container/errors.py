"""Errors of the container driver; each names the engine address or the image and what to do."""

from __future__ import annotations

from mooring.errors import MooringError


class ContainerEngineUnreachable(MooringError):
    """No Docker-compatible engine answers at the resolved address."""

    code = "container_engine_unreachable"


class ImagePullFailed(MooringError):
    """The image is not present and the engine could not pull it."""

    code = "image_pull_failed"
