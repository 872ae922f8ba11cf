"""Images that releases reference: retention of rollback targets and pruning of the rest (docs/images.md)."""

from mooring.images.prune import ImageAction, ImagesError, configured_keep, prune_here, prune_images
from mooring.images.retention import DEFAULT_KEEP, Retention, plan_retention

__all__ = [
    "DEFAULT_KEEP",
    "ImageAction",
    "ImagesError",
    "Retention",
    "configured_keep",
    "plan_retention",
    "prune_here",
    "prune_images",
]
