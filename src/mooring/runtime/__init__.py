"""Host-process runtime: spawn, supervise, stop and adopt instances; their logs and cgroups.

The engine turns the manifest into :class:`InstanceSpec` values, drives a :class:`Supervisor`,
and persists every :class:`InstanceRecord` it is handed through ``on_change``.
"""

from .cgroups import CgroupHost
from .errors import InstanceBusy, InvalidSpec, UnknownInstance
from .facts import InstanceFacts
from .log_reader import LogReader, interleave
from .logs import LogNotifier
from .policy import BackoffPolicy
from .record import InstanceRecord
from .spec import InstanceSpec, Resources, RestartPolicy
from .states import ExitReason, ExitStatus, InstanceState
from .supervisor import Supervisor

__all__ = [
    "BackoffPolicy",
    "CgroupHost",
    "ExitReason",
    "ExitStatus",
    "InstanceBusy",
    "InstanceFacts",
    "InstanceRecord",
    "InstanceSpec",
    "InstanceState",
    "InvalidSpec",
    "LogNotifier",
    "LogReader",
    "Resources",
    "RestartPolicy",
    "Supervisor",
    "UnknownInstance",
    "interleave",
]
