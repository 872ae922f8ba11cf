"""Secret values, stored once per fingerprint so snapshots can carry the fingerprint, not the value."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from mooring.errors import StoreError
from mooring.store.base import StoreBase, insert_for
from mooring.store.columns import utcnow
from mooring.store.tables import SecretValueRow


class SecretRepository(StoreBase):
    """Put and get secret values by fingerprint."""

    def put_secret(self, fingerprint: str, value: str) -> None:
        """Store ``value`` under ``fingerprint``; storing the same pair again is a no-op."""
        with self._write(f"store secret {fingerprint}") as session:
            session.execute(
                insert_for(session, SecretValueRow)
                .values(fingerprint=fingerprint, value=value, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["fingerprint"])
            )
            stored = session.scalar(
                select(SecretValueRow.value).where(SecretValueRow.fingerprint == fingerprint)
            )
            if stored != value:
                # Never print either value: they are secrets.
                raise StoreError(
                    f"secret fingerprint {fingerprint} already stores a different value",
                    hint="fingerprints must be computed from the value; this is a bug in the caller",
                )

    def get_secrets(self, fingerprints: Iterable[str]) -> dict[str, str]:
        """The values stored under these fingerprints; unknown fingerprints are absent from the result."""
        wanted = set(fingerprints)
        if not wanted:
            return {}
        with self._read("read secrets") as session:
            rows = session.execute(
                select(SecretValueRow.fingerprint, SecretValueRow.value).where(
                    SecretValueRow.fingerprint.in_(wanted)
                )
            )
            return dict(rows.all())
