"""Targets: the replica slots a release acts on, and how far each one's cutover got."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import insert, select

from mooring.errors import NotFound, StoreError
from mooring.masking import masker
from mooring.store.base import StoreBase, check_choice, plain_changes
from mooring.store.columns import utcnow
from mooring.store.releases import require_release
from mooring.store.tables import TARGET_ACTIONS, TARGET_STATES, TargetRow


@dataclass(frozen=True, slots=True)
class NewTarget:
    """A target as the planner hands it over, before it has an id."""

    service: str
    replica: int
    action: str
    batch: int
    from_spec_hash: str | None = None
    to_spec_hash: str | None = None
    previous_instance_id: str | None = None
    from_release_id: str | None = None
    state: str = "pending"
    reason: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Target:
    """A target as recorded."""

    id: int
    release_id: str
    service: str
    replica: int
    action: str
    state: str
    reason: str | None
    detail: str
    batch: int
    from_spec_hash: str | None
    to_spec_hash: str | None
    instance_id: str | None
    previous_instance_id: str | None
    from_release_id: str | None
    updated_at: datetime


class TargetChanges(TypedDict, total=False):
    """The fields `update_target` may change; which slot and what action are fixed by the plan."""

    state: str
    reason: str | None
    detail: str
    batch: int
    instance_id: str | None
    previous_instance_id: str | None


UPDATABLE_FIELDS = frozenset(TargetChanges.__annotations__)


class TargetRepository(StoreBase):
    """Record a release's targets and each transition of them."""

    def add_targets(self, release_id: str, targets: Sequence[NewTarget]) -> list[Target]:
        """Record the release's targets in one transaction; a slot may appear only once per release."""
        slots: set[tuple[str, int]] = set()
        for target in targets:
            check_choice("target action", target.action, TARGET_ACTIONS)
            check_choice("target state", target.state, TARGET_STATES)
            if (target.service, target.replica) in slots:
                raise StoreError(
                    f"service {target.service!r} replica {target.replica} appears twice in the targets "
                    f"of release {release_id}; a replica slot is acted on once per release"
                )
            slots.add((target.service, target.replica))
        if not targets:
            return []
        now = utcnow()
        rows: list[dict[str, Any]] = [
            {
                "release_id": release_id,
                "service": t.service,
                "replica": t.replica,
                "action": t.action,
                "state": t.state,
                "reason": t.reason,
                "detail": t.detail,
                "batch": t.batch,
                "from_spec_hash": t.from_spec_hash,
                "to_spec_hash": t.to_spec_hash,
                "previous_instance_id": t.previous_instance_id,
                "from_release_id": t.from_release_id,
                "updated_at": now,
            }
            for t in targets
        ]
        with self._write(f"record the targets of release {release_id}") as session:
            require_release(session, release_id)
            inserted = session.scalars(
                insert(TargetRow).returning(TargetRow, sort_by_parameter_order=True), rows
            ).all()
            return [_record(row) for row in inserted]

    def list_targets(self, release_id: str) -> list[Target]:
        """The release's targets in rollout order: by batch, then service and replica."""
        with self._read(f"list the targets of release {release_id}") as session:
            require_release(session, release_id)
            query = (
                select(TargetRow)
                .where(TargetRow.release_id == release_id)
                .order_by(TargetRow.batch, TargetRow.service, TargetRow.replica)
            )
            return [_record(row) for row in session.scalars(query)]

    def update_target(self, target_id: int, **changes: Unpack[TargetChanges]) -> Target:
        """Change only the given fields and commit before the caller's next side effect."""
        values = clean_target_changes(changes)
        with self._write(f"update target {target_id}") as session:
            row = session.get(TargetRow, target_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no target with id {target_id}")
            for field, value in values.items():
                setattr(row, field, value)
            row.updated_at = utcnow()
            session.flush()
            return _record(row)


def clean_target_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes as stored: known fields only, a valid state, the detail masked (it may quote probe output)."""
    values = plain_changes("target", changes, UPDATABLE_FIELDS)
    if isinstance(values.get("detail"), str):
        values["detail"] = masker.mask(values["detail"])
    if "state" in values:
        check_choice("target state", values["state"], TARGET_STATES)
    return values


def _record(row: TargetRow) -> Target:
    return Target(
        id=row.id,
        release_id=row.release_id,
        service=row.service,
        replica=row.replica,
        action=row.action,
        state=row.state,
        reason=row.reason,
        detail=row.detail,
        batch=row.batch,
        from_spec_hash=row.from_spec_hash,
        to_spec_hash=row.to_spec_hash,
        instance_id=row.instance_id,
        previous_instance_id=row.previous_instance_id,
        from_release_id=row.from_release_id,
        updated_at=row.updated_at,
    )
