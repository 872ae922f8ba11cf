"""Talk to the engine's HTTP API: the local one over its unix socket, a remote one over TCP (``--server``).

``LocalClient`` needs the standard library only; ``EngineClient`` (remote engines) imports httpx, so
it is loaded only when asked for: a local command never pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mooring.client.base import ApiError, Client
from mooring.client.local import LocalClient

if TYPE_CHECKING:
    from mooring.client.http import EngineClient

__all__ = ["ApiError", "Client", "EngineClient", "LocalClient"]


def __getattr__(name: str) -> Any:
    if name == "EngineClient":
        from mooring.client.http import EngineClient

        return EngineClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
