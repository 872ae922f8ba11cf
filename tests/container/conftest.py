"""Container tests: one private dockerd per session, a real engine per test pointed at it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.private_dockerd import PrivateDockerd, build_image, private_dockerd
from tests.engine.conftest import Mooring, mooring  # noqa: F401 - the per-test engine fixture

IMAGES = ("1", "2")


@pytest.fixture(scope="session")
def dockerd() -> Iterator[PrivateDockerd]:
    # A short root: the daemon's sockets must fit in a unix socket path (108 bytes).
    root = Path(tempfile.mkdtemp(prefix="mooring-dockerd-"))
    with private_dockerd(root) as daemon:
        client = daemon.client()
        for version in IMAGES:
            build_image(client, version)
        yield daemon


@pytest.fixture
def cmooring(mooring: Mooring, dockerd: PrivateDockerd) -> Iterator[Mooring]:  # noqa: F811
    """The per-test engine, talking to the private dockerd; leftovers of this engine are removed."""
    mooring.env["DOCKER_HOST"] = dockerd.url
    yield mooring
    with contextlib.suppress(Exception):
        client = dockerd.client()
        for row in client.containers(all=True, filters={"label": f"mooring.home={mooring.home}"}):
            client.remove_container(row["Id"], force=True)
