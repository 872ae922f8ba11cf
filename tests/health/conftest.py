"""Fixtures for the health tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .health_testkit import HealthApp, Runner, run_bounded, serve_http


@pytest.fixture
def run() -> Runner:
    """Runs a coroutine in a fresh, time-bounded event loop (no pytest-asyncio here)."""
    return run_bounded


@pytest.fixture
def http_app() -> Iterator[HealthApp]:
    """A real HTTP server on an ephemeral loopback port whose answer the test controls."""
    with serve_http() as app:
        yield app
