"""A thin synchronous client of the engine API; API errors become MooringErrors with their exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mooring.errors import EngineUnreachable, MooringError


def _exit_codes() -> dict[str, int]:
    """API error code -> exit code, read off the error tree so the two can never disagree."""
    codes: dict[str, int] = {}
    todo: list[type[MooringError]] = [MooringError]
    while todo:
        cls = todo.pop()
        codes.setdefault(cls.code, cls.exit_code)
        todo.extend(cls.__subclasses__())
    return codes


class ApiError(MooringError):
    """An error answer of the engine, carrying its stable ``code``."""

    def __init__(self, code: str, message: str, hint: str | None, status: int) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status
        self.exit_code = _exit_codes().get(code, 1)


class EngineClient:
    """One connection pool to one engine."""

    def __init__(self, socket_path: Path) -> None:
        self.where = str(socket_path)
        self._http = httpx.Client(
            base_url="http://mooring",
            transport=httpx.HTTPTransport(uds=str(socket_path)),
            timeout=httpx.Timeout(30.0, read=None),  # reads are long polls; connecting is not
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise EngineUnreachable(
                f"cannot reach the mooring engine at {self.where}: {exc}",
                hint="see the engine log under $MOORING_HOME, or start it with 'mooring serve'",
            ) from None
        return self._decode(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        """Lines of a streaming answer (logs -f, events), until the engine closes it."""
        query = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=query) as response:
                if response.status_code >= 400:
                    response.read()
                    self._decode(response)
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            raise EngineUnreachable(f"lost the engine at {self.where}: {exc}") from None

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = None
        if response.status_code >= 400:
            if isinstance(body, dict) and "code" in body:
                raise ApiError(body["code"], body.get("message", ""), body.get("hint"), response.status_code)
            raise ApiError(
                "http_error", f"engine answered HTTP {response.status_code}", None, response.status_code
            )
        return body
