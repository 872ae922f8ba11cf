"""What every repository shares: the engine, short transactions, and errors an operator can act on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from mooring.errors import StoreError
from mooring.store.db import WRITE_OPTION
from mooring.store.fence import Fence

# Either dialect's INSERT; both offer on_conflict_do_nothing / on_conflict_do_update.
DialectInsert = postgresql.Insert | sqlite.Insert


class StoreBase:
    """Holds the engine; repositories subclass it and open one short transaction per call."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._read_sessions = sessionmaker(engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        # Set when engines share the database (store/leadership.py); None: the only engine, no fence.
        self.fence: Fence | None = None
        self.commits = 0  # write transactions committed: /metrics shows it (a turn's work, one commit)

    @property
    def epoch(self) -> int | None:
        """The leadership epoch this store writes under; None on a single engine."""
        return self.fence.epoch if self.fence is not None else None

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @contextmanager
    def _read(self, action: str) -> Iterator[Session]:
        """A read-only transaction; ``action`` completes "could not ..." in error messages."""
        with _database_errors(action), self._read_sessions() as session:
            yield session

    @contextmanager
    def _write(self, action: str, *, fenced: bool = True) -> Iterator[Session]:
        """A write transaction, committed before the caller's next step (journal before effect).

        Every write goes through here, so this is the one place the leadership fence is checked
        (store/fence.py); ``fenced=False`` only for bookkeeping any engine may do (a token's last use).
        """
        with _database_errors(action), self._write_sessions.begin() as session:
            if fenced and self.fence is not None:
                self.fence.check(session)
            yield session
        self.commits += 1


def insert_for(session: Session, table: Any) -> DialectInsert:
    """An INSERT for ``table`` in the session's dialect, for ON CONFLICT clauses."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def check_choice(field: str, value: str | None, choices: tuple[str, ...], *, nullable: bool = False) -> None:
    """Refuse a value outside a persisted vocabulary before the database does, with a clearer message."""
    if value is None and nullable:
        return
    if value not in choices:
        raise StoreError(f"{field} {value!r} is not one of: {', '.join(choices)}")


def plain_changes(kind: str, changes: Mapping[str, Any], updatable: Iterable[str]) -> dict[str, Any]:
    """Field changes with enums as their values; a field that cannot be updated is refused by name."""
    values = {k: v.value if isinstance(v, Enum) else v for k, v in changes.items()}
    allowed = set(updatable)
    unknown = set(values) - allowed
    if unknown:
        raise StoreError(
            f"cannot update {kind} field(s) {', '.join(sorted(unknown))}; updatable: {', '.join(sorted(allowed))}"
        )
    return values


def as_tuple(values: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """One value or several as a tuple; None stays None (no filter)."""
    if values is None:
        return None
    if isinstance(values, str):
        return (values,)
    return tuple(values)


@contextmanager
def _database_errors(action: str) -> Iterator[None]:
    """Turn driver errors into StoreError naming what mooring was doing."""
    try:
        yield
    except IntegrityError as exc:
        raise StoreError(f"could not {action}: the database refused it ({_reason(exc)})") from exc
    except OperationalError as exc:
        raise StoreError(
            f"could not {action}: {_reason(exc)}",
            hint="another process may hold the database lock for too long, or the database is unreachable; "
            "check `mooring serve` logs and $MOORING_DATABASE_URL",
        ) from exc
    except StatementError as exc:  # any other driver error, or a value a column type refused
        raise StoreError(f"could not {action}: {_reason(exc)}") from exc


def _reason(exc: StatementError) -> str:
    """The driver's own message, first line only, without SQLAlchemy's statement dump."""
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
