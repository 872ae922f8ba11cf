"""A thin synchronous client of the engine API; API errors become MooringErrors with their exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mooring.errors import EngineUnreachable, MooringError

# Exit codes by API error code, so a remote failure exits like a local one (docs/cli.md).
EXIT_CODES = {"invalid_manifest": 2, "lease_conflict": 8, "engine_unreachable": 9}


class ApiError(MooringError):
    """An error answer of the engine, carrying its stable ``code``."""

    def __init__(self, code: str, message: str, hint: str | None, status: int) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.status = status
        self.exit_code = EXIT_CODES.get(code, 1)


class EngineClient:
    """One connection pool to one engine."""

    def __init__(
        self, socket_path: Path | None = None, server: str | None = None, token: str | None = None
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if server:
            base = server if "://" in server else f"http://{server}"
            self.where = base
            self._http = httpx.Client(base_url=base, headers=headers, timeout=httpx.Timeout(30.0, read=None))
        else:
            assert socket_path is not None
            self.where = str(socket_path)
            transport = httpx.HTTPTransport(uds=str(socket_path))
            self._http = httpx.Client(
                base_url="http://mooring",
                transport=transport,
                headers=headers,
                timeout=httpx.Timeout(30.0, read=None),
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
