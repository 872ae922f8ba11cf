"""One exception tree for the whole program.

Every error carries a stable string ``code`` (used in API error bodies) and an ``exit_code``
(used by the CLI), so a failure means the same thing wherever it surfaces.
"""

from __future__ import annotations


class MooringError(Exception):
    """Base of every error mooring raises on purpose."""

    code = "internal_error"
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class UsageError(MooringError):
    code = "usage_error"
    exit_code = 1


class NotFound(MooringError):
    """No such app, release, service, instance, worker or token; the message lists what exists."""

    code = "not_found"
    exit_code = 10


class StoreError(MooringError):
    code = "store_error"
    exit_code = 1


class Conflict(MooringError):
    """The request does not fit the current state (e.g. resuming a release that is not paused)."""

    code = "conflict"
    exit_code = 1


class LeaseConflict(MooringError):
    """Another apply or rollback holds the app's lease."""

    code = "lease_conflict"
    exit_code = 8


class EngineUnreachable(MooringError):
    code = "engine_unreachable"
    exit_code = 9


class EngineNotAnswering(EngineUnreachable):
    """The engine accepted the connection but did not answer in time (stopped, frozen, overloaded)."""


class Unauthorized(MooringError):
    """A request to the engine's TCP listener without a valid bearer token (HTTP 401)."""

    code = "unauthorized"
    exit_code = 1


class Forbidden(MooringError):
    """A valid token whose scope does not cover the request (HTTP 403)."""

    code = "forbidden"
    exit_code = 1


class Fenced(StoreError):
    """A write by an engine that does not lead (any more): the store's fence refused it.

    A follower never writes the journal, and a deposed leader that wakes up (paused, cut off from
    the database) finds its epoch outdated; neither may change state (docs/cluster.md).
    """
