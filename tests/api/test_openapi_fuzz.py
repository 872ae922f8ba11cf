"""schemathesis against the engine's OpenAPI: a real Engine and store behind uvicorn on a loopback TCP
port; every route, generated requests; no 5xx, and every answer matches its declared status, content
type and schema."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mooring.api.app import create_app
from mooring.engine.core import Engine
from tests.engine.conftest import free_port, wait_until

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def engine_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("fuzz") / "home"
    home.mkdir()
    port = free_port()
    holder: dict[str, Any] = {}

    async def main() -> None:
        engine = Engine(home, database_url=f"sqlite:///{home / 'state.db'}")
        await engine.start()
        config = uvicorn.Config(
            create_app(engine), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        holder["server"] = server = uvicorn.Server(config)
        try:
            await server.serve()
        finally:
            await engine.shutdown()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(url + "/v1/engine", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answers, what="the in-process engine to answer")
    yield url
    holder["server"].should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def api_schema(engine_url: str) -> Any:
    return schemathesis.openapi.from_url(engine_url + "/openapi.json")


def fuzz(operation: Any) -> None:
    """Generated requests against one operation, every answer checked."""
    streams = operation.path.endswith(("/events", "/logs"))

    @given(case=operation.as_strategy())
    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def exercise(case: Any) -> None:
        if streams:
            case.query = {**(case.query or {}), "follow": "false"}  # a followed stream never ends
        if case.query is not None and "timeout" in case.query:
            case.query["timeout"] = 0  # the long poll answers at once
        case.call_and_validate(checks=CHECKS, timeout=30)

    exercise()


def test_no_server_error_and_every_answer_matches_its_schema(api_schema: Any) -> None:
    """Each operation in turn (schemathesis' pytest plugin does not load under this pytest)."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15, [op.label for op in operations]
    problems: list[str] = []
    for operation in operations:
        try:
            fuzz(operation)
        except Exception as exc:  # collect every operation's failure, not just the first
            problems.append(f"{operation.label}: {exc}")
    assert not problems, "\n\n".join(problems)
