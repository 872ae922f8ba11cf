"""Which events record a release's outcome: one answer for the metrics and the webhooks."""

from __future__ import annotations

from mooring.store import Event

FINAL_STATUSES = ("completed", "partially_failed", "failed", "rolled_back", "cancelled", "superseded")
FINAL_EVENTS = tuple(f"release.{s}" for s in FINAL_STATUSES)
PAUSED_OUTCOMES = ("failed", "partially_failed")


def release_outcome(event: Event) -> str | None:
    """The final status an event records, if any.

    A failure with ``failure_action = "pause"`` records its status (``failed`` or ``partially_failed``)
    with the ``release.paused`` event: that is the release's outcome until someone resumes it.
    """
    if event.type in FINAL_EVENTS:
        return event.type[len("release.") :]
    status = event.payload.get("status")
    if event.type == "release.paused" and "previous" in event.payload and status in PAUSED_OUTCOMES:
        return str(status)
    return None
