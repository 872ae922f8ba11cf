"""Opening the store: where it lives, how SQLite is configured, and migrations."""

from __future__ import annotations

import multiprocessing
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from mooring.errors import StoreError
from mooring.store import Store, current_revision, database_url, head_revision, open_store
from mooring.store.migrate import alembic_config
from mooring.store.tables import Base


def test_default_store_is_sqlite_in_mooring_home_readable_by_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOORING_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MOORING_DATABASE_URL", raising=False)
    with open_store() as store:
        store.get_or_create_app("shop")
        with store.engine.connect():  # hold a connection so the WAL files exist
            db_file = tmp_path / "home" / "state.db"
            assert store.url == f"sqlite:///{db_file}"
            for path in (db_file, db_file.with_name("state.db-wal"), db_file.with_name("state.db-shm")):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_database_url_env_selects_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere.db"
    monkeypatch.setenv("MOORING_DATABASE_URL", f"sqlite:///{elsewhere}")
    with open_store():
        assert elsewhere.exists()


def test_bare_postgresql_url_uses_psycopg_3() -> None:
    assert database_url("postgresql://u:p@db/mooring").drivername == "postgresql+psycopg"


def test_unsupported_database_is_refused_with_a_hint() -> None:
    with pytest.raises(StoreError, match="cannot keep its state in a 'mysql' database"):
        open_store("mysql://u:p@db/mooring")


def test_an_existing_world_readable_db_file_is_tightened_to_0600(tmp_path: Path) -> None:
    db_file = tmp_path / "state.db"
    db_file.touch(mode=0o644)
    db_file.chmod(0o644)
    with open_store(f"sqlite:///{db_file}"):
        assert stat.S_IMODE(db_file.stat().st_mode) == 0o600


def test_every_sqlite_connection_uses_wal_foreign_keys_busy_timeout_and_normal_sync(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        for _ in range(2):  # a pooled connection and a fresh one
            with store.engine.connect() as connection:
                names = ["journal_mode", "foreign_keys", "busy_timeout", "synchronous"]
                values = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names]
                assert values == ["wal", 1, 5000, 1]  # synchronous 1 is NORMAL
            store.engine.dispose()


def test_unreachable_postgres_is_a_store_error_naming_the_url_without_password(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as raised:
        open_store(f"postgresql+psycopg://mooring:s3cret@/mooring?host={tmp_path}")
    assert "cannot open the state database" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_migrations_reach_head_and_reopening_changes_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        assert current_revision(store.engine) == head_revision()
        tables = set(inspect(store.engine).get_table_names())
        store.get_or_create_app("shop")
    with open_store(store_url) as reopened:
        assert current_revision(reopened.engine) == head_revision()
        assert set(inspect(reopened.engine).get_table_names()) == tables
        assert [app.name for app in reopened.list_apps()] == ["shop"]
    assert tables >= {
        "apps",
        "releases",
        "targets",
        "events",
        "instances",
        "leases",
        "secret_values",
        "settings",
    }


def test_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def _open_and_record(url: str, app: str) -> None:
    with open_store(url) as store:
        store.get_or_create_app(app)


def test_two_processes_opening_a_new_database_at_once_both_succeed(store_url: str) -> None:
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=_open_and_record, args=(store_url, f"app-{i}")) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    with open_store(store_url) as store:
        assert [app.name for app in store.list_apps()] == ["app-0", "app-1", "app-2"]
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_the_head_revision_read_from_the_migration_files_is_alembics() -> None:
    assert head_revision() == ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_the_revision_read_with_core_is_alembics(store: Store) -> None:
    with store.engine.connect() as connection:
        assert current_revision(store.engine) == MigrationContext.configure(connection).get_current_revision()


def test_a_never_migrated_database_has_no_revision(tmp_path: Path) -> None:
    from mooring.store.db import create_store_engine

    engine = create_store_engine(database_url(f"sqlite:///{tmp_path / 'empty.db'}"))
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_reopening_a_store_at_head_does_not_import_alembic(store_url: str) -> None:
    open_store(store_url).close()  # migrated here, in this process
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from mooring.store import open_store; "
            f"open_store({store_url!r}).close(); "
            "print(sorted(m for m in sys.modules if m == 'alembic' or m.startswith('alembic.')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert opened.stdout.strip() == "[]", opened.stderr


def test_a_store_behind_head_is_migrated_on_open(store_url: str) -> None:
    from alembic import command

    from mooring.store.db import create_store_engine

    engine = create_store_engine(database_url(store_url))
    try:
        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0012")
        assert current_revision(engine) == "0012"
    finally:
        engine.dispose()
    with open_store(store_url) as store:
        assert current_revision(store.engine) == head_revision()
