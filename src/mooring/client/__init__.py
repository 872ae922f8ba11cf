"""Talk to the engine's HTTP API over its unix socket (or TCP with ``--server``)."""

from mooring.client.http import ApiError, EngineClient

__all__ = ["ApiError", "EngineClient"]
