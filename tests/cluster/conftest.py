"""Real engines on a real PostgreSQL (the store tests' throwaway server): a missing server fails loudly."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.ha_kit import Cluster, make_cluster
from tests.store.conftest import PostgresServer
from tests.store.conftest import postgres_server as postgres_server  # the session's PostgreSQL

_numbers = itertools.count(1)


@pytest.fixture
def cluster(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Cluster]:
    url = postgres_server.create_database(f"mooring_ha_{next(_numbers)}")
    made = make_cluster(tmp_path, url)
    try:
        yield made
    finally:
        made.teardown()
