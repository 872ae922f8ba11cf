"""Health checking: probes (http, tcp, exec, grpc), the per-instance health state machine and the
prober that runs every check from one asyncio task.

A bottom layer: it imports nothing from the rest of mooring.
"""

from .prober import OnChange, Prober
from .probes import probe_once
from .result import ProbeResult
from .spec import ProbeKind, ProbeSpec
from .state import HealthState, HealthStatus, InstanceHealth, Transition

__all__ = [
    "HealthState",
    "HealthStatus",
    "InstanceHealth",
    "OnChange",
    "ProbeKind",
    "ProbeResult",
    "ProbeSpec",
    "Prober",
    "Transition",
    "probe_once",
]
