"""Is the store at the newest schema? Answered without importing alembic (~11 MiB resident).

Every engine and command opens the store, but a migration runs only after an upgrade of mooring: the
revision the store is at is read with SQLAlchemy Core, and the newest one is read from the migration
files' ``revision`` / ``down_revision`` lines, so it cannot drift from what alembic would find
(tests/store/test_open.py holds the two to alembic's own answers). `store.migrate` (alembic) is
imported only when they differ.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, Engine, text

VERSIONS_DIR = Path(__file__).with_name("migrations") / "versions"
VERSION_TABLE = "alembic_version"

_REVISION = re.compile(r"^revision(?:\s*:[^=]*)?\s*=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(.+)$", re.MULTILINE)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


@cache
def head_revision() -> str:
    """The newest schema revision this version of mooring knows: the one no migration builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            continue  # not a migration (alembic ignores such files too)
        revisions.add(found.group(1))
        down = _DOWN_REVISION.search(source)
        if down is not None:
            parents.update(_QUOTED.findall(down.group(1)))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(
            f"the migrations in {VERSIONS_DIR} must have exactly one head, found {sorted(heads)}"
        )
    return heads.pop()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    with engine.connect() as connection:
        return revision_of(connection)


def revision_of(connection: Connection) -> str | None:
    """What alembic's version table holds (one row on a linear history); None without the table."""
    if not connection.dialect.has_table(connection, VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        # alembic's answer for several heads is an error too; the migration path reports it fully
        return ",".join(sorted(rows))
    return rows[0] if rows else None


def needs_migration(engine: Engine) -> bool:
    """Whether the store is not at `head_revision` (never migrated, older, or unknown to this mooring)."""
    return current_revision(engine) != head_revision()
