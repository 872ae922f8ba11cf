"""Install-wide settings, such as a random key generated once and then kept."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from mooring.store.base import StoreBase, insert_for
from mooring.store.tables import SettingRow


class SettingRepository(StoreBase):
    """Read settings, creating them on first use."""

    def get_or_create_setting(self, key: str, factory: Callable[[], str]) -> str:
        """The setting's value; if unset, ``factory()`` is stored, and the first writer wins any race."""
        with self._read(f"read setting {key!r}") as session:
            existing = session.scalar(select(SettingRow.value).where(SettingRow.key == key))
        if existing is not None:
            return existing
        candidate = factory()
        with self._write(f"store setting {key!r}", fenced=False) as session:  # first writer wins
            session.execute(
                insert_for(session, SettingRow)
                .values(key=key, value=candidate)
                .on_conflict_do_nothing(index_elements=["key"])
            )
            return session.scalars(select(SettingRow.value).where(SettingRow.key == key)).one()
