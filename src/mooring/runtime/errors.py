"""Errors the runtime raises; every one is a :class:`mooring.errors.MooringError`.

Start failures, crashes and refused adoptions are *not* exceptions: they are states and reasons
on the instance record, because the engine must persist and show them.
"""

from __future__ import annotations

from mooring.errors import MooringError, NotFound, UsageError


class InvalidSpec(UsageError):
    """An instance spec the runtime cannot run as given."""

    code = "invalid_instance_spec"


class UnknownInstance(NotFound):
    """No instance with this id is supervised here."""

    code = "unknown_instance"


class InstanceBusy(MooringError):
    """The instance is already running or being stopped, so it cannot be started again."""

    code = "instance_busy"
