"""Validate a Compose file against the Compose specification's JSON Schema (``compose-spec.json``,
copied from compose-spec/compose-spec; see SCHEMA_ORIGIN.md)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator


@lru_cache(maxsize=1)
def _validator() -> Draft7Validator:
    text = resources.files("mooring.compose").joinpath("compose-spec.json").read_text(encoding="utf-8")
    return Draft7Validator(json.loads(text))


def key_path(parts: list[Any]) -> str:
    """``services.web.ports[0]`` from a JSON Schema error path."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_errors(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Every schema violation as (key path, message), most specific first, in a stable order."""
    errors: list[tuple[str, str]] = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        best = error
        if error.context:  # oneOf/anyOf: the branch that got deepest says most
            best = max(error.context, key=lambda e: len(e.absolute_path))
        path = list(best.absolute_path)
        if best.validator == "additionalProperties" and isinstance(best.instance, dict):
            for extra in _extras(best.instance, best.schema):
                errors.append((key_path([*path, extra]), f"unknown key {extra!r}"))
            continue
        errors.append((key_path(path), best.message))
    return errors


def _extras(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in instance if k not in known and not any(p.search(str(k)) for p in patterns)]
