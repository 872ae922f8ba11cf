"""The audit log: who changed what through the API, from where, and how it ended. Append-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from mooring.masking import masker
from mooring.store.base import StoreBase
from mooring.store.columns import utcnow
from mooring.store.tables import AuditRow


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    source: str
    action: str
    app: str | None
    outcome: str
    status: int | None
    detail: str


class AuditRepository(StoreBase):
    """Append entries and read them back; there is deliberately no way to change or delete one."""

    def append_audit(
        self,
        actor: str,
        source: str,
        action: str,
        app: str | None,
        outcome: str,
        status: int | None = None,
        detail: str = "",
    ) -> AuditEntry:
        with self._write(f"append to the audit log ({action})") as session:
            row = AuditRow(
                at=utcnow(),
                actor=actor[:200],
                source=source[:200],
                action=action[:200],
                app=app,
                outcome=outcome,
                status=status,
                detail=masker.mask(detail),
            )
            session.add(row)
            session.flush()
            return _record(row)

    def audit_entries(
        self, app: str | None = None, since: datetime | None = None, limit: int = 1000
    ) -> list[AuditEntry]:
        """Entries oldest first (the newest ``limit`` of them), optionally of one app and after ``since``."""
        with self._read("read the audit log") as session:
            query = select(AuditRow)
            if app is not None:
                query = query.where(AuditRow.app == app)
            if since is not None:
                query = query.where(AuditRow.at >= since)
            rows = session.scalars(query.order_by(AuditRow.id.desc()).limit(limit)).all()
            return [_record(r) for r in reversed(rows)]


def _record(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        row.id, row.at, row.actor, row.source, row.action, row.app, row.outcome, row.status, row.detail
    )
