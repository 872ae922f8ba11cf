"""Alembic environment: migrates the connection that mooring.store.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from mooring.store.tables import Base


def run_migrations(connection: Connection) -> None:
    """Run pending migrations on ``connection``, inside the caller's transaction if there is one."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite can only ALTER by copying the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    run_migrations(handed_over)
elif context.is_offline_mode():
    raise SystemExit("mooring migrations do not support offline (--sql) mode")
else:
    from mooring.store.db import create_store_engine, database_url

    engine = create_store_engine(database_url())
    with engine.connect() as connection:
        run_migrations(connection)
        connection.commit()
    engine.dispose()
