"""The manifest: load, validate, snapshot, hash and diff ``mooring.toml``."""

from mooring.manifest.errors import Issue, ManifestError
from mooring.manifest.loader import DEFAULT_FILE, LoadedManifest, load_manifest, load_manifest_text
from mooring.manifest.models import Cron, HealthCheck, Manifest, Resources, Rollout, Service, Volume, Worker

__all__ = [
    "DEFAULT_FILE",
    "Cron",
    "HealthCheck",
    "Issue",
    "LoadedManifest",
    "Manifest",
    "ManifestError",
    "Resources",
    "Rollout",
    "Service",
    "Volume",
    "Worker",
    "load_manifest",
    "load_manifest_text",
]
