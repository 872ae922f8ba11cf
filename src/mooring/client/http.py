"""The client of a remote engine (``--server``), over TCP or TLS through httpx.

The local engine is reached by ``LocalClient`` (client/local.py), which needs no httpx: importing
httpx and building its client cost a local command over 100 ms (docs/performance.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from mooring.client.base import (
    LOCAL_CONNECT_TIMEOUT,
    LOCAL_UNREACHABLE_HINT,
    RECONNECT_WITHIN,
    REMOTE_CONNECT_TIMEOUT,
    ApiError,
    Client,
    decode_answer,
    not_answering,
    query_params,
)
from mooring.client.remote import CA_ENV, TOKEN_ENV, RemoteEngine
from mooring.errors import EngineUnreachable, MooringError


class EngineClient(Client):
    """One connection pool to one engine over httpx: a remote one over TCP (or a unix socket)."""

    def __init__(
        self,
        socket_path: Path | None = None,
        *,
        remote: RemoteEngine | None = None,
        reconnect_within: float = RECONNECT_WITHIN,
    ) -> None:
        super().__init__()
        self.remote = remote
        self.reconnect_within = reconnect_within if remote else 0.0
        # Reads have no timeout (long polls, `logs -f`); connecting has one.
        timeout = httpx.Timeout(self._connect_timeout, read=None)
        if remote is not None:
            self.where = remote.base_url
            self._http = httpx.Client(
                base_url=remote.base_url,
                transport=remote.transport(),
                headers=remote.headers(),
                timeout=timeout,
            )
        elif socket_path is not None:
            self.where = str(socket_path)
            self._http = httpx.Client(
                base_url="http://mooring",
                # verify=False: no TLS on a unix socket, and loading certifi's CA bundle for nothing
                # cost ~60 ms of every local command (docs/performance.md)
                transport=httpx.HTTPTransport(uds=str(socket_path), verify=False),
                timeout=timeout,
            )
        else:
            raise ValueError("EngineClient needs a socket path or a remote engine")

    @property
    def _connect_timeout(self) -> float:
        return REMOTE_CONNECT_TIMEOUT if self.remote else LOCAL_CONNECT_TIMEOUT

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        deadline: float | None = None
        within = self._answer_within(method, kwargs)
        kwargs.setdefault("timeout", httpx.Timeout(self._connect_timeout, read=within))
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.ReadTimeout:
                raise not_answering(self.where, method, path, within) from None
            except httpx.TransportError as exc:
                # A GET is safe to repeat: once the engine answered, a dropped connection (network
                # blip, engine restart) is retried until the deadline, so a long rollout is followed to
                # its end. A POST is not repeated: it may have been applied.
                if not (self._reached and method == "GET" and self.reconnect_within > 0):
                    raise self._unreachable(exc, method) from None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.reconnect_within
                    self._notice(
                        f"lost the engine at {self.where} ({_reason(exc)}); reconnecting "
                        f"(for up to {self.reconnect_within:.0f}s)"
                    )
                if now >= deadline:
                    raise self._unreachable(exc, method, retried=True) from None
                time.sleep(min(0.5, max(0.0, deadline - now)))
                continue
            if deadline is not None:
                self._notice(f"reconnected to the engine at {self.where}")
            self._reached = True
            return self._decode(response)

    def stream_lines(self, path: str, **params: Any) -> Iterator[str]:
        """Lines of a streaming answer (logs -f, events), until the engine closes it."""
        query = query_params(params)
        try:
            with self._http.stream("GET", path, params=query) as response:
                if response.status_code >= 400:
                    response.read()
                    self._decode(response)
                self._reached = True
                yield from response.iter_lines()
        except httpx.TransportError as exc:
            if not self._reached:
                raise self._unreachable(exc, "GET") from None
            raise EngineUnreachable(f"lost the engine at {self.where}: {_reason(exc)}") from None

    def _unreachable(self, exc: httpx.TransportError, method: str, retried: bool = False) -> MooringError:
        """Why the engine could not be reached, and what to do, for each way that happens."""
        reason = _reason(exc)
        if self.remote is None:
            return EngineUnreachable(
                f"cannot reach the mooring engine at {self.where}: {reason}",
                hint=LOCAL_UNREACHABLE_HINT,
            )
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            return EngineUnreachable(
                f"the TLS certificate of the engine at {self.where} is not trusted: {reason}",
                hint=f"set {CA_ENV} to the CA (or self-signed) certificate its --tls-cert was issued by",
            )
        if "WRONG_VERSION_NUMBER" in reason or "record layer failure" in reason:
            return EngineUnreachable(
                f"the engine at {self.where} does not speak TLS ({reason})",
                hint="use --server HOST:PORT without https://, or start it with --tls-cert/--tls-key",
            )
        if retried:
            return EngineUnreachable(
                f"lost the engine at {self.where} and could not reconnect within "
                f"{self.reconnect_within:.0f}s: {reason}",
                hint="check that `mooring serve --listen` still runs there; the release goes on without "
                "you: follow it again with `mooring status --app NAME --server ...`",
            )
        if self._reached or method != "GET":
            return EngineUnreachable(
                f"lost the connection to the engine at {self.where} during {method}: {reason}",
                hint="the request may or may not have taken effect: check with `mooring status` / `mooring ps`",
            )
        plain_to_tls = not self.remote.tls and isinstance(exc, httpx.RemoteProtocolError)
        return EngineUnreachable(
            f"cannot reach the mooring engine at {self.where}: {reason}",
            hint="if the engine serves TLS, use --server https://HOST:PORT"
            if plain_to_tls
            else "check the address (--server or MOORING_SERVER) and that `mooring serve --listen HOST:PORT` "
            "runs there and is reachable from here",
        )

    def _decode(self, response: httpx.Response) -> Any:
        if response.status_code == 401 and self.remote is not None and self.remote.token is None:
            raise ApiError(
                "unauthorized",
                f"{TOKEN_ENV} is not set: the engine at {self.where} needs a bearer token",
                f"create one on the engine's host (`mooring token create --scope write`) and export {TOKEN_ENV}",
                401,
            )
        return _decode(response)


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text.replace("[Errno 111] ", "").strip()


def _decode(response: httpx.Response) -> Any:
    return decode_answer(response.status_code, response.content)
