"""`GET /v1/instances` writes the bytes FastAPI's response_model path wrote, without validating rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mooring.api.app import INSTANCE_ROWS, create_app
from mooring.api.rows_json import RowsJson
from mooring.api.schemas import InstanceView
from mooring.engine import Engine

FIELDS = tuple(InstanceView.model_fields)


def _fastapi_body(rows: list[dict[str, Any]]) -> bytes:
    """What FastAPI itself writes for these rows under ``response_model=list[InstanceView]``."""
    app = FastAPI()

    @app.get("/rows", response_model=list[InstanceView])
    async def _rows() -> Any:
        return rows

    with TestClient(app) as client:
        answer = client.get("/rows")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/json"
        return answer.content


def engine_row(i: int = 0) -> dict[str, Any]:
    """A row as Engine.instance_view builds it (keys in the schema's order, exact types)."""
    return {
        "id": f"web-{i}-3f2a9c",
        "app": "shop",
        "service": "web",
        "replica": i,
        "driver": "process",
        "state": "running",
        "health": "healthy",
        "pid": 4242 + i,
        "restarts": 0,
        "uptime": 12.5 + i,
        "cpu_percent": 0.25,
        "memory_bytes": 1_234_567,
        "ports": {"8000": 31000 + i},
        "published": {"8000": "127.0.0.1:8080"},
        "upstream": f"127.0.0.1:{31000 + i}",
        "serving": True,
        "proxy": {"sessions": 3},
        "exit_code": None,
        "last_error": None,
        "limits": None,
        "release_id": "3f2a9c0d1e4b",
        "node": None,
    }


def test_rows_as_the_engine_builds_them_take_the_plain_path_and_match_fastapi() -> None:
    rows = [engine_row(i) for i in range(50)]
    assert list(rows[0]) == list(FIELDS)
    assert INSTANCE_ROWS.plain(rows)
    body = INSTANCE_ROWS.encode(rows)
    assert body == _fastapi_body(rows)
    assert json.loads(body) == [InstanceView.model_validate(r).model_dump(mode="json") for r in rows]


def test_the_route_still_names_its_response_model_in_openapi(tmp_path: Path) -> None:
    engine = Engine(tmp_path, database_url=f"sqlite:///{tmp_path / 'state.db'}")
    try:
        schema = create_app(engine).openapi()
    finally:
        engine.store.close()
    answer = schema["paths"]["/v1/instances"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["items"]["$ref"] == "#/components/schemas/InstanceView"


def test_a_row_that_is_not_plain_goes_through_pydantic() -> None:
    int_for_float = {**engine_row(), "cpu_percent": 0}
    reordered = dict(reversed(list(engine_row().items())))
    missing_defaults = {k: v for k, v in engine_row().items() if k not in ("published", "node", "proxy")}
    extra = {**engine_row(), "secret": "x"}
    bool_for_int = {**engine_row(), "restarts": True}
    for row in (int_for_float, reordered, missing_defaults, extra, bool_for_int):
        rows = [engine_row(1), row]
        assert not INSTANCE_ROWS.plain(rows), row
        assert INSTANCE_ROWS.encode(rows) == _fastapi_body(rows)
    assert b'"cpu_percent":0.0' in INSTANCE_ROWS.encode([int_for_float])


def test_a_row_pydantic_refuses_is_refused_as_the_response_model_refused_it() -> None:
    with pytest.raises(ValidationError):
        INSTANCE_ROWS.encode([{**engine_row(), "replica": "one"}])


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "str": st.text(max_size=8),
    "int": st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans()),
    "float": st.one_of(st.floats(), st.integers(-(2**60), 2**60)),
    "none": st.none(),
    "dict": st.dictionaries(
        st.text(max_size=4), st.one_of(st.integers(0, 2**40), st.text(max_size=4)), max_size=3
    ),
}


def _value_for(name: str) -> st.SearchStrategy[Any]:
    annotation = str(InstanceView.model_fields[name].annotation)
    kinds = [k for k in ("str", "int", "float", "dict") if k in annotation]
    options = [_VALUES[k] for k in kinds] + [_VALUES["none"]]
    return (
        st.one_of(*options)
        if "None" in annotation or kinds == []
        else st.one_of(*[_VALUES[k] for k in kinds])
    )


_ROW = st.fixed_dictionaries({name: _value_for(name) for name in FIELDS})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_ROW, max_size=4), drop=st.sets(st.sampled_from(FIELDS[13:])))
def test_any_rows_give_the_bytes_fastapi_gives(rows: list[dict[str, Any]], drop: set[str]) -> None:
    rows = [{k: v for k, v in row.items() if k not in drop} for row in rows]
    try:
        expected = _fastapi_body(rows)
    except Exception:  # FastAPI refuses the rows (a response validation error): so must the encoder
        with pytest.raises(ValidationError):
            INSTANCE_ROWS.encode(rows)
        return
    assert INSTANCE_ROWS.encode(rows) == expected
    if all(math.isfinite(v) for row in rows for v in row.values() if isinstance(v, float)):
        assert json.loads(expected) == [InstanceView.model_validate(r).model_dump(mode="json") for r in rows]


def test_a_model_the_check_does_not_know_is_always_validated() -> None:
    from pydantic import BaseModel

    class Odd(BaseModel):
        values: list[int]

    assert not RowsJson(Odd).plain([{"values": [1]}])
    assert RowsJson(Odd).encode([{"values": ["1"]}]) == b'[{"values":[1]}]'
