"""Container runtime: instances with an ``image`` run as containers of a Docker-compatible engine.

Talks to dockerd (or podman's compatible service) through the docker SDK's low-level client. The
SDK is synchronous; every call runs on a worker thread (``asyncio.to_thread``), which keeps the
engine's loop free without a second HTTP stack: aiodocker would be native asyncio, but it is less
maintained and covers less of the API, and the driver makes a handful of calls per instance.
"""

from .address import EngineAddress, resolve_address
from .driver import ContainerDriver, run_check
from .errors import ContainerEngineUnreachable, ImagePullFailed
from .spec import LABEL_APP, LABEL_INSTANCE, ContainerSpec, Mount

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
