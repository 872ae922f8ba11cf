"""Rows as FastAPI writes them for ``response_model=list[Model]``, without validating each row.

FastAPI validates a returned list against its response model (pydantic builds one model per row),
then dumps the models to JSON: for a 500-instance listing that was a quarter of the request. The rows
the engine builds already have the model's fields, in its order, with values of its types; when
they do (checked column by column, a few C-level passes), pydantic-core's `to_json` of the plain
dicts writes the bytes `dump_json` of the validated models would. Any row that is not so plain
(a missing or extra key, another order, an int where a float is declared, a non-finite float, a
type the check does not know) sends the whole list through pydantic's own validation and dump,
which is exactly what FastAPI did. tests/api/test_rows_json.py holds the two paths to equal bytes.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import pydantic_core
from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

_SIMPLE = (str, int, float, bool, type(None))


class _Column:
    """What a field's values may be on the plain path: exact types, and for dicts their entries'."""

    __slots__ = ("finite", "get", "types", "values")

    def __init__(self, name: str, annotation: Any) -> None:
        self.get = itemgetter(name)
        self.types: frozenset[type] = frozenset()
        self.values: frozenset[type] | None = None  # for dict[str, X]: X's types
        self.finite = False
        members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
        allowed: set[type] = set()
        for member in members:
            if member in _SIMPLE:
                allowed.add(member)
            elif typing.get_origin(member) is dict and self.values is None:
                key, value = typing.get_args(member)
                if key is not str or value not in _SIMPLE or value is float:
                    return  # unknown: nothing is plain, pydantic decides
                allowed.add(dict)
                self.values = frozenset({value})
            else:
                return
        self.types = frozenset(allowed)
        self.finite = float in allowed

    def plain(self, rows: Sequence[dict[str, Any]]) -> bool:
        column = list(map(self.get, rows))
        if not set(map(type, column)) <= self.types:
            return False
        if self.finite and not all(math.isfinite(v) for v in column if type(v) is float):
            return False
        values = self.values
        if values is not None:
            for value in column:
                if type(value) is dict and value and not _plain_dict(value, values):
                    return False
        return True


def _plain_dict(value: dict[Any, Any], values: frozenset[type]) -> bool:
    return set(map(type, value)) <= {str} and set(map(type, value.values())) <= values


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


class RowsJson:
    """Encode a list of dicts as `list[model]` the way FastAPI's response_model path does."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.fields = tuple(model.model_fields)
        self.columns = tuple(_Column(name, f.annotation) for name, f in model.model_fields.items())
        self.adapter: TypeAdapter[list[Any]] = TypeAdapter(list[model])  # type: ignore[valid-type]

    def plain(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Whether the rows are already what validation would make of them (so dumping them is exact)."""
        fields = self.fields
        if not all(type(row) is dict and tuple(row) == fields for row in rows):
            return False
        return all(column.plain(rows) for column in self.columns)

    def encode(self, rows: Sequence[dict[str, Any]]) -> bytes:
        if self.plain(rows):
            return pydantic_core.to_json(rows)
        # FastAPI's own path: validate (raising on a bad row, as a response model does), then dump
        return self.adapter.dump_json(self.adapter.validate_python(rows, from_attributes=True))

    def response(self, rows: Sequence[dict[str, Any]]) -> Response:
        return Response(self.encode(rows), media_type="application/json")
