"""Fault tests run real engines: the engine tests' fixture, one engine per test."""

from tests.engine.conftest import mooring

__all__ = ["mooring"]
