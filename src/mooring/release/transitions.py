"""The one way a release's status or a target's state changes: check the move against the transition
tables of release/model.py, journal it, then append its event. Nothing else writes a status or a state
(the executor, the operator's commands and the engine's supersede and error paths all come here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mooring.release.model import (
    Control,
    ReleaseStatus,
    TargetState,
    check_release_transition,
    check_target_transition,
)
from mooring.release.ports import Journal, ReleaseRecord, TargetRecord


def move_release(
    journal: Journal,
    release: ReleaseRecord,
    new: ReleaseStatus,
    event: str | None,
    payload: Mapping[str, Any] | None = None,
    **changes: Any,
) -> ReleaseRecord:
    """Move ``release`` (as last read) to ``new`` with ``changes``; then ``event`` with ``payload``."""
    check_release_transition(ReleaseStatus(release.status), new)
    if new.terminal:  # ended: a pause or cancel request is done with, the control reads active again
        changes.setdefault("control", Control.ACTIVE.value)
    updated = journal.update_release(release.id, status=new.value, **changes)
    if event is not None:
        journal.append_event(release.app, event, dict(payload or {}), release_id=release.id)
    return updated


def move_target(
    journal: Journal,
    app: str,
    release_id: str,
    target: TargetRecord,
    new: TargetState,
    event: str | None,
    payload: Mapping[str, Any] | None = None,
    **changes: Any,
) -> TargetRecord:
    """Move ``target`` (as last read) to ``new`` with ``changes``; then ``event`` with ``payload``."""
    check_target_transition(TargetState(target.state), new)
    updated = journal.update_target(target.id, state=new.value, **changes)
    if event is not None:
        journal.append_event(app, event, dict(payload or {}), release_id=release_id)
    return updated
