"""The composition root: the one place that builds the engine, the API app, auth and the listeners.

The engine knows nothing of HTTP and the API knows only the engine; this package wires them and is
what ``mooring serve`` runs. Nothing below imports it.
"""

from mooring.daemon.listen import TcpListen, tcp_listen
from mooring.daemon.serve import run, serve_forever

__all__ = ["TcpListen", "run", "serve_forever", "tcp_listen"]
