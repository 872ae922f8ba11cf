"""Words the API shares with the lower layers, re-exported so that the API depends on the engine only."""

from mooring.manifest.fields import NAME_PATTERN

__all__ = ["NAME_PATTERN"]
