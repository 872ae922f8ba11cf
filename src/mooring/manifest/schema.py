"""The manifest's JSON Schema, published so editors (taplo, Even Better TOML) can complete it."""

from __future__ import annotations

from typing import Any

from mooring.manifest.models import Manifest


def manifest_json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mooring.dev/schema/mooring.toml.json",
        "title": "mooring.toml",
        **schema,
    }
