"""Turn pydantic's validation errors into operator-facing issues with key paths and hints."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mooring.manifest.errors import Issue, did_you_mean, key_path
from mooring.manifest.models import (
    App,
    Cron,
    HealthCheck,
    Manifest,
    Resources,
    Rollout,
    Service,
    Volume,
    Worker,
)

_KINDS: dict[str, type[BaseModel]] = {"service": Service, "worker": Worker, "cron": Cron, "volume": Volume}
_NESTED: dict[str, type[BaseModel]] = {
    "health_check": HealthCheck,
    "rollout": Rollout,
    "resources": Resources,
}


def model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose keys live at ``loc`` (the parent location of a key)."""
    if not loc:
        return Manifest
    if loc == ("app",):
        return App
    if len(loc) == 2 and loc[0] in _KINDS:
        return _KINDS[str(loc[0])]
    if len(loc) == 3 and loc[0] in _KINDS and loc[2] in _NESTED:
        return _NESTED[str(loc[2])]
    return None


def issues_from(error: ValidationError, file: str) -> list[Issue]:
    issues = [_issue(detail, file) for detail in error.errors(include_url=False)]
    unique: dict[tuple[str, str], Issue] = {}
    for issue in issues:
        unique.setdefault((issue.key, issue.message), issue)
    return list(unique.values())


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _issue(detail: ErrorDetails, file: str) -> Issue:
    loc = tuple(detail["loc"])
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    got = detail.get("input")
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = model_at(loc[:-1])
        hint = did_you_mean(key, model.model_fields) if model else None
        if hint is None and model is not None:
            hint = "known keys: " + ", ".join(sorted(model.model_fields))
        where = key_path(loc[:-1]) or "top level"
        if not loc[:-1]:
            return Issue(
                file, key, f"unknown section [{key}]", hint or "sections: app, service, worker, cron, volume"
            )
        return Issue(file, key_path(loc), f"unknown key {key!r} in {where}", hint)
    if kind == "missing":
        return Issue(file, key_path(loc), "is required")
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        hint = did_you_mean(str(got), [e.strip(" '") for e in str(expected).replace(" or ", ", ").split(",")])
        return Issue(file, key_path(loc), f"must be one of {expected} (got {_shown(got)})", hint)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        op = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}[
            kind
        ]
        bound = next(iter(ctx.values()), "?")
        return Issue(file, key_path(loc), f"must be {op} {bound} (got {_shown(got)})")
    if kind == "value_error":
        message = str(ctx.get("error", detail["msg"]))
        return Issue(file, key_path(loc), message)
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return Issue(
            file,
            key_path(loc),
            f"must be a table, got {_shown(got)}",
            "write it as [section] or { key = ... }",
        )
    if kind in ("string_too_short", "too_short"):
        return Issue(file, key_path(loc), "must not be empty")
    simple = {
        "int_type": "a whole number",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "finite_number": "a finite number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "tuple_type": "a list",
    }
    if kind in simple:
        return Issue(file, key_path(loc), f"must be {simple[kind]}, got {_shown(got)}")
    return Issue(file, key_path(loc), f"{detail['msg']} (got {_shown(got)})")
