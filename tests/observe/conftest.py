"""The observation tests use a real local engine (tests/engine) and a real remote one (tests/remote)."""

from tests.engine.conftest import mooring
from tests.remote.conftest import served

__all__ = ["mooring", "served"]
