"""The JSON Schemas shipped in docs/schemas are the ones the API's response models produce."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from mooring.api.views import SCHEMAS, json_schema

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_shipped_schemas_match_the_response_models() -> None:
    shipped = {p.name for p in DOCS.glob("*.json")}
    assert shipped == set(SCHEMAS), "regenerate with: .venv/bin/python -m mooring.api.views docs/schemas"
    for name in SCHEMAS:
        on_disk = json.loads((DOCS / name).read_text())
        assert on_disk == json_schema(name), (
            f"docs/schemas/{name} is stale: python -m mooring.api.views docs/schemas"
        )
        jsonschema.Draft202012Validator.check_schema(on_disk)


def test_a_schema_rejects_a_release_without_its_nested_rollout() -> None:
    release = json.loads((DOCS / "release.json").read_text())
    validator = jsonschema.Draft202012Validator(release)
    flat = {"id": "3f2a9c0d1e4b", "status": "completed", "rollout_state": "stable"}
    assert not validator.is_valid(flat)
