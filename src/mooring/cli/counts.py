"""The targets of a release in one phrase, adding up to its total whatever its outcome."""

from __future__ import annotations

from typing import Any

# Rollout states after which nothing acts on the release's pending targets any more.
ENDED_STATES = frozenset({"stable", "degraded", "failed", "rolled_back", "cancelled", "superseded"})


def targets_phrase(rollout: dict[str, Any], *, unchanged: bool = False) -> str:
    """``1 ready, 0 failed, 1 rolled back, 2 not started``: "rolled back" only when some were;
    pending targets of an ended release are "not started", not "left"."""
    t = rollout["targets"]
    parts = [f"{t['ready']} ready", f"{t['failed']} failed"]
    if t.get("rolled_back"):
        parts.append(f"{t['rolled_back']} rolled back")
    ended = rollout["state"] in ENDED_STATES and not rollout.get("active")
    parts.append(f"{t['left']} not started" if ended and t["left"] else f"{t['left']} left")
    if unchanged:
        parts.append(f"{t['unchanged']} unchanged")
        parts.append(f"{t['removed']} removed")
    return ", ".join(parts)
