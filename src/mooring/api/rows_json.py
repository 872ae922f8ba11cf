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
from itertools import chain, repeat
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
        self.types: frozenset[type] = frozenset()  # empty: a type the check does not know
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
                    return
                allowed.add(dict)
                self.values = frozenset({value})
            else:
                return
        self.types = frozenset(allowed)
        self.finite = float in allowed

    def entries_plain(self, rows: Sequence[dict[str, Any]]) -> bool:
        """The column's floats are finite, its dicts' keys are str and their values of the declared type."""
        # inf and nan survive a sum (a finite sum overflowing to inf only sends the rows to pydantic)
        if self.finite and not math.isfinite(sum(filter(None, map(self.get, rows)))):
            return False
        if self.values is not None:
            dicts = list(filter(None, map(self.get, rows)))  # None and {} need no look
            if not set(map(type, chain.from_iterable(dicts))) <= {str}:
                return False
            if not set(map(type, chain.from_iterable(map(dict.values, dicts)))) <= self.values:
                return False
        return True


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


class RowsJson:
    """Encode a list of dicts as `list[model]` the way FastAPI's response_model path does."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.fields = tuple(model.model_fields)
        self.columns = tuple(_Column(name, f.annotation) for name, f in model.model_fields.items())
        self.checked = tuple(c for c in self.columns if c.finite or c.values is not None)
        self.adapter: TypeAdapter[list[Any]] = TypeAdapter(list[model])  # type: ignore[valid-type]
        self._signatures: dict[tuple[type, ...], bool] = {}  # the row value types seen, and if plain

    def plain(self, rows: Sequence[dict[str, Any]]) -> bool:
        """Whether the rows are already what validation would make of them (so dumping them is exact).

        Every pass runs in C (map, set, tuple): the rows' key tuples, then the distinct tuples of
        their values' types (a listing has a handful), then the entries of the float and dict columns.
        """
        if not set(map(type, rows)) <= {dict}:
            return False
        if not all(map(self.fields.__eq__, map(tuple, rows))):
            return False
        for signature in set(map(tuple, map(map, repeat(type), map(dict.values, rows)))):
            known = self._signatures.get(signature)
            if known is None:
                known = all(t in c.types for t, c in zip(signature, self.columns, strict=True))
                if len(self._signatures) < 4096:
                    self._signatures[signature] = known
            if not known:
                return False
        return all(column.entries_plain(rows) for column in self.checked)

    def encode(self, rows: Sequence[dict[str, Any]]) -> bytes:
        if self.plain(rows):
            return pydantic_core.to_json(rows)
        # FastAPI's own path: validate (raising on a bad row, as a response model does), then dump
        return self.adapter.dump_json(self.adapter.validate_python(rows, from_attributes=True))

    def response(self, rows: Sequence[dict[str, Any]]) -> Response:
        return Response(self.encode(rows), media_type="application/json")
