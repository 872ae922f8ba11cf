"""The engine: the only process that owns workloads and writes state.

Its public face (what the API and the composition root may use) is re-exported here.
"""

from mooring.engine.core import Engine
from mooring.engine.tokens import ApiToken, Tokens
from mooring.store.events import Event

__all__ = ["ApiToken", "Engine", "Event", "Tokens"]
