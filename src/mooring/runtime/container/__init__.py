"""Container runtime: instances with an ``image`` run as containers of a Docker-compatible engine.

Talks to dockerd (or podman's compatible service) through the docker SDK's low-level client. The
SDK is synchronous; every call runs on a worker thread (``asyncio.to_thread``), which keeps the
engine's loop free without a second HTTP stack: aiodocker would be native asyncio, but it is less
maintained and covers less of the API, and the driver makes a handful of calls per instance.

The driver (and with it the SDK, ~6 MiB of an engine's memory) is imported when first asked for:
an engine whose apps are all host processes never loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .address import EngineAddress, resolve_address
from .errors import ContainerEngineUnreachable, ImagePullFailed
from .spec import LABEL_APP, LABEL_INSTANCE, ContainerSpec, Mount

if TYPE_CHECKING:
    from .driver import ContainerDriver, run_check

__all__ = [
    "LABEL_APP",
    "LABEL_INSTANCE",
    "ContainerDriver",
    "ContainerEngineUnreachable",
    "ContainerSpec",
    "EngineAddress",
    "ImagePullFailed",
    "Mount",
    "resolve_address",
    "run_check",
]


def __getattr__(name: str) -> Any:
    if name in ("ContainerDriver", "run_check"):
        from . import driver

        return getattr(driver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
