"""One vocabulary: the API's literals and the store's CHECK constraints say exactly what
mooring/vocabulary.py says (the migrations keep their frozen copies, checked against it too)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, get_args

import pytest

from mooring.api import views
from mooring.store import tables
from mooring.vocabulary import Action, Control, ReleaseStatus, RolloutState, TargetState, Trigger, values

API_LITERALS = [
    (views.Status, ReleaseStatus),
    (views.RolloutState, RolloutState),
    (views.ControlState, Control),
    (views.TargetState, TargetState),
    (views.ActionName, Action),
]


@pytest.mark.parametrize(("literal", "vocabulary"), API_LITERALS, ids=lambda x: getattr(x, "__name__", ""))
def test_api_literals_are_the_vocabulary(literal: Any, vocabulary: type[StrEnum]) -> None:
    assert get_args(literal) == values(vocabulary)


def test_store_constraints_are_the_vocabulary() -> None:
    assert values(ReleaseStatus) == tables.RELEASE_STATUSES
    assert values(Control) == tables.RELEASE_CONTROLS
    assert values(Trigger) == tables.RELEASE_TRIGGERS
    assert values(TargetState) == tables.TARGET_STATES
    assert values(Action) == tables.TARGET_ACTIONS


def test_the_migrations_froze_the_same_values() -> None:
    """A value added to the vocabulary without a migration would be refused by existing databases:
    each is in the first migration, or in the later one that added it (e.g. 0006's triggers)."""
    versions = Path(tables.__file__).parent / "migrations" / "versions"
    frozen = "\n".join(p.read_text() for p in sorted(versions.glob("*.py")))
    for vocabulary in (ReleaseStatus, Control, Trigger, TargetState, Action):
        for value in values(vocabulary):
            assert f'"{value}"' in frozen, (vocabulary.__name__, value)


def test_token_resource_scopes_of_the_api_are_the_store_s() -> None:
    from typing import get_args

    from mooring.api.tokens import ResourceScope
    from mooring.store.tokens import RESOURCE_SCOPES

    assert get_args(ResourceScope) == RESOURCE_SCOPES
