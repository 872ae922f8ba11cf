"""Install-wide settings, such as a random key generated once and then kept."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, select

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

    def put_setting(self, key: str, value: str | None) -> None:
        """Set the setting (None: remove it)."""
        with self._write(f"store setting {key!r}") as session:
            session.execute(delete(SettingRow).where(SettingRow.key == key))
            if value is not None:
                session.add(SettingRow(key=key, value=value))

    def settings_under(self, prefix: str) -> dict[str, str]:
        """Every setting whose key starts with ``prefix``, by key."""
        with self._read(f"read settings {prefix}*") as session:
            rows = session.execute(
                select(SettingRow.key, SettingRow.value).where(SettingRow.key.startswith(prefix))
            )
            return {k: v for k, v in rows}
