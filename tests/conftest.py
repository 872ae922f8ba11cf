"""Shared test helpers, and the unit/integration split.

A test is ``unit`` when it exercises pure code in-process (no engine, process, socket, database or
container) and runs in milliseconds; everything else is ``integration``. ``make test-unit`` runs the
unit tests only (``pytest -m unit``); ``make test`` runs all. The unit modules are listed here, so
a new test file is integration until it is added (the safe default).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent

UNIT_DIRS = ("release", "architecture")
UNIT_FILES = (
    "manifest/test_diff.py",
    "swarm/test_swarm_tasks.py",
    "manifest/test_durations.py",
    "manifest/test_errors.py",
    "manifest/test_examples.py",
    "manifest/test_interpolate.py",
    "manifest/test_loader.py",
    "manifest/test_reach.py",
    "manifest/test_routes.py",
    "manifest/test_snapshot.py",
    "manifest/test_snapshot_compat.py",
    "health/test_health_state.py",
    "health/test_health_spec.py",
    "runtime/test_runtime_policy.py",
    "runtime/test_driver_protocol.py",
    "container/test_pure.py",
    "engine/test_cron_times.py",
    "engine/test_first_error.py",
    "cli/test_local_target.py",
    "api/test_schemas_shipped.py",
    "api/test_vocabulary.py",
    "cli/test_plain.py",
    "cli/test_fast_parse.py",
    "bench/test_targets.py",
)
# in a unit module, but not unit: they start processes
NOT_UNIT = ("manifest/test_snapshot.py::test_same_bytes_across_processes",)


def is_unit(item: pytest.Item) -> bool:
    path = Path(str(item.path)).resolve()
    if not path.is_relative_to(TESTS):
        return False
    rel = path.relative_to(TESTS).as_posix()
    if any(item.nodeid.endswith(n) or f"{rel}::{item.name}" == n for n in NOT_UNIT):
        return False
    return rel in UNIT_FILES or rel.split("/")[0] in UNIT_DIRS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.unit if is_unit(item) else pytest.mark.integration)


@pytest.fixture
def repo() -> Path:
    return REPO
