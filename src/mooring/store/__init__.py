"""mooring's state store: SQLite (WAL) by default, PostgreSQL via $MOORING_DATABASE_URL.

`open_store()` returns a `Store`; every method is one short, committed transaction and returns
frozen records that stay usable after it returns.
"""

from mooring.store.apps import App
from mooring.store.db import DATABASE_URL_ENV, database_url
from mooring.store.events import Event
from mooring.store.instances import Instance
from mooring.store.leases import Lease
from mooring.store.releases import Release, ReleaseChanges
from mooring.store.schema_version import current_revision, head_revision
from mooring.store.store import Store, open_store
from mooring.store.tables import (
    INSTANCE_DRIVERS,
    RELEASE_CONTROLS,
    RELEASE_SCOPES,
    RELEASE_STATUSES,
    RELEASE_TRIGGERS,
    TARGET_ACTIONS,
    TARGET_STATES,
)
from mooring.store.targets import NewTarget, Target, TargetChanges
from mooring.store.tokens import ApiToken

__all__ = [
    "DATABASE_URL_ENV",
    "INSTANCE_DRIVERS",
    "RELEASE_CONTROLS",
    "RELEASE_SCOPES",
    "RELEASE_STATUSES",
    "RELEASE_TRIGGERS",
    "TARGET_ACTIONS",
    "TARGET_STATES",
    "ApiToken",
    "App",
    "Event",
    "Instance",
    "Lease",
    "NewTarget",
    "Release",
    "ReleaseChanges",
    "Store",
    "Target",
    "TargetChanges",
    "current_revision",
    "database_url",
    "head_revision",
    "open_store",
]
